package resolver_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/resolver"
	"github.com/miekg/dns"
)

// upstream is a DNS server run by the test: it answers every A and AAAA
// query with a fixed address, "nx." names with NXDOMAIN and a SOA, "big."
// names with 100 A records, and counts what it is asked.
type upstream struct {
	addr    netip.AddrPort
	queries atomic.Int64
	mu      sync.Mutex     // guards the fields below
	rcode   int            // answered instead of an answer when not 0
	hold    chan struct{}  // if non-nil, every answer waits for it to close
	names   map[string]int // questions seen, by lower-case name
}

const upstreamTTL = 300

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{names: map[string]int{}}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
		if ln, err = net.Listen("tcp", u.addr.String()); err != nil {
			pc.Close()
			if try == 5 {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return u
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	u.queries.Add(1)
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	u.mu.Lock()
	u.names[name]++
	rcode, hold := u.rcode, u.hold
	u.mu.Unlock()
	if hold != nil {
		<-hold
	}
	m := new(dns.Msg)
	m.SetReply(req)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: upstreamTTL}
	switch {
	case rcode != 0:
		m.Rcode = rcode
	case strings.HasPrefix(name, "nx."):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa(q.Name)}
	case strings.HasPrefix(name, "big.") && q.Qtype == dns.TypeA:
		hdr.Rrtype = dns.TypeA
		for i := range 100 {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(198, 51, 100, byte(i))})
		}
	case q.Qtype == dns.TypeA:
		hdr.Rrtype = dns.TypeA
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, 1)}}
	case q.Qtype == dns.TypeAAAA:
		hdr.Rrtype = dns.TypeAAAA
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.ParseIP("2001:db8::1")}}
	default:
		m.Ns = []dns.RR{soa(q.Name)}
	}
	size := dns.MaxMsgSize
	if w.LocalAddr().Network() == "udp" {
		size = dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
			m.SetEdns0(o.UDPSize(), false)
		}
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

func soa(name string) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns.example.", Mbox: "hostmaster.example.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30}
}

func (u *upstream) set(rcode int, hold chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rcode, u.hold = rcode, hold
}

func (u *upstream) asked(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.names[name]
}

// deadUpstream returns an address that takes UDP queries and never answers.
func deadUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// clock is a settable Config.Now.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)         { c.t.Store(&t) }
func (c *clock) advance(d time.Duration) { c.set(c.now().Add(d)) }
func (c *clock) now() time.Time          { return *c.t.Load() }

var (
	notice4 = netip.MustParseAddr("192.168.50.1")
	notice6 = netip.MustParseAddr("fd00:50::1")
	t0      = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
)

// start starts a resolver for cfg on 127.0.0.1 and returns it and its
// address. Upstreams, notice addresses and clock are the test's unless cfg
// sets them.
func start(t *testing.T, cfg resolver.Config) (*resolver.Resolver, netip.AddrPort) {
	t.Helper()
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}
	if !cfg.NoticeAddr4.IsValid() {
		cfg.NoticeAddr4, cfg.NoticeAddr6 = notice4, notice6
	}
	r, err := resolver.New(&cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, r.LocalAddrs()[0]
}

// A qopt changes how ask sends a query.
type qopt func(*query)

type query struct {
	from string // source address, default 127.0.0.1
	tcp  bool
	edns uint16 // EDNS0 buffer size, 0 for none
}

// from sends the query from another loopback address: another client.
func from(a string) qopt { return func(q *query) { q.from = a } }

func overTCP(q *query) { q.tcp = true }

func edns(size uint16) qopt { return func(q *query) { q.edns = size } }

// ask sends one query to addr and returns the answer; it fails the test if
// none comes.
func ask(t *testing.T, addr netip.AddrPort, name string, qtype uint16, opts ...qopt) *dns.Msg {
	t.Helper()
	m, err := exchange(t.Context(), addr, name, qtype, opts...)
	if err != nil {
		t.Fatalf("asking %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return m
}

func exchange(ctx context.Context, addr netip.AddrPort, name string, qtype uint16, opts ...qopt) (*dns.Msg, error) {
	q := query{from: "127.0.0.1"}
	for _, o := range opts {
		o(&q)
	}
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(q.from)}}}
	if q.tcp {
		c.Net = "tcp"
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(q.from)}}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if q.edns != 0 {
		m.SetEdns0(q.edns, false)
	}
	r, _, err := c.ExchangeContext(ctx, m, addr.String())
	return r, err
}

// addrs returns the A and AAAA addresses of m's answer.
func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out
}

// ede returns m's Extended DNS Error, or nil.
func ede(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if e, ok := e.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

func ttl(m *dns.Msg) uint32 {
	if len(m.Answer) == 0 {
		return 0
	}
	return m.Answer[0].Header().Ttl
}
