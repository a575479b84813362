package resolver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/resolver"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// A rogue is an upstream on loopback that misbehaves on purpose, by the
// first label of the name asked:
//
//   - "lose": ignores the first query for the name, answers the next;
//   - "pair": holds each query until a second one comes, then answers
//     both, the later first;
//   - "wrongid": first sends the answer with another ID and a forged
//     address, then the real one;
//   - "wrongq": first sends an answer to another question, with the
//     query's ID and a forged address, then the real one;
//   - "wrongtype": the same, with an answer for another type first;
//   - "forged": only ever sends answers with wrong IDs;
//   - "tc": answers over UDP truncated and empty, over TCP in full;
//
// and any other name with its real answer: 192.0.2.1 with TTL 300. Forged
// answers carry 203.0.113.66.
type rogue struct {
	addr    netip.AddrPort
	udp     net.PacketConn
	ports   sync.Map // source ports queries came from
	tcpConn atomic.Int64
	tcpQ    atomic.Int64

	mu   sync.Mutex // guards the fields below
	seen map[string]int
	held *heldQuery
}

type heldQuery struct {
	m    *dns.Msg
	from net.Addr
}

const forgedAddr = "203.0.113.66"

func newRogue(t *testing.T) *rogue {
	t.Helper()
	r := &rogue{seen: map[string]int{}}
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.udp, r.addr = pc, pc.LocalAddr().(*net.UDPAddr).AddrPort()
		if ln, err = net.Listen("tcp", r.addr.String()); err != nil {
			pc.Close()
			if try == 5 {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { r.udp.Close(); ln.Close() })
	go r.serveUDP()
	go r.serveTCP(ln)
	return r
}

func (r *rogue) serveUDP() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		r.ports.Store(from.(*net.UDPAddr).Port, true)
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
			continue
		}
		name := strings.ToLower(q.Question[0].Name)
		label, _, _ := strings.Cut(name, ".")
		r.mu.Lock()
		r.seen[name]++
		first := r.seen[name] == 1
		r.mu.Unlock()
		send := func(m *dns.Msg) {
			out, _ := m.Pack()
			_, _ = r.udp.WriteTo(out, from)
		}
		switch label {
		case "lose":
			if !first {
				send(answer(q, "192.0.2.1"))
			}
		case "pair":
			r.mu.Lock()
			held := r.held
			r.held = nil
			if held == nil {
				r.held = &heldQuery{q, from}
			}
			r.mu.Unlock()
			if held != nil {
				send(answer(q, "192.0.2.1"))
				out, _ := answer(held.m, "192.0.2.1").Pack()
				_, _ = r.udp.WriteTo(out, held.from)
			}
		case "wrongid":
			m := answer(q, forgedAddr)
			m.Id++
			send(m)
			send(answer(q, "192.0.2.1"))
		case "wrongq":
			other := q.Copy()
			other.Question[0].Name = "victim.example."
			send(answer(other, forgedAddr))
			send(answer(q, "192.0.2.1"))
		case "wrongtype":
			other := q.Copy()
			other.Question[0].Qtype = dns.TypeMX
			m := answer(other, forgedAddr)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A: net.ParseIP(forgedAddr)}}
			send(m)
			send(answer(q, "192.0.2.1"))
		case "forged":
			for i := range uint16(20) {
				m := answer(q, forgedAddr)
				m.Id += 1 + i
				send(m)
			}
		case "tc":
			m := new(dns.Msg)
			m.SetReply(q)
			m.Truncated = true
			send(m)
		default:
			send(answer(q, "192.0.2.1"))
		}
	}
}

func (r *rogue) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.tcpConn.Add(1)
		go func() {
			defer c.Close()
			dc := &dns.Conn{Conn: c}
			for {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				q, err := dc.ReadMsg()
				if err != nil {
					return
				}
				r.tcpQ.Add(1)
				m := answer(q, "192.0.2.1")
				hdr := *m.Answer[0].Header()
				for i := range 30 {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(198, 51, 100, byte(i))})
				}
				if dc.WriteMsg(m) != nil {
					return
				}
			}
		}()
	}
}

