package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
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
)

var errNoUpstream = errors.New("no upstream answered")

// A forwarder asks the upstreams, in order starting with the last one that
// answered, and moves to the next on a timeout, a network error, SERVFAIL
// or REFUSED.
type forwarder struct {
	upstreams []netip.AddrPort
	metrics   Metrics
	udp, tcp  *dns.Client
	preferred atomic.Uint32 // index of the upstream that answered last
}

func newForwarder(upstreams []netip.AddrPort, metrics Metrics) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		metrics:   metrics,
		udp:       &dns.Client{Net: "udp", UDPSize: ednsSize, Timeout: upstreamTry},
		tcp:       &dns.Client{Net: "tcp", Timeout: upstreamTry},
	}
}

// exchange asks the upstreams the question k and returns the first usable
// answer, without OPT record. It returns within upstreamBudget.
func (f *forwarder) exchange(ctx context.Context, k cacheKey) (*dns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errNoUpstream
	}
	ctx, cancel := context.WithTimeout(ctx, upstreamBudget)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(k.name, k.qtype)
	q.Question[0].Qclass = k.qclass
	q.CheckingDisabled = k.cd
	q.SetEdns0(ednsSize, k.do)

	var last *dns.Msg
	var errs []error
	start := int(f.preferred.Load())
	for i := range f.upstreams {
		if ctx.Err() != nil {
			break
		}
		n := (start + i) % len(f.upstreams)
		up := f.upstreams[n]
		m, err := f.try(ctx, q, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("asking %s: %w", up, err))
			continue
		}
		if m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused {
			last = m
			errs = append(errs, fmt.Errorf("asking %s: %s", up, dns.RcodeToString[m.Rcode]))
			continue
		}
		f.preferred.Store(uint32(n))
		stripOPT(m)
		return m, nil
	}
	if last != nil {
		stripOPT(last)
		return last, nil
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %w", errNoUpstream, errors.Join(errs...))
}

// try asks one upstream over UDP, and again over TCP if the answer was
// truncated.
func (f *forwarder) try(ctx context.Context, q *dns.Msg, up netip.AddrPort) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamTry)
	defer cancel()
	q.Id = dns.Id()
	start := time.Now()
	m, _, err := f.udp.ExchangeContext(ctx, q, up.String())
	if err == nil && m.Truncated {
		q.Id = dns.Id()
		m, _, err = f.tcp.ExchangeContext(ctx, q, up.String())
	}
	if err == nil && !sameQuestion(q, m) {
		err = errors.New("answer to another question")
	}
	if f.metrics != nil {
		f.metrics.Upstream(up, time.Since(start), err)
	}
	return m, err
}

func sameQuestion(q, m *dns.Msg) bool {
	return len(m.Question) == 1 && m.Question[0].Qtype == q.Question[0].Qtype &&
		m.Question[0].Qclass == q.Question[0].Qclass && strings.EqualFold(m.Question[0].Name, q.Question[0].Name)
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

// A group coalesces identical questions: while one is being asked upstream,
// the others wait for its answer.
type group struct {
	mu      sync.Mutex // guards flights
	flights map[cacheKey]*flight
}

type flight struct {
	done chan struct{}
	msg  *dns.Msg // read-only once done is closed
	err  error
}

// do calls fn for k unless a call for k is already running, and returns
// that call's answer. The answer is shared by every caller: it must be
// copied before being changed. A waiter whose ctx ends stops waiting; the
// call itself carries on for the others.
func (g *group) do(ctx context.Context, k cacheKey, fn func() (*dns.Msg, error)) (*dns.Msg, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = map[cacheKey]*flight{}
	}
	if f, ok := g.flights[k]; ok {
		g.mu.Unlock()
		select {
		case <-f.done:
			return f.msg, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	g.flights[k] = f
	g.mu.Unlock()

	f.msg, f.err = fn()
	g.mu.Lock()
	delete(g.flights, k)
	g.mu.Unlock()
	close(f.done)
	return f.msg, f.err
}
