package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// exchangeOracle is the forwarder as it was before it kept its sockets:
// a new socket, an ID from dns.Id and a full exchange with miekg/dns's
// client for every question, over TCP again if truncated. It is the
// reference FuzzForwarderMatchesOracle holds the forwarder to.
func exchangeOracle(ctx context.Context, k cacheKey, up string) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(k.name, k.qtype)
	q.Question[0].Qclass = k.qclass
	q.CheckingDisabled = k.cd
	q.SetEdns0(ednsSize, k.do)
	q.Id = dns.Id()
	m, _, err := (&dns.Client{Net: "udp", UDPSize: ednsSize, Timeout: upstreamTry}).ExchangeContext(ctx, q, up)
	if err == nil && m.Truncated {
		q.Id = dns.Id()
		m, _, err = (&dns.Client{Net: "tcp", Timeout: upstreamTry}).ExchangeContext(ctx, q, up)
	}
	if err != nil {
		return nil, err
	}
	if len(m.Question) != 1 || m.Question[0].Qtype != k.qtype || m.Question[0].Qclass != k.qclass ||
		!strings.EqualFold(m.Question[0].Name, k.name) {
		return nil, errors.New("answer to another question")
	}
	stripOPT(m)
	return m, nil
}

// varied answers each question with records that follow from a hash of
// it: an rcode, CNAMEs, A and AAAA records, an authority SOA, glue, AD,
// and sometimes more than fits in 1232 bytes, so UDP answers are
// truncated and asked again over TCP. It answers the same question the
// same way every time.
func varied(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(q.Name)))
	h.Write([]byte{byte(q.Qtype >> 8), byte(q.Qtype), byte(q.Qclass)})
	if req.CheckingDisabled {
		h.Write([]byte{1})
	}
	x := h.Sum64()
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.AuthenticatedData = x&1 != 0
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: q.Qclass, Ttl: uint32(x>>8) % 3600}
	}
	switch x >> 4 % 8 {
	case 0:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("example.", dns.TypeSOA), Ns: "ns.example.", Mbox: "h.example.", Minttl: 60}}
	case 1:
		m.Rcode = dns.RcodeServerFailure
	case 2:
		m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("example.", dns.TypeSOA), Ns: "ns.example.", Mbox: "h.example.", Minttl: 60}}
	default:
		name := q.Name
		if x&2 != 0 {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: "Edge.CDN.example."})
			name = "Edge.CDN.example."
		}
		n := int(x>>12%4) + 1
		if x>>16%5 == 0 {
			n = 90 // too large for UDP
		}
		for i := range n {
			switch q.Qtype {
			case dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: net.IP{0x20, 1, 0xd, 0xb8, 15: byte(i)}})
			default:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: net.IPv4(192, 0, 2, byte(i))})
			}
		}
		if x&4 != 0 {
			m.Ns = []dns.RR{&dns.NS{Hdr: hdr("example.", dns.TypeNS), Ns: "ns1.example."}}
			m.Extra = []dns.RR{&dns.A{Hdr: hdr("ns1.example.", dns.TypeA), A: net.IPv4(198, 51, 100, 1)}}
		}
	}
	size := dns.MaxMsgSize
	if w.LocalAddr().Network() == "udp" {
		size = dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(ednsSize, o.Do())
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

func startVaried(t testing.TB) string {
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if try == 5 {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: dns.HandlerFunc(varied)}, {Listener: ln, Handler: dns.HandlerFunc(varied)}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// FuzzForwarderMatchesOracle checks that the forwarder's answer to any
// question is, record for record, the answer the old way of asking gets
// from the same upstream.
func FuzzForwarderMatchesOracle(f *testing.F) {
	for _, name := range []string{"example.org.", "www.Example.COM.", "a.b.c.d.example.", "x.", "big-name.example.net."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT} {
			f.Add(name, qt, qt == dns.TypeAAAA, qt == dns.TypeMX)
		}
	}
	up := startVaried(f)
	fw := newForwarder([]netip.AddrPort{netip.MustParseAddrPort(up)}, nopMetrics{})
	f.Cleanup(fw.close)
	f.Fuzz(func(t *testing.T, name string, qtype uint16, do, cd bool) {
		if _, ok := dns.IsDomainName(name); !ok || !dns.IsFqdn(name) || qtype == dns.TypeOPT ||
			qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
			return
		}
		k := cacheKey{name: strings.ToLower(name), qtype: qtype, qclass: dns.ClassINET, do: do, cd: cd}
		pkt, _, err := packQuery(k)
		if err != nil {
			return
		}
		// Names reach the forwarder as miekg/dns spells them when it
		// unpacks a query, with escapes.
		if k.name, _, err = dns.UnpackDomainName(pkt, 12); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		want, werr := exchangeOracle(ctx, k, up)
		got, gerr := fw.exchange(ctx, k)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("%s %s: forwarder error %v, oracle error %v", name, dns.TypeToString[qtype], gerr, werr)
		}
		if werr != nil {
			return
		}
		w, g := want.Copy(), got.Copy()
		w.Id, g.Id = 0, 0
		if diff := cmp.Diff(w.String(), g.String()); diff != "" {
			t.Errorf("%s %s: forwarder's answer differs from the oracle's (-oracle +forwarder):\n%s", name, dns.TypeToString[qtype], diff)
		}
	})
}

