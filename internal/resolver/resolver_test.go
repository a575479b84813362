package resolver_test

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func TestForward(t *testing.T) {
	up := newUpstream(t)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}})

	m := ask(t, addr, "www.example.org", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || !m.RecursionAvailable {
		t.Fatalf("answer = %v, want NOERROR with RA", m)
	}
	if diff := cmp.Diff([]string{"192.0.2.1"}, addrs(m)); diff != "" {
		t.Errorf("A www.example.org (-want +got):\n%s", diff)
	}
	m = ask(t, addr, "WWW.Example.ORG", dns.TypeAAAA)
	if diff := cmp.Diff([]string{"2001:db8::1"}, addrs(m)); diff != "" {
		t.Errorf("AAAA (-want +got):\n%s", diff)
	}
	if got := m.Question[0].Name; got != "WWW.Example.ORG." {
		t.Errorf("question name = %q, want the client's spelling", got)
	}
	if got := up.asked("www.example.org."); got != 2 {
		t.Errorf("upstream asked %d times, want 2 (A and AAAA)", got)
	}
}

func TestCacheHonoursTTL(t *testing.T) {
	up := newUpstream(t)
	clk := newClock(t0)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}, Now: clk.now})

	if got := ttl(ask(t, addr, "cached.example", dns.TypeA)); got != upstreamTTL {
		t.Errorf("first TTL = %d, want %d", got, upstreamTTL)
	}
	clk.advance(100 * time.Second)
	if got := ttl(ask(t, addr, "cached.example", dns.TypeA)); got != upstreamTTL-100 {
		t.Errorf("TTL after 100 s = %d, want %d", got, upstreamTTL-100)
	}
	if got := up.asked("cached.example."); got != 1 {
		t.Errorf("upstream asked %d times within the TTL, want 1", got)
	}
	clk.advance(upstreamTTL * time.Second)
	if got := ttl(ask(t, addr, "cached.example", dns.TypeA)); got != upstreamTTL {
		t.Errorf("TTL after expiry = %d, want a fresh %d", got, upstreamTTL)
	}
	if got := up.asked("cached.example."); got != 2 {
		t.Errorf("upstream asked %d times after expiry, want 2", got)
	}
}

func TestNegativeCaching(t *testing.T) {
	up := newUpstream(t)
	clk := newClock(t0)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}, Now: clk.now})

	for range 2 {
		if m := ask(t, addr, "nx.example", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
			t.Fatalf("answer = %v, want NXDOMAIN with SOA", m)
		}
	}
	if got := up.asked("nx.example."); got != 1 {
		t.Errorf("upstream asked %d times, want 1: NXDOMAIN is cached", got)
	}
	// The SOA's MINIMUM (30 s) is below its TTL (60 s) and wins (RFC 2308).
	clk.advance(31 * time.Second)
	ask(t, addr, "nx.example", dns.TypeA)
	if got := up.asked("nx.example."); got != 2 {
		t.Errorf("upstream asked %d times after the SOA minimum, want 2", got)
	}
}

func TestFailover(t *testing.T) {
	t.Run("silent upstream", func(t *testing.T) {
		up := newUpstream(t)
		_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{deadUpstream(t), up.addr}})
		begin := time.Now()
		if m := ask(t, addr, "a.example", dns.TypeA); len(m.Answer) != 1 {
			t.Fatalf("answer = %v, want the second upstream's", m)
		}
		if d := time.Since(begin); d > 1500*time.Millisecond {
			t.Errorf("failover took %s", d)
		}
		// The upstream that answered is now asked first.
		begin = time.Now()
		ask(t, addr, "b.example", dns.TypeA)
		if d := time.Since(begin); d > 300*time.Millisecond {
			t.Errorf("second query took %s: the dead upstream was asked again first", d)
		}
	})
	t.Run("servfail upstream", func(t *testing.T) {
		bad, good := newUpstream(t), newUpstream(t)
		bad.set(dns.RcodeServerFailure, nil)
		_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{bad.addr, good.addr}})
		if m := ask(t, addr, "a.example", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("answer = %v, want the second upstream's", m)
		}
		if bad.queries.Load() != 1 || good.queries.Load() != 1 {
			t.Errorf("asked bad %d, good %d times; want 1, 1", bad.queries.Load(), good.queries.Load())
		}
	})
}

func TestDeadUpstreamsServfailInBoundedTime(t *testing.T) {
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{deadUpstream(t), deadUpstream(t)}})
	begin := time.Now()
	m := ask(t, addr, "a.example", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
	if d := time.Since(begin); d > 2500*time.Millisecond {
		t.Errorf("SERVFAIL took %s, want about 2 s at most", d)
	}
}

func TestCoalescesIdenticalQueries(t *testing.T) {
	up := newUpstream(t)
	hold := make(chan struct{})
	up.set(0, hold)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}})

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if m, err := exchange(t.Context(), addr, "same.example", dns.TypeA); err != nil || len(m.Answer) != 1 {
				t.Errorf("answer = %v, %v", m, err)
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let all ten arrive
	close(hold)
	wg.Wait()
	if got := up.asked("same.example."); got != 1 {
		t.Errorf("upstream asked %d times for 10 identical queries, want 1", got)
	}
}

