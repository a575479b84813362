package resolver

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const (
	// upstreamBudget bounds the time spent on all upstreams for one
	// question, so a client gets SERVFAIL, not silence, when they are dead.
	upstreamBudget = 1800 * time.Millisecond
	// upstreamTry bounds one exchange with one upstream, leaving time for
	// the next when it does not answer.
	upstreamTry = 700 * time.Millisecond
	// ednsSize is the UDP payload size the resolver offers clients and
	// upstreams (DNS Flag Day 2020).
	ednsSize = 1232
	// upstreamSockets is how many UDP sockets each upstream is asked
	// through, each from its own random port.
	upstreamSockets = 4
	// socketQueries is how many queries one upstream socket sends before
	// it is replaced by one on a new random port, so that an off-path
	// attacker cannot learn a port and then only has to guess IDs.
	socketQueries = 5000
	// tcpIdleConns is how many idle TCP connections to each upstream are
	// kept for reuse, and tcpReuse how long one may stay idle.
	tcpIdleConns = 4
	tcpReuse     = 5 * time.Second
	// upstreamAnswerSize is the largest UDP answer read from an
	// upstream: more than the ednsSize it is offered, for upstreams
	// that ignore the offer up to the common 4096.
	upstreamAnswerSize = 4096
)

var (
	errNoUpstream    = errors.New("no upstream answered")
	errTimeout       = errors.New("timed out")
	errWrongQuestion = errors.New("answer to another question")
)

// A forwarder asks the upstreams, in order starting with the last one that
// answered, and moves to the next on a timeout, a network error, SERVFAIL
// or REFUSED. Identical questions in flight are asked once.
//
// Each upstream is asked over a few long-lived UDP sockets, each bound to
// its own random port and each query with a random ID; an answer is taken
// only if its ID and question match a query in flight on that socket, so a
// forged answer must guess both port and ID, and a late or wrong one is
// dropped while the real one is still awaited. A truncated answer is asked
// again over TCP, on a connection kept open for the next.
//
// Answers are delivered to callbacks on the goroutine that read them, so a
// query waiting for an upstream costs no goroutine; that goroutine reads
// answers in batches, and the callbacks queue what they send in its
// outbox, so that a batch of answers leaves in one system call per socket.
type forwarder struct {
	upstreams []*upstream
	metrics   Metrics
	// store keeps an answer before its waiters are told, and returns its
	// cache entry, or nil if it was not kept. Nil keeps nothing. The
	// answer's wire form, as received, comes with it where there is one
	// (see cache.putWire), valid only during the call.
	store     func(k cacheKey, m *dns.Msg, wire []byte) *cacheEntry
	preferred atomic.Uint32 // index of the upstream that answered last

	mu      sync.Mutex // guards the fields below
	flights map[cacheKey]*flight
	closed  bool
}

// A flight is one question being asked upstream, with everyone waiting
// for its answer.
type flight struct {
	k      cacheKey
	start  time.Time
	tries  int      // queries sent so far
	failed []bool   // by upstream: answered SERVFAIL or REFUSED
	last   *dns.Msg // the last SERVFAIL or REFUSED answer
	errs   []error

	waiters []answerFunc // guarded by forwarder.mu

	// Room for failed and waiters in the flight's own allocation, for
	// the usual few upstreams and one waiter.
	failedRoom [4]bool
	waiterRoom [1]answerFunc
}

// An answerFunc takes the answer to a question asked upstream, and the
// cache entry it was kept as, or nil; or, with neither, the error. What it
// sends it may queue in o, the outbox of the goroutine calling it, which
// may be nil.
type answerFunc func(m *dns.Msg, e *cacheEntry, err error, o *outbox)

func newForwarder(upstreams []netip.AddrPort, metrics Metrics) *forwarder {
	f := &forwarder{metrics: metrics, flights: map[cacheKey]*flight{}}
	for _, a := range upstreams {
		f.upstreams = append(f.upstreams, &upstream{addr: a, metrics: metrics})
	}
	return f
}

