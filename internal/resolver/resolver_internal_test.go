package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

var t0 = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)

// An allowedLog records OnAllowed calls.
type allowedLog struct {
	mu    sync.Mutex // guards calls
	calls []string
}

func (l *allowedLog) onAllowed(mac net.HardwareAddr, a netip.Addr, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf("%s %s %s", mac, a, ttl))
}

// take returns the calls recorded since the last take.
func (l *allowedLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// fastPathResolver returns a resolver with no upstream, a network-wide
// blocklist, restricted clients (127.0.0.7 in blocklist mode, 127.0.0.8
// in allowlist mode, 127.0.0.9 cut off) and a cache holding a few answers
// stored 100 s before the clock. OnAllowed calls go to allowed.
func fastPathResolver(t testing.TB) *Resolver {
	r, _ := fastPathResolverLog(t)
	return r
}

func fastPathResolverLog(t testing.TB) (*Resolver, *allowedLog) {
	now := t0
	allowed := &allowedLog{}
	r, err := New(&Config{
		NoticeAddr4: netip.MustParseAddr("192.168.50.1"),
		NoticeAddr6: netip.MustParseAddr("fd00:50::1"),
		Now:         func() time.Time { return now },
		OnAllowed:   allowed.onAllowed,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := newDomainSetBuilder()
	for _, d := range []string{"ads.example", "tracker.example.net"} {
		b.add(d)
	}
	r.blocklist.Store(b.build())
	err = r.Apply(t.Context(), &curfew.Snapshot{Prefixes: []curfew.PrefixRule{{
		Prefix:      netip.MustParsePrefix("127.0.0.9/32"),
		Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: t0.Add(time.Hour)},
	}, {
		Prefix: netip.MustParsePrefix("127.0.0.8/32"),
		Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: t0.Add(time.Hour),
			AllowNames: []string{"cached.example", "big.example", "glue.example", "ads.example"}},
	}, {
		Prefix: netip.MustParsePrefix("127.0.0.7/32"),
		Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: t0.Add(2 * time.Hour),
			BlockNames: []string{"nx.example", "big.example"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}

	stored := t0.Add(-100 * time.Second)
	put := func(name string, qtype uint16, do bool, m *dns.Msg) {
		m.Response, m.RecursionAvailable = true, true
		r.cache.put(cacheKey{name: name, qtype: qtype, qclass: dns.ClassINET, do: do}, m, stored)
	}
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	a := new(dns.Msg)
	a.Answer = []dns.RR{
		&dns.CNAME{Hdr: hdr("cached.example.", dns.TypeCNAME, 600), Target: "edge.cdn.example."},
		&dns.A{Hdr: hdr("edge.cdn.example.", dns.TypeA, 300), A: net.IPv4(192, 0, 2, 7)},
	}
	a.AuthenticatedData = true
	put("cached.example.", dns.TypeA, false, a)
	put("cached.example.", dns.TypeA, true, a.Copy())
	nx := new(dns.Msg)
	nx.Rcode = dns.RcodeNameError
	nx.Ns = []dns.RR{&dns.SOA{Hdr: hdr("example.", dns.TypeSOA, 900), Ns: "ns.example.", Mbox: "h.example.", Minttl: 600}}
	put("nx.example.", dns.TypeA, false, nx)
	big := new(dns.Msg)
	for i := range 60 {
		big.Answer = append(big.Answer, &dns.A{Hdr: hdr("big.example.", dns.TypeA, 300), A: net.IPv4(198, 51, 100, byte(i))})
	}
	put("big.example.", dns.TypeA, false, big)
	glue := new(dns.Msg)
	glue.Answer = []dns.RR{&dns.NS{Hdr: hdr("glue.example.", dns.TypeNS, 300), Ns: "ns.glue.example."}}
	for i := range 40 {
		glue.Extra = append(glue.Extra, &dns.A{Hdr: hdr("ns.glue.example.", dns.TypeA, 300), A: net.IPv4(198, 51, 100, byte(i))})
	}
	put("glue.example.", dns.TypeNS, false, glue)
	aaaa := new(dns.Msg)
	aaaa.Answer = []dns.RR{&dns.AAAA{Hdr: hdr("cached.example.", dns.TypeAAAA, 30), AAAA: net.ParseIP("2001:db8::7")}}
	put("cached.example.", dns.TypeAAAA, false, aaaa)
	return r, allowed
}

// FuzzFastPathMatchesChain checks that whatever the fast path answers, the
// handler chain answers the same.
func FuzzFastPathMatchesChain(f *testing.F) {
	for _, name := range []string{"cached.example.", "CACHED.Example.", "nx.example.", "big.example.", "glue.example.", "ads.example.",
		"x.Ads.example.", "tracker.example.net.", "other.example.", "use-application-dns.net."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX} {
			for _, size := range []uint16{0, 512, 1232, 4096} {
				m := new(dns.Msg)
				m.SetQuestion(name, qt)
				m.CheckingDisabled = size == 512
				if size > 0 {
					m.SetEdns0(size, size == 4096)
				}
				pkt, _ := m.Pack()
				f.Add(pkt, byte(1))
			}
		}
	}
	// What the wire allows beyond what clients usually send: EDNS
	// options well and badly formed, two OPT records, a non-root OPT
	// owner, other classes and opcodes.
	cookie := option(dns.EDNS0COOKIE, []byte("8bytes!!"))
	for _, name := range []string{"cached.example.", "ads.example.", "glue.example."} {
		for _, c := range []wireCase{
			{opts: [][]byte{cookie}},
			{opts: [][]byte{concat(cookie, option(dns.EDNS0PADDING, make([]byte, 9)))}},
			{opts: [][]byte{option(dns.EDNS0NSID, nil)}},
			{opts: [][]byte{option(dns.EDNS0SUBNET, []byte{0, 1, 24, 0, 10, 0, 0})}},
			{opts: [][]byte{option(dns.EDNS0COOKIE, []byte("short"))}},
			{opts: [][]byte{{0, 10, 0, 40, 1, 2}}},
			{opts: [][]byte{{0, 12, 0}}},
			{opts: [][]byte{nil, nil}},
			{opts: [][]byte{nil}, optName: 'x'},
			{opcode: dns.OpcodeNotify},
			{opcode: 15, cd: true},
		} {
			c.name, c.qtype, c.rd = name, dns.TypeA, true
			f.Add(c.pack(), byte(1))
		}
		for _, class := range []uint16{dns.ClassCHAOS, dns.ClassANY, 0} {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			m.Question[0].Qclass = class
			pkt, _ := m.Pack()
			f.Add(pkt, byte(1))
		}
	}
	for _, client := range []byte{7, 8, 9} {
		for _, name := range []string{"cached.example.", "Cached.example.", "ads.example.", "nx.example.", "other.example.", "big.example."} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT} {
				m := new(dns.Msg)
				m.SetQuestion(name, qt)
				m.SetEdns0(1232, qt == dns.TypeAAAA)
				pkt, _ := m.Pack()
				f.Add(pkt, client)
			}
		}
	}
	r, allowed := fastPathResolverLog(f)
	f.Fuzz(func(t *testing.T, pkt []byte, client byte) {
		from := netip.AddrFrom4([4]byte{127, 0, 0, client % 10})
		allowed.take()
		fast, ok := r.serveFast(pkt, r.ident.Identify(from), nil)
		fastAllowed := allowed.take()
		if !ok {
			return
		}
		slow := r.handleSlow(pkt, r.ident.Identify(from), false)
		if diff := cmp.Diff(allowed.take(), fastAllowed); diff != "" {
			t.Errorf("fast path reports other allowed destinations than the chain (-chain +fast):\n%s", diff)
		}
		var fm, sm dns.Msg
		if err := fm.Unpack(fast); err != nil {
			t.Fatalf("fast answer does not unpack: %v\n%x", err, fast)
		}
		if err := sm.Unpack(slow); err != nil {
			t.Fatalf("slow answer does not unpack: %v", err)
		}
		if diff := cmp.Diff(sm.String(), fm.String()); diff != "" {
			t.Errorf("fast path answer differs from the chain's (-chain +fast):\n%s", diff)
		}
	})
}

func TestFastPathAnswers(t *testing.T) {
	r := fastPathResolver(t)
	tests := []struct {
		name   string
		client string
		qtype  uint16
		want   bool
	}{
		{"cached.example.", "127.0.0.1", dns.TypeA, true},
		{"Cached.Example.", "127.0.0.1", dns.TypeA, false}, // mixed case: the chain answers
		{"ads.example.", "127.0.0.1", dns.TypeA, true},
		{"sub.ads.example.", "127.0.0.1", dns.TypeAAAA, true},
		{"other.example.", "127.0.0.1", dns.TypeA, false},           // not cached
		{"cached.example.", "127.0.0.9", dns.TypeA, true},           // cut-off client: the notice address
		{"cached.example.", "127.0.0.8", dns.TypeA, true},           // allowlist client, allowed and cached
		{"other.example.", "127.0.0.8", dns.TypeA, true},            // allowlist client, not allowed
		{"other.example.", "127.0.0.7", dns.TypeA, false},           // blocklist client, not cached: the chain forwards
		{"nx.example.", "127.0.0.7", dns.TypeA, true},               // blocklist client, blocked
		{"use-application-dns.net.", "127.0.0.1", dns.TypeA, false}, // canary
		{"big.example.", "127.0.0.1", dns.TypeA, false},             // needs truncating
	}
	for _, tt := range tests {
		m := new(dns.Msg)
		m.SetQuestion(tt.name, tt.qtype)
		pkt, _ := m.Pack()
		if _, got := r.serveFast(pkt, r.ident.Identify(netip.MustParseAddr(tt.client)), nil); got != tt.want {
			t.Errorf("serveFast(%s %s from %s) = %v, want %v", tt.name, dns.TypeToString[tt.qtype], tt.client, got, tt.want)
		}
	}
}

func TestFastPathDoesNotAllocate(t *testing.T) {
	r := fastPathResolver(t)
	out := make([]byte, 0, 4096)
	for _, q := range []struct{ name, client string }{
		{"cached.example.", "127.0.0.1"},
		{"ads.example.", "127.0.0.1"},
		{"cached.example.", "127.0.0.9"}, // cut off
		{"nx.example.", "127.0.0.7"},     // blocklist mode, refused
		{"cached.example.", "127.0.0.7"}, // blocklist mode, allowed
		{"other.example.", "127.0.0.8"},  // allowlist mode, refused
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, dns.TypeA)
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		client := netip.MustParseAddr(q.client)
		if _, ok := r.serveFast(pkt, r.ident.Identify(client), out[:0]); !ok {
			t.Errorf("serveFast(%s from %s) left it to the chain", q.name, q.client)
		}
		if n := testing.AllocsPerRun(100, func() { r.serveFast(pkt, r.ident.Identify(client), out[:0]) }); n != 0 {
			t.Errorf("serveFast(%s from %s) allocates %.0f times", q.name, q.client, n)
		}
	}
}

func TestDomainSet(t *testing.T) {
	s := newDomainSet([]string{"Example.COM.", "ads.example.net", "bad..name", "*.wild.example"})
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
	for name, want := range map[string]string{
		"example.com.": "example.com", "a.b.example.com": "example.com", "xexample.com.": "",
		"com.": "", "ads.example.net.": "ads.example.net", "example.net.": "", "wild.example": "wild.example",
	} {
		got, _ := s.match(name)
		gotBytes, _ := s.matchBytes([]byte(name))
		if got != want || string(gotBytes) != want {
			t.Errorf("match(%q) = %q, %q; want %q", name, got, gotBytes, want)
		}
	}
	var empty *domainSet
	if _, ok := empty.match("example.com."); ok {
		t.Error("nil set matched")
	}
}

func BenchmarkDomainSetMatch(b *testing.B) {
	names := make([]string, 1_000_000)
	for i := range names {
		names[i] = "n" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i) + ".example.com"
	}
	s := newDomainSet(names)
	b.ResetTimer()
	for i := range b.N {
		s.match("www.sub." + names[i%len(names)] + ".")
	}
}