// BenchmarkForwardMiss asks an upstream on loopback questions never asked
// before, from 16 callers at once: with the forwarder's kept sockets,
// keeping each answer in a cache as the resolver does, and with a socket
// and a miekg/dns exchange per question (the oracle, as the forwarder used
// to ask). ns/op, B/op and allocs/op include the test upstream's own work.
func BenchmarkForwardMiss(b *testing.B) {
	up := startVaried(b)
	fw := newForwarder([]netip.AddrPort{netip.MustParseAddrPort(up)}, nopMetrics{})
	raw := newForwarder([]netip.AddrPort{netip.MustParseAddrPort(startRaw(b))}, nopMetrics{})
	c := newCache(32 << 20)
	fw.store = func(k cacheKey, m *dns.Msg, wire []byte) *cacheEntry { return c.putWire(k, m, wire, time.Now()) }
	raw.store = fw.store
	b.Cleanup(fw.close)
	b.Cleanup(raw.close)
	var seq atomic.Int64
	for _, bm := range []struct {
		name string
		ask  func(context.Context, cacheKey) (*dns.Msg, error)
	}{
		{"kept-sockets", fw.exchange},
		{"kept-sockets-raw-upstream", raw.exchange},
		{"socket-per-query", func(ctx context.Context, k cacheKey) (*dns.Msg, error) { return exchangeOracle(ctx, k, up) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := cacheKey{name: "n" + strconv.FormatInt(seq.Add(1), 10) + ".bench.example.", qtype: dns.TypeMX, qclass: dns.ClassINET}
					if _, err := bm.ask(b.Context(), k); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestUpSocketTimesOutByDeadline checks that queries on one upstream
// socket, which share one timer, each fail at their own deadline: one sent
// later with a sooner deadline does not wait for the earlier one's, and
// an answered one leaves the others' deadlines alone.
func TestUpSocketTimesOutByDeadline(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	s, err := openSocket(silent.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	failedAt := make(chan string, 3)
	send := func(name string, after time.Duration) {
		q, qlen, err := packQuery(cacheKey{name: name + ".example.", qtype: dns.TypeA, qclass: dns.ClassINET})
		if err != nil {
			t.Fatal(err)
		}
		s.send(q, qlen, time.Now().Add(after), nil, func(_ *dns.Msg, _ []byte, err error, _ *outbox) {
			if errors.Is(err, errTimeout) {
				failedAt <- name
			}
		})
	}
	start := time.Now()
	send("late", 1500*time.Millisecond)
	send("answered", 100*time.Millisecond)
	send("soon", 200*time.Millisecond)
	// Answer "answered" as the upstream would, with its ID.
	buf := make([]byte, 512)
	for range 3 {
		_ = silent.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := silent.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if m.Question[0].Name == "answered.example." {
			out, _ := answerTo(m).Pack()
			if _, err := silent.WriteToUDPAddrPort(out, from); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case name := <-failedAt:
		if name != "soon" {
			t.Fatalf("%s timed out first, want soon", name)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("soon timed out after %v, want about 200ms, long before late's 1.5s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no query timed out in 5s")
	}
	select {
	case name := <-failedAt:
		if name != "late" {
			t.Fatalf("%s timed out, want late (answered was answered)", name)
		}
		if d := time.Since(start); d < 1500*time.Millisecond {
			t.Errorf("late timed out after %v, before its deadline of 1.5s", d)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("late did not time out in 6s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) != 0 || len(s.soonest) != 0 {
		t.Errorf("%d queries pending, %d in the deadline heap after all were done, want none", len(s.pending), len(s.soonest))
	}
}

func answerTo(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A: net.IPv4(192, 0, 2, 1)}}
	return m
}

// startRaw starts an upstream on loopback that answers every UDP query
// with one A record and an OPT record, built in a reused buffer: it
// allocates nothing, so that a benchmark's allocations are the forwarder's.
func startRaw(tb testing.TB) string {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 512)
		out := make([]byte, 0, 512)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			off, ok := skipName(buf[:n], 12)
			if n < 12 || !ok || off+4 > n {
				continue
			}
			out = append(out[:0], buf[:off+4]...)
			out[2], out[3] = 0x81, 0x80 // QR RD RA
			out[6], out[7], out[8], out[9], out[10], out[11] = 0, 1, 0, 0, 0, 1
			out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 198, 18, buf[0], buf[1])
			out = append(out, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0)
			_, _ = pc.WriteToUDPAddrPort(out, from)
		}
	}()
	return pc.LocalAddr().String()
}

// TestForwardedThenCachedAnswersAgree checks that an answer given again
// from the cache, where the upstream's wire form was kept as it came, is
// the answer the client got when it was forwarded: for answers of every
// kind the test upstream gives, with and without EDNS and DO.
func TestForwardedThenCachedAnswersAgree(t *testing.T) {
	up := startVaried(t)
	now := t0
	r, err := New(&Config{
		NoticeAddr4: netip.MustParseAddr("192.168.50.1"),
		Upstreams:   []netip.AddrPort{netip.MustParseAddrPort(up)},
		Now:         func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	client := netip.MustParseAddr("127.0.0.1")
	fromCache := 0
	for i := range 60 {
		name := fmt.Sprintf("n%d.agree.example.", i)
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX} {
			q := new(dns.Msg)
			q.SetQuestion(name, qt)
			if i%3 != 0 {
				q.SetEdns0(1232, i%3 == 2)
			}
			pkt, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			first := r.Handle(pkt, client, false)
			if _, ok := r.serveFast(pkt, r.ident.Identify(client), nil); ok {
				fromCache++
			}
			second := r.Handle(pkt, client, false)
			// miekg/dns reads past wrong section counts; a client may not.
			if len(first) < 12 || len(second) < 12 || !bytes.Equal(first[4:12], second[4:12]) {
				t.Fatalf("%s %s: section counts %x from the cache, %x forwarded", name, dns.TypeToString[qt], second[4:min(12, len(second))], first[4:min(12, len(first))])
			}
			a, b := new(dns.Msg), new(dns.Msg)
			if a.Unpack(first) != nil || b.Unpack(second) != nil {
				t.Fatalf("%s %s: answers do not unpack", name, dns.TypeToString[qt])
			}
			if diff := cmp.Diff(a.String(), b.String()); diff != "" {
				t.Errorf("%s %s: the answer from the cache differs from the forwarded one (-forwarded +cached):\n%s", name, dns.TypeToString[qt], diff)
			}
		}
	}
	if fromCache < 60 {
		t.Errorf("%d of 180 answers came from the cache, want most: the test did not reach the cache", fromCache)
	}
}