// answer returns the answer to q, of one A record with addr, or of no
// record for other types.
func answer(q *dns.Msg, addr string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	if q.Question[0].Qtype == dns.TypeA {
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A: net.ParseIP(addr)}}
	}
	return m
}

// TestForwarderWithMisbehavingUpstream checks that the forwarder takes
// only the answer to the question it asked, with the ID it asked it with,
// whatever else the upstream sends, and in whatever order.
func TestForwarderWithMisbehavingUpstream(t *testing.T) {
	rg := newRogue(t)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{rg.addr}})

	for _, name := range []string{"lose.example", "wrongid.example", "wrongq.example", "wrongtype.example"} {
		t.Run(name, func(t *testing.T) {
			m := ask(t, addr, name, dns.TypeA, edns(1232))
			if diff := cmp.Diff([]string{"192.0.2.1"}, addrs(m)); diff != "" {
				t.Errorf("A %s (-want +got):\n%s", name, diff)
			}
		})
	}
	t.Run("forged answers only", func(t *testing.T) {
		m := ask(t, addr, "forged.example", dns.TypeA)
		if m.Rcode != dns.RcodeServerFailure || len(m.Answer) != 0 {
			t.Errorf("answer = %v, want SERVFAIL: every answer had a wrong ID", m)
		}
		if m := ask(t, addr, "victim.example", dns.TypeA); !cmp.Equal(addrs(m), []string{"192.0.2.1"}) {
			t.Errorf("answer for the name of a forged answer = %v, want the real one: nothing forged was cached", addrs(m))
		}
	})
	t.Run("reordered", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([][]string, 2)
		for i, name := range []string{"pair.one.example", "pair.two.example"} {
			wg.Go(func() {
				m, err := exchange(t.Context(), addr, name, dns.TypeA)
				if err != nil {
					t.Errorf("asking %s: %v", name, err)
					return
				}
				if len(m.Question) == 1 && m.Question[0].Name == name+"." {
					got[i] = addrs(m)
				}
			})
		}
		wg.Wait()
		for i, g := range got {
			if !cmp.Equal(g, []string{"192.0.2.1"}) {
				t.Errorf("answer %d = %v, want its own", i, g)
			}
		}
	})
	t.Run("truncated, then over one TCP connection", func(t *testing.T) {
		before := rg.tcpConn.Load()
		for _, name := range []string{"tc.a.example", "tc.b.example", "tc.c.example"} {
			m := ask(t, addr, name, dns.TypeA, overTCP)
			if len(m.Answer) != 31 || m.Truncated {
				t.Errorf("answer for %s has %d records, TC %v; want all 31 from TCP", name, len(m.Answer), m.Truncated)
			}
		}
		if n := rg.tcpConn.Load() - before; n != 1 {
			t.Errorf("%d TCP connections for 3 truncated answers, want 1, reused", n)
		}
	})
	t.Run("from several random ports", func(t *testing.T) {
		for i := range 40 {
			ask(t, addr, "port"+strings.Repeat("x", i)+".example", dns.TypeA)
		}
		ports := 0
		rg.ports.Range(func(any, any) bool { ports++; return true })
		if ports < 2 {
			t.Errorf("queries came from %d source ports, want several", ports)
		}
	})
}

// TestForwarderAnswersWithoutWaitingGoroutines checks that many UDP
// queries waiting for a slow upstream cost no goroutine each.
func TestForwarderAnswersWithoutWaitingGoroutines(t *testing.T) {
	up := newUpstream(t)
	hold := make(chan struct{})
	up.set(0, hold)
	_, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const queries = 200
	for i := range queries {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("q%d.example.", i), dns.TypeA)
		pkt, _ := m.Pack()
		if _, err := conn.WriteToUDPAddrPort(pkt, addr); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for up.queries.Load() < queries && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// The upstream's own server runs a goroutine per query it holds.
	if n := runtime.NumGoroutine() - before; n > queries+20 {
		t.Errorf("%d more goroutines with %d queries waiting upstream, want about %d (the test upstream's own)", n, queries, queries)
	}
	close(hold)
	buf := make([]byte, 1500)
	for range queries {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Read(buf); err != nil || ctx.Err() != nil {
			t.Fatalf("waiting for the answers: %v", err)
		}
	}
}
