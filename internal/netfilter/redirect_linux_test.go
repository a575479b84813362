//go:build linux

package netfilter_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// The redirect lab adds to the lab: curfew's resolver and notice server on
// the gateway's lan1 addresses, and on the upstream a DNS server, a web
// server, TLS-like listeners on 443 and 853 (TCP, and UDP echo), all on
// every upstream address. Upstream addresses .3 are public DoH endpoints,
// .4 lie in a prefix an allowlist names, .5 are anything else.
var (
	gwAnswer = netip.MustParseAddr("192.0.2.53")   // what curfew's resolver answers
	upAnswer = netip.MustParseAddr("203.0.113.99") // what the upstream's answers
)

// redirectAddrs of one family.
type redirectAddrs struct {
	gw                   netip.Addr // the gateway's lan1 address: resolver and notice
	doh, listed, other   netip.Addr // upstream addresses
	dohPrefix, listedNet string
}

func (f family) redirect() redirectAddrs {
	if f.name == "v4" {
		return redirectAddrs{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.2.0.3"), netip.MustParseAddr("10.2.0.4"),
			netip.MustParseAddr("10.2.0.5"), "10.2.0.3/24", "10.2.0.4/32"}
	}
	return redirectAddrs{netip.MustParseAddr("fd00:1:1::1"), netip.MustParseAddr("fd00:2::3"), netip.MustParseAddr("fd00:2::4"),
		netip.MustParseAddr("fd00:2::5"), "fd00:2::3/64", "fd00:2::4/128"}
}

const noticePort = 8480

// newRedirectLab builds the lab with the DNS and notice redirects on, the
// servers above, and a DoH list of the upstream's .3 addresses only.
func newRedirectLab(t *testing.T) *lab {
	return newLab(t, func(l *lab, c *netfilter.Config) {
		path := filepath.Join(t.TempDir(), "doh.txt")
		if err := os.WriteFile(path, []byte("10.2.0.3\nfd00:2::3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		v4, v6 := families[0].redirect(), families[1].redirect()
		c.DNS4 = netip.AddrPortFrom(v4.gw, 53)
		c.DNS6 = netip.AddrPortFrom(v6.gw, 53)
		c.Notice4 = netip.AddrPortFrom(v4.gw, noticePort)
		c.Notice6 = netip.AddrPortFrom(v6.gw, noticePort)
		c.DoHFile, c.DoHReplace = path, true

		for _, f := range families {
			r := f.redirect()
			for _, a := range []netip.Addr{r.doh, r.listed, r.other} {
				netnstest.Addr(t, l.upstream, "up", netip.PrefixFrom(a, f.upNet.Bits()))
			}
			for _, a := range []netip.Addr{f.upstream, r.doh, r.listed, r.other} {
				for _, port := range []uint16{443, 853} {
					serveEcho(t, l.upstream, netip.AddrPortFrom(a, port))
				}
			}
			serveDNS(t, l.gw, netip.AddrPortFrom(r.gw, 53), gwAnswer)
			serveHTTP(t, l.gw, netip.AddrPortFrom(r.gw, noticePort), "notice")
		}
		serveDNS(t, l.upstream, netip.MustParseAddrPort("[::]:53"), upAnswer)
		serveHTTP(t, l.upstream, netip.MustParseAddrPort("[::]:80"), "upstream")
		for _, port := range []uint16{443, 853} {
			serveHello(t, l.upstream, port)
		}
	})
}

// listen opens a listener in ns, closed at cleanup.
func listen(t *testing.T, ns int, network string, ap netip.AddrPort) (ln net.Listener, pc net.PacketConn) {
	t.Helper()
	if err := netnstest.Do(ns, func() (err error) {
		if network == "udp" {
			pc, err = net.ListenPacket("udp", ap.String())
		} else {
			ln, err = net.Listen("tcp", ap.String())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ln != nil {
			ln.Close()
		}
		if pc != nil {
			pc.Close()
		}
	})
	return ln, pc
}

// serveDNS answers every A question with answer, over UDP and TCP on ap in
// ns.
func serveDNS(t *testing.T, ns int, ap netip.AddrPort, answer netip.Addr) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   answer.AsSlice(),
			}}
		}
		w.WriteMsg(m)
	})
	ln, _ := listen(t, ns, "tcp", ap)
	_, pc := listen(t, ns, "udp", ap)
	for _, s := range []*dns.Server{{Listener: ln, Handler: h}, {PacketConn: pc, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
}

// serveHTTP answers every request with body, on ap in ns.
func serveHTTP(t *testing.T, ns int, ap netip.AddrPort, body string) {
	ln, _ := listen(t, ns, "tcp", ap)
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, body)
	}), ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
}