func itoa(i int) string {
	return strings.TrimLeft(time.Duration(i).String(), "")
}

// BenchmarkAnswer measures one answer in process, by the fast path for
// clients with and without restrictions, and by the chain for the same
// restricted queries (how they were all answered before).
func BenchmarkAnswer(b *testing.B) {
	r, _ := fastPathResolverLog(b)
	var allowed atomic.Int64
	r.cfg.OnAllowed = func(net.HardwareAddr, netip.Addr, time.Duration) { allowed.Add(1) } // a firewall with the destination open
	out := make([]byte, 0, 4096)
	for _, q := range []struct{ label, name, client string }{
		{"cached", "cached.example.", "127.0.0.1"},
		{"blocked", "ads.example.", "127.0.0.1"},
		{"cutoff", "cached.example.", "127.0.0.9"},
		{"blocklist-mode-refused", "nx.example.", "127.0.0.7"},
		{"blocklist-mode-cached", "cached.example.", "127.0.0.7"},
		{"allowlist-mode-cached", "cached.example.", "127.0.0.8"},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, dns.TypeA)
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		who := r.ident.Identify(netip.MustParseAddr(q.client))
		b.Run("fast/"+q.label, func(b *testing.B) {
			for b.Loop() {
				r.serveFast(pkt, who, out[:0])
			}
		})
		if q.client != "127.0.0.1" {
			b.Run("chain/"+q.label, func(b *testing.B) {
				for b.Loop() {
					r.handleSlow(pkt, who, false)
				}
			})
		}
	}
}