func TestTCPAndTruncation(t *testing.T) {
	up := newUpstream(t)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}})

	tests := []struct {
		name     string
		opts     []qopt
		wantTC   bool
		wantSize int // the most the answer may take on the wire
	}{
		{"tcp gets everything", []qopt{overTCP}, false, dns.MaxMsgSize},
		{"udp without edns", nil, true, dns.MinMsgSize},
		{"udp with edns 1232", []qopt{edns(1232)}, true, 1232},
		{"udp with edns 4096 is capped", []qopt{edns(4096)}, true, 1232},
		{"udp with edns 100 counts as 512", []qopt{edns(100)}, true, dns.MinMsgSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ask(t, addr, "big.example", dns.TypeA, tt.opts...)
			if m.Truncated != tt.wantTC {
				t.Errorf("TC = %v, want %v", m.Truncated, tt.wantTC)
			}
			if !tt.wantTC && len(m.Answer) != 100 {
				t.Errorf("%d records, want all 100", len(m.Answer))
			}
			m.Compress = true
			if n := m.Len(); n > tt.wantSize {
				t.Errorf("answer is %d bytes, more than %d", n, tt.wantSize)
			}
		})
	}
}

func TestMalformedAndUnsupportedQueries(t *testing.T) {
	r, _ := start(t, resolver.Config{})
	client := netip.MustParseAddr("127.0.0.1")

	if out := r.Handle([]byte{1, 2, 3}, client, false); out != nil {
		t.Errorf("Handle(3 bytes) = %x, want no answer", out)
	}
	garbage := []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff}
	m := new(dns.Msg)
	if err := m.Unpack(r.Handle(garbage, client, false)); err != nil || m.Id != 0xabcd || m.Rcode != dns.RcodeFormatError {
		t.Errorf("Handle(garbage) = %v, %v; want FORMERR with the query's ID", m, err)
	}

	notify := new(dns.Msg)
	notify.SetNotify("example.")
	pkt, _ := notify.Pack()
	if err := m.Unpack(r.Handle(pkt, client, false)); err != nil || m.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY answered %v, %v; want NOTIMP", m, err)
	}
}

func TestServesStaleWhenUpstreamsFail(t *testing.T) {
	up := newUpstream(t)
	clk := newClock(t0)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}, Now: clk.now})

	ask(t, addr, "stale.example", dns.TypeA, edns(1232))
	clk.advance((upstreamTTL + 60) * time.Second)
	up.set(dns.RcodeServerFailure, nil)
	m := ask(t, addr, "stale.example", dns.TypeA, edns(1232))
	if m.Rcode != dns.RcodeSuccess || ttl(m) != 30 {
		t.Fatalf("answer with the upstream failing = %v, want the expired answer with TTL 30", m)
	}
	if diff := cmp.Diff([]string{"192.0.2.1"}, addrs(m)); diff != "" {
		t.Errorf("stale answer (-want +got):\n%s", diff)
	}
	if e := ede(m); e == nil || e.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
		t.Errorf("Extended DNS Error = %v, want Stale Answer (3)", e)
	}
	if m := ask(t, addr, "never-seen.example", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("answer for a name never cached = %v, want SERVFAIL", m)
	}
	up.set(0, nil)
	if m := ask(t, addr, "stale.example", dns.TypeA); ttl(m) != upstreamTTL {
		t.Errorf("TTL once the upstream is back = %d, want a fresh %d", ttl(m), upstreamTTL)
	}
}

// TestSeenIsRateLimited: a device that asks many times in a row is told
// of to Config.Seen once a second and UDP socket at most, not once a
// query, so a flood of queries costs the identify table nothing.
func TestSeenIsRateLimited(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 7}
	var mu sync.Mutex
	var calls []identify.Client
	began := time.Now()
	_, addr := start(t, resolver.Config{
		Identify: identify.Func(func(netip.Addr) (net.HardwareAddr, bool) { return mac, true }),
		Seen: func(c identify.Client) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, c)
		},
	})
	const queries = 300
	for range queries {
		ask(t, addr, "www.example.org", dns.TypeA)
	}
	elapsed := time.Since(began)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) == 0 {
		t.Fatalf("Seen was not called for %d queries", queries)
	}
	if c := calls[0]; c.MAC.String() != mac.String() || c.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Seen(%v), want the client's MAC %s and address 127.0.0.1", c, mac)
	}
	sockets := max(1, runtime.GOMAXPROCS(0)/2) // as the resolver opens them
	if most := sockets * (int(elapsed/time.Second) + 1); len(calls) > most {
		t.Errorf("Seen was called %d times for %d queries in %s, want at most %d (once a second and socket)", len(calls), queries, elapsed, most)
	}
}