// resolve asks the upstreams the question k and calls done with the first
// usable answer, without OPT record, or an error. done is called once,
// within upstreamBudget and a little, on some goroutine of the forwarder's,
// or on the caller's, with o, if the answer is known at once; the answer
// is shared with every other caller and must not be changed. The query to
// the upstream is queued in o (nil sends it at once).
func (f *forwarder) resolve(k cacheKey, o *outbox, done answerFunc) {
	if len(f.upstreams) == 0 {
		done(nil, nil, errNoUpstream, o)
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		done(nil, nil, fmt.Errorf("%w: resolver closed", errNoUpstream), o)
		return
	}
	if fl, ok := f.flights[k]; ok {
		fl.waiters = append(fl.waiters, done)
		f.mu.Unlock()
		return
	}
	fl := &flight{k: k, start: time.Now()}
	fl.waiterRoom[0] = done
	fl.waiters = fl.waiterRoom[:1:1]
	f.flights[k] = fl
	f.mu.Unlock()
	f.next(fl, o)
}

// exchange is resolve for a caller that waits. A caller whose ctx ends
// stops waiting; the question is still asked for the others.
func (f *forwarder) exchange(ctx context.Context, k cacheKey) (*dns.Msg, error) {
	type result struct {
		m   *dns.Msg
		err error
	}
	ch := make(chan result, 1)
	f.resolve(k, nil, func(m *dns.Msg, _ *cacheEntry, err error, _ *outbox) { ch <- result{m, err} })
	select {
	case r := <-ch:
		return r.m, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// next asks the next upstream, or ends the flight when none is left.
// Upstreams are asked in turn, each at most twice (a query or its answer
// may be lost), skipping those that answered SERVFAIL or REFUSED, until
// upstreamBudget is spent. The query is queued in o.
func (f *forwarder) next(fl *flight, o *outbox) {
	if fl.failed == nil {
		if len(f.upstreams) <= len(fl.failedRoom) {
			fl.failed = fl.failedRoom[:len(f.upstreams)]
		} else {
			fl.failed = make([]bool, len(f.upstreams))
		}
	}
	now := time.Now() // one reading for the budget, the deadline and the latency
	left := upstreamBudget - now.Sub(fl.start)
	n := -1
	for fl.tries < 2*len(f.upstreams) && n < 0 {
		if i := (int(f.preferred.Load()) + fl.tries) % len(f.upstreams); !fl.failed[i] {
			n = i
		} else {
			fl.tries++
		}
	}
	if n < 0 || left <= 0 {
		if fl.last != nil {
			f.land(fl, fl.last, nil, nil, o)
			return
		}
		if len(fl.errs) == 0 {
			fl.errs = append(fl.errs, errTimeout)
		}
		f.land(fl, nil, nil, fmt.Errorf("%w: %w", errNoUpstream, errors.Join(fl.errs...)), o)
		return
	}
	fl.tries++
	up := f.upstreams[n]
	up.ask(fl.k, now.Add(min(upstreamTry, left)), o, func(m *dns.Msg, wire []byte, err error, o *outbox) {
		f.metrics.Upstream(up.addr, time.Since(now), err)
		switch {
		case err != nil:
			fl.errs = append(fl.errs, fmt.Errorf("asking %s: %w", up.addr, err))
		case m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused:
			fl.last, fl.failed[n] = m, true
			fl.errs = append(fl.errs, fmt.Errorf("asking %s: %s", up.addr, dns.RcodeToString[m.Rcode]))
		default:
			f.preferred.Store(uint32(n))
			f.land(fl, m, wire, nil, o)
			return
		}
		f.next(fl, o)
	})
}

// land ends fl with its answer, m and its wire form if known, or err, and
// tells everyone waiting, who may queue what they send in o.
func (f *forwarder) land(fl *flight, m *dns.Msg, wire []byte, err error, o *outbox) {
	var e *cacheEntry
	if m != nil {
		stripOPT(m)
		if f.store != nil {
			e = f.store(fl.k, m, wire)
		}
	}
	f.mu.Lock()
	delete(f.flights, fl.k)
	waiters := fl.waiters
	fl.waiters = nil
	f.mu.Unlock()
	for _, w := range waiters {
		w(m, e, err, o)
	}
}

// close closes the upstream sockets; questions in flight fail.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	for _, u := range f.upstreams {
		u.close()
	}
}

func stripOPT(m *dns.Msg) {
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
}