// serveHello writes "hello" to every TCP connection on port in ns, as a
// stand-in for a TLS server that speaks first enough for dialPort.
func serveHello(t *testing.T, ns int, port uint16) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the listener is closed: cleanups run last first
	ln, _ := listen(t, ns, "tcp", netip.AddrPortFrom(netip.IPv6Unspecified(), port))
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	})
}

// serveEcho echoes UDP datagrams on ap in ns (QUIC, DNS over QUIC). It
// listens on one address so that its answers come from that address.
func serveEcho(t *testing.T, ns int, ap netip.AddrPort) {
	_, pc := listen(t, ns, "udp", ap)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
}

// query asks server, from ns, for the A record of a name over network
// (udp or tcp) and returns the answer.
func query(ns int, network string, server netip.AddrPort) (netip.Addr, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("news.example.", dns.TypeA)
	var r *dns.Msg
	if err := netnstest.Do(ns, func() (err error) {
		r, _, err = c.Exchange(m, server.String())
		return err
	}); err != nil {
		return netip.Addr{}, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no A record in %v", r)
}

// mustBeAnsweredByGateway checks that a query from ns to server, over UDP
// and over TCP, gets curfew's resolver's answer.
func mustBeAnsweredByGateway(t *testing.T, who string, ns int, server netip.AddrPort) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		got, err := query(ns, network, server)
		if err != nil || got != gwAnswer {
			t.Errorf("%s asking %s over %s: answer %v, %v; want %v from the gateway", who, server, network, got, err, gwAnswer)
		}
	}
}

// get fetches http://ap/ from ns and returns the body.
func get(ns int, ap netip.AddrPort) (string, error) {
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", ap.String(), 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", ap); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	_, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		return "", fmt.Errorf("malformed response %q", b)
	}
	return body, nil
}

// mustGet checks that http://ap/ from ns answers want.
func mustGet(t *testing.T, who string, ns int, ap netip.AddrPort, want string) {
	t.Helper()
	got, err := get(ns, ap)
	if err != nil || got != want {
		t.Errorf("%s fetching http://%s/: %q, %v; want %q", who, ap, got, err, want)
	}
}

// mustReach checks that ns can connect to ap and read the server's first
// byte.
func mustReach(t *testing.T, who string, ns int, ap netip.AddrPort) {
	t.Helper()
	c, _, err := dialPort(ns, ap)
	if err != nil {
		t.Errorf("%s cannot reach %s: %v", who, ap, err)
		return
	}
	c.Close()
}

// echo sends a datagram from ns to ap and waits for it to come back. It
// returns nil if it did, or the error: an ICMP error reported on the
// socket, or a timeout.
func echo(ns int, ap netip.AddrPort) error {
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.Dial("udp", ap.String())
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("quic?")); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 16))
	return err
}

// mustEchoRefused checks that a datagram from ns to ap draws an ICMP error
// at once instead of an answer or silence.
func mustEchoRefused(t *testing.T, who string, ns int, ap netip.AddrPort) {
	t.Helper()
	start := time.Now()
	err := echo(ns, ap)
	var ne net.Error
	switch {
	case err == nil:
		t.Errorf("%s got an answer from udp %s, want it refused", who, ap)
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("%s sending to udp %s: %v after %s, want an ICMP error at once", who, ap, err, time.Since(start))
	}
}

