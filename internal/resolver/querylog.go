package resolver

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxClients bounds how many clients the query log counts; past it, the
// client heard from least recently is forgotten.
const maxClients = 10_000

// A LogEntry is one answered query.
type LogEntry struct {
	Time   time.Time
	Client netip.Addr
	Name   string // lower case, fully qualified
	Type   string // "A", "AAAA", ...
	Result Result
	Rcode  string // "NOERROR", "NXDOMAIN", ...
	// Duration is the time the handler chain took; 0 for answers from
	// the fast path (blocklisted and cached names), which is not timed.
	Duration time.Duration
}

// ClientStats counts one client's queries since the resolver started.
type ClientStats struct {
	Client  netip.Addr
	Queries uint64
	Refused uint64 // ResultRestricted and ResultBlocked
	Last    time.Time
}

// A queryLog keeps the last queries in a ring and counts queries per
// client. Its records hold the name in place, so logging a query does not
// allocate.
type queryLog struct {
	mu      sync.Mutex // guards the fields below
	ring    []logRecord
	next    int // where the next record goes
	full    bool
	clients map[netip.Addr]*ClientStats
}

type logRecord struct {
	time    time.Time
	client  netip.Addr
	dur     time.Duration
	qtype   uint16
	rcode   uint16
	result  Result
	nameLen uint8
	name    [maxNameLen]byte
}

func newQueryLog(size int) *queryLog {
	return &queryLog{ring: make([]logRecord, max(size, 0)), clients: map[netip.Addr]*ClientStats{}}
}

// add logs a query answered by the chain.
func (l *queryLog) add(q *request, rcode int, d time.Duration) {
	var qtype uint16
	var name string
	if len(q.msg.Question) > 0 {
		name, qtype = q.name, q.msg.Question[0].Qtype
		if name == "" {
			name = strings.ToLower(q.msg.Question[0].Name)
		}
	}
	logQuery(l, q.now, q.client, name, qtype, q.result, rcode, d)
}

// addWire logs a query answered by the fast path.
func (l *queryLog) addWire(now time.Time, client netip.Addr, name []byte, qtype uint16, result Result, rcode int, d time.Duration) {
	logQuery(l, now, client, name, qtype, result, rcode, d)
}

func logQuery[S string | []byte](l *queryLog, now time.Time, client netip.Addr, name S, qtype uint16, result Result, rcode int, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) > 0 {
		rec := &l.ring[l.next]
		rec.time, rec.client, rec.dur, rec.qtype, rec.rcode, rec.result = now, client, d, qtype, uint16(rcode), result
		rec.nameLen = uint8(copy(rec.name[:], name))
		l.next++
		if l.next == len(l.ring) {
			l.next, l.full = 0, true
		}
	}
	c := l.clients[client]
	if c == nil {
		if len(l.clients) >= maxClients {
			l.forgetOldest()
		}
		c = &ClientStats{Client: client}
		l.clients[client] = c
	}
	c.Queries++
	if result == ResultRestricted || result == ResultBlocked {
		c.Refused++
	}
	c.Last = now
}

func (l *queryLog) forgetOldest() {
	var oldest *ClientStats
	for _, c := range l.clients {
		if oldest == nil || c.Last.Before(oldest.Last) {
			oldest = c
		}
	}
	delete(l.clients, oldest.Client)
}

// QueryLog returns the most recent queries, oldest first, at most
// Config.QueryLogSize of them.
func (r *Resolver) QueryLog() []LogEntry {
	l := r.qlog
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := l.ring[:l.next]
	if l.full {
		recs = append(slices.Clone(l.ring[l.next:]), l.ring[:l.next]...)
	}
	out := make([]LogEntry, len(recs))
	for i, rec := range recs {
		out[i] = LogEntry{
			Time: rec.time, Client: rec.client, Name: string(rec.name[:rec.nameLen]),
			Type: dns.TypeToString[rec.qtype], Result: rec.result, Rcode: dns.RcodeToString[int(rec.rcode)], Duration: rec.dur,
		}
		if out[i].Type == "" {
			out[i].Type = fmt.Sprintf("TYPE%d", rec.qtype)
		}
	}
	return out
}

// Clients returns the per-client query counts, sorted by address.
func (r *Resolver) Clients() []ClientStats {
	l := r.qlog
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ClientStats, 0, len(l.clients))
	for _, c := range l.clients {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b ClientStats) int { return a.Client.Compare(b.Client) })
	return out
}