// An upstream is one upstream resolver and the sockets curfew asks it on.
type upstream struct {
	addr    netip.AddrPort
	metrics Metrics
	next    atomic.Uint32 // round robin over socks

	mu     sync.Mutex // guards the fields below
	socks  [upstreamSockets]*upSocket
	idle   []*idleConn // TCP connections for reuse, the newest last
	closed bool
}

type idleConn struct {
	c     *dns.Conn
	since time.Time
}

// An upstreamFunc takes an upstream's answer, with its wire form as
// received, whose question is the one asked but for the case of its
// letters, valid only until it returns; or the error.
type upstreamFunc func(m *dns.Msg, wire []byte, err error, o *outbox)

// ask sends the question k, queued in o, and calls done once with the
// answer, over TCP if the UDP one was truncated, or with an error at
// deadline.
func (u *upstream) ask(k cacheKey, deadline time.Time, o *outbox, done upstreamFunc) {
	query, qlen, err := packQuery(k)
	if err != nil {
		done(nil, nil, err, o)
		return
	}
	s, err := u.socket()
	if err != nil {
		done(nil, nil, err, o)
		return
	}
	s.send(query, qlen, deadline, o, func(m *dns.Msg, wire []byte, err error, o *outbox) {
		if err != nil || !m.Truncated {
			done(m, wire, err, o)
			return
		}
		// Rare enough to be worth no more than a goroutine. The query is
		// copied: the UDP send may not have returned yet.
		query := append([]byte(nil), query...)
		go func() {
			m, wire, err := u.exchangeTCP(query, qlen, deadline)
			done(m, wire, err, nil)
		}()
	})
}

// socket returns a socket to send on, replacing one that has sent its
// share of queries.
func (u *upstream) socket() (*upSocket, error) {
	i := int(u.next.Add(1)) % upstreamSockets
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, errors.New("closed")
	}
	s := u.socks[i]
	if s != nil && s.sent.Load() < socketQueries {
		return s, nil
	}
	if s != nil {
		s.retire()
	}
	s, err := openSocket(u.addr)
	if err != nil {
		return nil, err
	}
	u.socks[i] = s
	return s, nil
}

func (u *upstream) close() {
	u.mu.Lock()
	u.closed = true
	socks, idle := u.socks, u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, s := range socks {
		if s != nil {
			s.close()
		}
	}
	for _, c := range idle {
		_ = c.c.Close()
	}
}

// exchangeTCP asks query over TCP, on an idle connection if there is one
// and it still works, else on a new one, and keeps the connection for the
// next query.
func (u *upstream) exchangeTCP(query []byte, qlen int, deadline time.Time) (*dns.Msg, []byte, error) {
	for {
		c, reused := u.takeIdle()
		if c == nil {
			d := net.Dialer{Deadline: deadline}
			nc, err := d.Dial("tcp", u.addr.String())
			if err != nil {
				return nil, nil, err
			}
			c = &dns.Conn{Conn: nc, UDPSize: ednsSize}
		}
		m, wire, err := tcpRoundTrip(c, query, qlen, deadline)
		if err != nil {
			_ = c.Close()
			if reused && time.Now().Before(deadline) {
				continue // the upstream closed it while idle: dial anew
			}
			return nil, nil, err
		}
		u.putIdle(c)
		return m, wire, nil
	}
}

// tcpRoundTrip asks query on c and returns the answer and its wire form.
func tcpRoundTrip(c *dns.Conn, query []byte, qlen int, deadline time.Time) (*dns.Msg, []byte, error) {
	binary.BigEndian.PutUint16(query, uint16(rand.Uint32()))
	if err := c.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	if _, err := c.Write(query); err != nil {
		return nil, nil, err
	}
	// The answer's length first, so that the buffer is only as large as
	// the answer rather than dns.MaxMsgSize, 64 KiB, for every answer.
	var length [2]byte
	if _, err := io.ReadFull(c.Conn, length[:]); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(length[:]))
	if _, err := io.ReadFull(c.Conn, buf); err != nil {
		return nil, nil, err
	}
	if !answers(buf, query, qlen) {
		return nil, nil, errWrongQuestion
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf); err != nil {
		return nil, nil, fmt.Errorf("unpacking answer: %w", err)
	}
	return m, buf, nil
}