func TestTrafficRedirect(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newRedirectLab(t)
			r := f.redirect()
			up := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(f.upstream, port) }
			notice := netip.AddrPortFrom(r.gw, 80)

			// Before any restriction (the daemon applies the empty
			// Snapshot at start): every client's DNS goes to curfew's
			// resolver, whatever server it asks; the web is the web; the
			// gateway's own address on port 80 is the notice server.
			mustApply(t, l.b, &curfew.Snapshot{At: time.Now()})
			mustBeAnsweredByGateway(t, "client2", l.client2, up(53))
			mustBeAnsweredByGateway(t, "client2", l.client2, netip.AddrPortFrom(r.gw, 53))
			mustGet(t, "client2", l.client2, up(80), "upstream")
			mustGet(t, "client2", l.client2, notice, "notice")
			mustReach(t, "client2", l.client2, up(853))

			mustApply(t, l.b, cutDevice(l.mac1, time.Hour))
			mustBeAnsweredByGateway(t, "cut-off client1", l.client1, up(53))
			mustGet(t, "cut-off client1", l.client1, up(80), "notice")
			mustGet(t, "cut-off client1", l.client1, netip.AddrPortFrom(r.other, 80), "notice")
			mustBeRefusedPort(t, "cut-off client1 on HTTPS", l.client1, up(443))
			mustBeRefusedPort(t, "cut-off client1 on DoT", l.client1, up(853))
			mustEchoRefused(t, "cut-off client1 on DNS over QUIC", l.client1, up(853))
			// The others are untouched.
			mustGet(t, "client2", l.client2, up(80), "upstream")
			mustReach(t, "client2", l.client2, up(443))
			mustBeAnsweredByGateway(t, "client2", l.client2, up(53))
		})
	}
}

// TestTrafficPrefixRedirect checks the notice redirect and anti-bypass
// rules of ip: subjects.
func TestTrafficPrefixRedirect(t *testing.T) {
	l := newRedirectLab(t)
	now := time.Now()
	s := &curfew.Snapshot{At: now}
	for _, f := range families {
		s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: f.client1Net, Enforcement: cut(now.Add(time.Hour), 1)})
		s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: netip.PrefixFrom(f.client2, f.client2.BitLen()),
			Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour), BlockNames: []string{"games.example"}}})
	}
	mustApply(t, l.b, s)
	for _, f := range families {
		r := f.redirect()
		mustGet(t, "client1 in a cut-off prefix", l.client1, netip.AddrPortFrom(f.upstream, 80), "notice")
		mustBeAnsweredByGateway(t, "client1 in a cut-off prefix", l.client1, netip.AddrPortFrom(f.upstream, 53))
		mustBeRefusedPort(t, "client2 in a blocklist prefix on DoT", l.client2, netip.AddrPortFrom(f.upstream, 853))
		mustBeRefusedPort(t, "client2 in a blocklist prefix on DoH", l.client2, netip.AddrPortFrom(r.doh, 443))
		mustReach(t, "client2 in a blocklist prefix", l.client2, netip.AddrPortFrom(f.upstream, 443))
		mustGet(t, "client2 in a blocklist prefix", l.client2, netip.AddrPortFrom(f.upstream, 80), "upstream")
	}
}

func TestTrafficDoH(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newRedirectLab(t)
			r := f.redirect()
			now := time.Now()
			mustApply(t, l.b, &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{{MAC: l.mac1,
				Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour), BlockNames: []string{"games.example"}}}}})

			doh := netip.AddrPortFrom(r.doh, 443)
			mustBeRefusedPort(t, "blocklist client1 on DoH", l.client1, doh)
			mustEchoRefused(t, "blocklist client1 on DoH over QUIC", l.client1, doh)
			mustBeRefusedPort(t, "blocklist client1 on DoT", l.client1, netip.AddrPortFrom(f.upstream, 853))
			mustBeAnsweredByGateway(t, "blocklist client1", l.client1, netip.AddrPortFrom(f.upstream, 53))
			// HTTPS elsewhere and plain HTTP are the resolver's business.
			mustReach(t, "blocklist client1", l.client1, netip.AddrPortFrom(f.upstream, 443))
			mustGet(t, "blocklist client1", l.client1, netip.AddrPortFrom(f.upstream, 80), "upstream")

			mustReach(t, "unrestricted client2 on DoH", l.client2, doh)
			if err := echo(l.client2, doh); err != nil {
				t.Errorf("unrestricted client2 on DoH over QUIC: %v", err)
			}
		})
	}
}

