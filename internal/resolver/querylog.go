package resolver

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxClients bounds how many clients the query log counts; past it, the
// client heard from least recently is forgotten.
const maxClients = 10_000

// A LogEntry is one answered query.
type LogEntry struct {
	Time     time.Time
	Client   netip.Addr
	Name     string // as asked, fully qualified
	Type     string // "A", "AAAA", ...
	Result   Result
	Rcode    string // "NOERROR", "NXDOMAIN", ...
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
// client.
type queryLog struct {
	mu      sync.Mutex // guards the fields below
	ring    []LogEntry
	next    int // where the next entry goes
	full    bool
	clients map[netip.Addr]*ClientStats
}

func newQueryLog(size int) *queryLog {
	return &queryLog{ring: make([]LogEntry, max(size, 0)), clients: map[netip.Addr]*ClientStats{}}
}

func (l *queryLog) add(q *request, rcode int, d time.Duration) {
	e := LogEntry{Time: q.now, Client: q.client, Result: q.result, Rcode: dns.RcodeToString[rcode], Duration: d}
	if len(q.msg.Question) > 0 {
		e.Name = q.msg.Question[0].Name
		e.Type = dns.TypeToString[q.msg.Question[0].Qtype]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) > 0 {
		l.ring[l.next] = e
		l.next++
		if l.next == len(l.ring) {
			l.next, l.full = 0, true
		}
	}
	c := l.clients[q.client]
	if c == nil {
		if len(l.clients) >= maxClients {
			l.forgetOldest()
		}
		c = &ClientStats{Client: q.client}
		l.clients[q.client] = c
	}
	c.Queries++
	if q.result == ResultRestricted || q.result == ResultBlocked {
		c.Refused++
	}
	c.Last = q.now
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
	if !l.full {
		return slices.Clone(l.ring[:l.next])
	}
	return append(slices.Clone(l.ring[l.next:]), l.ring[:l.next]...)
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