func (u *upstream) takeIdle() (*dns.Conn, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.idle) > 0 {
		ic := u.idle[len(u.idle)-1]
		u.idle = u.idle[:len(u.idle)-1]
		if time.Since(ic.since) < tcpReuse {
			return ic.c, true
		}
		_ = ic.c.Close()
	}
	return nil, false
}

func (u *upstream) putIdle(c *dns.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || len(u.idle) >= tcpIdleConns {
		_ = c.Close()
		return
	}
	u.idle = append(u.idle, &idleConn{c: c, since: time.Now()})
}

// An upSocket is one UDP socket connected to an upstream, with the
// queries in flight on it.
//
// Its queries time out by one timer, armed for the soonest deadline among
// them, rather than by a timer each: under load, arming and stopping a
// runtime timer per query cost more than keeping the queries in a heap.
type upSocket struct {
	conn *net.UDPConn
	sent atomic.Int64

	mu      sync.Mutex // guards the fields below
	pending map[uint16]*pendingQuery
	soonest deadlineHeap // the pending queries, soonest deadline first
	timer   *time.Timer  // fires at, or after, soonest[0].deadline; calls expire
	armed   time.Time    // when timer fires; zero if stopped or fired
	retired bool         // no new queries: closed once none is pending
	closed  bool
}

type pendingQuery struct {
	query    []byte // as sent: ID, question
	qlen     int    // length of the question section
	done     upstreamFunc
	id       uint16
	deadline time.Time
	index    int // in upSocket.soonest
}

// A deadlineHeap orders pending queries by deadline (container/heap).
type deadlineHeap []*pendingQuery

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deadlineHeap) Push(x any) {
	p := x.(*pendingQuery)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

func openSocket(up netip.AddrPort) (*upSocket, error) {
	// Port 0: the kernel picks a random free port for each socket.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(up))
	if err != nil {
		return nil, err
	}
	s := &upSocket{conn: c, pending: map[uint16]*pendingQuery{}}
	s.timer = time.AfterFunc(time.Hour, s.expire)
	s.timer.Stop()
	go s.read() // returns when s is closed
	return s, nil
}

// send sends query with a random ID unused on s, queued in o, and calls
// done once with the answer, or with errTimeout at deadline.
func (s *upSocket) send(query []byte, qlen int, deadline time.Time, o *outbox, done upstreamFunc) {
	p := &pendingQuery{query: query, qlen: qlen, done: done, deadline: deadline}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		done(nil, nil, errors.New("socket closed"), o)
		return
	}
	var id uint16
	for {
		id = uint16(rand.Uint32())
		if _, taken := s.pending[id]; !taken {
			break
		}
	}
	binary.BigEndian.PutUint16(query, id)
	p.id = id
	s.pending[id] = p
	heap.Push(&s.soonest, p)
	if s.armed.IsZero() || deadline.Before(s.armed) {
		s.arm(deadline)
	}
	s.mu.Unlock()
	s.sent.Add(1)
	o.send(datagram{conn: s.conn, pkt: query, up: s, id: id, p: p})
}

// take removes the query p of id from those pending, and reports whether
// it was still there: whoever takes it calls its done.
func (s *upSocket) take(id uint16, p *pendingQuery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[id] != p {
		return false
	}
	delete(s.pending, id)
	heap.Remove(&s.soonest, p.index)
	// The timer stays armed: when it fires, expire arms it for the
	// next deadline. Stopping it at every answer would cost more.
	if s.retired && len(s.pending) == 0 {
		s.closeLocked()
	}
	return true
}

// arm makes the timer fire at t. Called with s.mu held.
func (s *upSocket) arm(t time.Time) {
	s.armed = t
	s.timer.Reset(time.Until(t))
}

// expire, called by the timer, fails the queries whose deadline has
// passed with errTimeout and arms the timer for the next deadline.
func (s *upSocket) expire() {
	now := time.Now()
	var late []*pendingQuery
	s.mu.Lock()
	s.armed = time.Time{}
	for len(s.soonest) > 0 && !now.Before(s.soonest[0].deadline) {
		p := heap.Pop(&s.soonest).(*pendingQuery)
		delete(s.pending, p.id)
		late = append(late, p)
	}
	if len(s.soonest) > 0 && !s.closed {
		s.arm(s.soonest[0].deadline)
	}
	if s.retired && len(s.pending) == 0 {
		s.closeLocked()
	}
	s.mu.Unlock()
	for _, p := range late {
		p.done(nil, nil, errTimeout, nil)
	}
}