func TestTrafficAllowlist(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newRedirectLab(t)
			r := f.redirect()
			now := time.Now()
			mustApply(t, l.b, &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{{MAC: l.mac1,
				Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: now.Add(time.Hour),
					AllowNames: []string{"news.example"}, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix(r.listedNet)}}}}})
			allowed := netip.AddrPortFrom(f.upstream, 9000)

			// Nothing answered yet: the destination is refused, its web
			// page is the notice; a prefix the allowlist names is open.
			mustBeRefusedPort(t, "allowlist client1 before the answer", l.client1, allowed)
			mustGet(t, "allowlist client1 before the answer", l.client1, netip.AddrPortFrom(f.upstream, 80), "notice")
			mustReach(t, "allowlist client1 to a listed prefix", l.client1, netip.AddrPortFrom(r.listed, 9000))
			mustGet(t, "allowlist client1 to a listed prefix", l.client1, netip.AddrPortFrom(r.listed, 80), "upstream")
			mustBeAnsweredByGateway(t, "allowlist client1", l.client1, netip.AddrPortFrom(f.upstream, 53))

			// The resolver answers the allowed name: the destination opens
			// for the answer's TTL, and for this device only.
			ttl := 2 * time.Second
			if err := l.b.AllowDestination(l.mac1, f.upstream, ttl); err != nil {
				t.Fatalf("AllowDestination: %v", err)
			}
			opened := time.Now()
			mustReach(t, "allowlist client1 after the answer", l.client1, allowed)
			mustGet(t, "allowlist client1 after the answer", l.client1, netip.AddrPortFrom(f.upstream, 80), "upstream")
			mustBeRefusedPort(t, "allowlist client1 on DoT to an allowed address", l.client1, netip.AddrPortFrom(f.upstream, 853))
			mustBeRefusedPort(t, "allowlist client1 to another destination", l.client1, netip.AddrPortFrom(r.other, 9000))
			mustGet(t, "allowlist client1 to another destination", l.client1, netip.AddrPortFrom(r.other, 80), "notice")
			mustEchoRefused(t, "allowlist client1 to another destination over UDP", l.client1, netip.AddrPortFrom(r.other, 443))
			mustReach(t, "client2", l.client2, netip.AddrPortFrom(r.other, 9000))

			// The kernel closes it again when the TTL runs out.
			deadline := opened.Add(ttl + 3*time.Second)
			for {
				c, _, err := dialPort(l.client1, allowed)
				if err != nil {
					break
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatalf("allowed destination still open %s after a %s TTL", time.Since(opened), ttl)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if took := time.Since(opened); took < ttl-500*time.Millisecond {
				t.Errorf("allowed destination closed after %s, before its %s TTL", took, ttl)
			}
			mustBeRefusedPort(t, "allowlist client1 after the TTL", l.client1, allowed)

			// Lifting the restriction opens everything and forgets the
			// answers.
			if err := l.b.AllowDestination(l.mac1, r.other, time.Hour); err != nil {
				t.Fatalf("AllowDestination: %v", err)
			}
			mustApply(t, l.b, &curfew.Snapshot{At: time.Now()})
			mustReach(t, "client1 after lift", l.client1, allowed)
			if rs := netnstest.Ruleset(t, l.gw); strings.Contains(rs, r.other.String()) {
				t.Errorf("allowed destination left after the restriction ended:\n%s", rs)
			}
		})
	}
}

// TestTrafficHostInputPolicy checks what docs/firewall.md tells operators
// whose host firewall drops input by default: redirected DNS and notice
// traffic takes the input path, so the host's input chain must accept the
// resolver's and notice server's ports from the LAN. (An accept in a chain
// of curfew's could not override a drop in the host's chain.)
func TestTrafficHostInputPolicy(t *testing.T) {
	l := newRedirectLab(t)
	mustApply(t, l.b, cutDevice(l.mac1, time.Hour))
	f := families[0]
	up := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(f.upstream, port) }

	netnstest.Run(t, l.gw, "nft", `table inet host {
		chain input {
			type filter hook input priority filter; policy drop;
			ct state established,related accept
			iifname "lo" accept
		}
	}`)
	if _, err := query(l.client1, "udp", up(53)); err == nil {
		t.Fatal("DNS answered through a host input policy that drops it")
	}
	// The rule docs/firewall.md gives.
	netnstest.Run(t, l.gw, "nft", `add rule inet host input iifname { "lan1", "lan2" } meta l4proto { tcp, udp } th dport { 53, 8480 } accept`)
	mustBeAnsweredByGateway(t, "cut-off client1", l.client1, up(53))
	mustGet(t, "cut-off client1", l.client1, up(80), "notice")
	mustBeAnsweredByGateway(t, "client2", l.client2, up(53))
	mustGet(t, "client2", l.client2, netip.AddrPortFrom(f.redirect().gw, 80), "notice")
}