// read takes answers until the socket is closed, in batches, and sends
// what their callbacks queue after each batch. An answer whose ID is not
// pending, or whose question is not the one asked with that ID, is
// dropped: it is late, or forged, and the right one may still come. One
// longer than upstreamAnswerSize, which is more than the upstream was
// offered, is asked again over TCP.
func (s *upSocket) read() {
	o := new(outbox)
	_ = readBatches(s.conn, upstreamAnswerSize, func(pkt []byte, _ netip.AddrPort, cut bool) {
		if len(pkt) < 12 {
			return
		}
		id := binary.BigEndian.Uint16(pkt)
		s.mu.Lock()
		p := s.pending[id]
		s.mu.Unlock()
		if p == nil || !answers(pkt, p.query, p.qlen) {
			return
		}
		var m *dns.Msg
		var err error
		if cut {
			m = &dns.Msg{MsgHdr: dns.MsgHdr{Truncated: true}}
		} else {
			m = new(dns.Msg)
			err = m.Unpack(pkt)
		}
		if !s.take(id, p) {
			return
		}
		if err != nil {
			p.done(nil, nil, fmt.Errorf("unpacking answer: %w", err), o)
			return
		}
		if cut {
			pkt = nil // not the whole answer
		}
		p.done(m, pkt, nil, o)
	}, o.flush, func(error) bool {
		return false // such as ECONNREFUSED from an ICMP error: the timeout handles it
	})
}

// retire stops new queries on s; it closes once the pending ones are done.
func (s *upSocket) retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = true
	if len(s.pending) == 0 {
		s.closeLocked()
	}
}

func (s *upSocket) close() {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[uint16]*pendingQuery{}
	s.soonest = nil
	s.closeLocked()
	s.mu.Unlock()
	for _, p := range pending {
		p.done(nil, nil, errors.New("resolver closed"), nil)
	}
}

func (s *upSocket) closeLocked() {
	if !s.closed {
		s.closed = true
		s.timer.Stop()
		s.armed = time.Time{}
		_ = s.conn.Close()
	}
}

// packQuery returns the query for k in wire form, ID zero, with an OPT
// record offering ednsSize, and the length of its question section.
func packQuery(k cacheKey) ([]byte, int, error) {
	// A name in wire form is at most two bytes longer than in
	// presentation form (one for a fully qualified one); escapes only
	// shorten it.
	buf := make([]byte, 12+len(k.name)+2+4+11)
	flags := uint16(0x0100) // RD
	if k.cd {
		flags |= 0x0010
	}
	binary.BigEndian.PutUint16(buf[2:], flags)
	binary.BigEndian.PutUint16(buf[4:], 1)  // QDCOUNT
	binary.BigEndian.PutUint16(buf[10:], 1) // ARCOUNT: the OPT record
	off, err := dns.PackDomainName(k.name, buf, 12, nil, false)
	if err != nil {
		return nil, 0, fmt.Errorf("packing question %q: %w", k.name, err)
	}
	binary.BigEndian.PutUint16(buf[off:], k.qtype)
	binary.BigEndian.PutUint16(buf[off+2:], k.qclass)
	off += 4
	qlen := off - 12
	var do byte
	if k.do {
		do = 0x80
	}
	off += copy(buf[off:], []byte{0, 0, byte(dns.TypeOPT), ednsSize >> 8, ednsSize & 0xff, 0, 0, do, 0, 0, 0})
	return buf[:off], qlen, nil
}

// answers reports whether pkt is an answer to query: the same ID, one
// question, and the same question, but for the case of its name's letters.
func answers(pkt, query []byte, qlen int) bool {
	if len(pkt) < 12+qlen || pkt[0] != query[0] || pkt[1] != query[1] || pkt[2]&0x80 == 0 ||
		binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return false
	}
	a, q := pkt[12:12+qlen], query[12:12+qlen]
	i := 0
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if a[i] != q[i] || i+1+l > len(q) {
			return false
		}
		for j := i + 1; j <= i+l; j++ {
			if lower(a[j]) != lower(q[j]) {
				return false
			}
		}
		i += 1 + l
	}
	return string(a[i:]) == string(q[i:]) // the root label, type and class
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
