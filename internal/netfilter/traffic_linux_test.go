//go:build linux

package netfilter_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// lab is a gateway namespace running the backend, two client namespaces on
// their own LAN links, and an upstream namespace with a TCP server that
// streams data to whoever connects.
//
//	client1 (c1) ── lan1 ┐
//	                     gw ── wan ── (up) upstream :9000
//	client2 (c2) ── lan2 ┘
type lab struct {
	gw, client1, client2, upstream int // namespace descriptors
	mac1                           net.HardwareAddr
	b                              *netfilter.Backend
}

// addrs of one family in the lab.
type family struct {
	name              string
	client1, client2  netip.Addr
	upstream          netip.Addr
	client1Net, upNet netip.Prefix
}

var families = []family{
	{"v4", netip.MustParseAddr("10.1.1.2"), netip.MustParseAddr("10.1.2.2"), netip.MustParseAddr("10.2.0.2"),
		netip.MustParsePrefix("10.1.1.0/24"), netip.MustParsePrefix("10.2.0.0/24")},
	{"v6", netip.MustParseAddr("fd00:1:1::2"), netip.MustParseAddr("fd00:1:2::2"), netip.MustParseAddr("fd00:2::2"),
		netip.MustParsePrefix("fd00:1:1::/64"), netip.MustParsePrefix("fd00:2::/64")},
}

// newLab builds the lab. Each option may change the backend's
// configuration (which has the lab's LAN interfaces and the gateway
// namespace) before the backend is made.
func newLab(t testing.TB, opts ...func(*lab, *netfilter.Config)) *lab {
	l := &lab{gw: netnstest.New(t), client1: netnstest.New(t), client2: netnstest.New(t), upstream: netnstest.New(t)}
	netnstest.Veth(t, l.client1, "c1", l.gw, "lan1")
	netnstest.Veth(t, l.client2, "c2", l.gw, "lan2")
	netnstest.Veth(t, l.upstream, "up", l.gw, "wan")
	for _, a := range []struct {
		ns  int
		dev string
		p   string
	}{
		{l.client1, "c1", "10.1.1.2/24"}, {l.client1, "c1", "fd00:1:1::2/64"},
		{l.gw, "lan1", "10.1.1.1/24"}, {l.gw, "lan1", "fd00:1:1::1/64"},
		{l.client2, "c2", "10.1.2.2/24"}, {l.client2, "c2", "fd00:1:2::2/64"},
		{l.gw, "lan2", "10.1.2.1/24"}, {l.gw, "lan2", "fd00:1:2::1/64"},
		{l.upstream, "up", "10.2.0.2/24"}, {l.upstream, "up", "fd00:2::2/64"},
		{l.gw, "wan", "10.2.0.1/24"}, {l.gw, "wan", "fd00:2::1/64"},
	} {
		netnstest.Addr(t, a.ns, a.dev, netip.MustParsePrefix(a.p))
	}
	for _, r := range []struct {
		ns     int
		v4, v6 string
	}{
		{l.client1, "10.1.1.1", "fd00:1:1::1"},
		{l.client2, "10.1.2.1", "fd00:1:2::1"},
		{l.upstream, "10.2.0.1", "fd00:2::1"},
	} {
		netnstest.Run(t, r.ns, "ip", "route", "add", "default", "via", r.v4)
		netnstest.Run(t, r.ns, "ip", "-6", "route", "add", "default", "via", r.v6)
	}
	netnstest.Run(t, l.gw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	// Tests count on an ICMP error for every refused datagram; the kernel
	// would send about one a second to each client.
	netnstest.Run(t, l.gw, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")

	if err := netnstest.Do(l.client1, func() error {
		ifi, err := net.InterfaceByName("c1")
		if err == nil {
			l.mac1 = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := &netfilter.Config{NetNS: l.gw, LANInterfaces: []string{"lan1", "lan2"}}
	for _, o := range opts {
		o(l, c)
	}
	l.b = newBackendConfig(t, c)
	serveStream(t, l.upstream)
	return l
}

// serveStream listens on port 9000 (v4 and v6) in ns and writes to each
// connection, every 5 ms, until the connection fails or the test ends.
func serveStream(t testing.TB, ns int) {
	var ln net.Listener
	if err := netnstest.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", "[::]:9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // heartbeats; ends when c is closed
			wg.Go(func() {
				defer c.Close()
				chunk := []byte(strings.Repeat("x", 512))
				for {
					c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(chunk); err != nil {
						return
					}
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			})
		}
	})
}

// dial connects from ns to the upstream server at a and reads the first
// bytes it streams. It returns how long connecting took.
func dial(ns int, a netip.Addr) (net.Conn, time.Duration, error) {
	return dialPort(ns, netip.AddrPortFrom(a, 9000))
}

// dialPort connects from ns to ap and reads the first byte the server
// sends. It returns how long connecting took.
func dialPort(ns int, ap netip.AddrPort) (net.Conn, time.Duration, error) {
	var c net.Conn
	start := time.Now()
	err := netnstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", ap.String(), 3*time.Second)
		return err
	})
	took := time.Since(start)
	if err != nil {
		return nil, took, err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		c.Close()
		return nil, took, fmt.Errorf("reading first byte: %w", err)
	}
	return c, took, nil
}

// mustConnect checks that ns reaches the upstream server at a.
func mustConnect(t testing.TB, who string, ns int, a netip.Addr) {
	t.Helper()
	c, _, err := dial(ns, a)
	if err != nil {
		t.Fatalf("%s cannot reach %s: %v", who, a, err)
	}
	c.Close()
}

// mustBeRefused checks that connecting from ns to a fails with a reset,
// quickly: the gateway answers with a TCP reset, not silence.
func mustBeRefused(t testing.TB, who string, ns int, a netip.Addr) {
	t.Helper()
	mustBeRefusedPort(t, who, ns, netip.AddrPortFrom(a, 9000))
}

// mustBeRefusedPort checks that connecting from ns to a fails quickly with
// a reset.
func mustBeRefusedPort(t testing.TB, who string, ns int, a netip.AddrPort) {
	t.Helper()
	c, took, err := dialPort(ns, a)
	if err == nil {
		c.Close()
		t.Fatalf("%s reached %s, want it refused", who, a)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s connecting to %s: %v (after %s), want connection refused by a reset", who, a, err, took)
	}
	if took > 500*time.Millisecond {
		t.Errorf("%s was refused after %s, want well under a second", who, took)
	}
}

// stream opens a connection from ns to a, reads it in the background and
// writes a heartbeat byte every 50 ms, as interactive traffic does. The
// returned channel receives the instant reading or writing failed.
func stream(t *testing.T, ns int, a netip.Addr) <-chan time.Time {
	t.Helper()
	c, _, err := dial(ns, a)
	if err != nil {
		t.Fatalf("opening stream to %s: %v", a, err)
	}
	t.Cleanup(func() { c.Close() })
	died := make(chan time.Time, 2)
	go func() {
		for {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte{0}); err != nil {
				died <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			// Bounded: the stream must die long before this deadline.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil {
				died <- time.Now()
				return
			}
		}
	}()
	return died
}

// mustDieWithin checks that a stream died within d of from.
func mustDieWithin(t *testing.T, died <-chan time.Time, from time.Time, d time.Duration) {
	t.Helper()
	select {
	case at := <-died:
		if at.Sub(from) > d {
			t.Errorf("established stream died %s after Apply, want within %s", at.Sub(from), d)
		}
	case <-time.After(d):
		t.Errorf("established stream still alive %s after Apply", d)
	}
}

func cutDevice(mac net.HardwareAddr, d time.Duration) *curfew.Snapshot {
	now := time.Now()
	return &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{{MAC: mac, Enforcement: cut(now.Add(d), 1)}}}
}

func TestTrafficDeviceCutoff(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newLab(t)
			mustConnect(t, "client1", l.client1, f.upstream)
			mustConnect(t, "client2", l.client2, f.upstream)
			died := stream(t, l.client1, f.upstream)
			alive := stream(t, l.client2, f.upstream)

			applied := time.Now()
			mustApply(t, l.b, cutDevice(l.mac1, time.Hour))
			mustDieWithin(t, died, applied, time.Second)
			mustBeRefused(t, "cut-off client1", l.client1, f.upstream)
			mustConnect(t, "client2", l.client2, f.upstream)
			select {
			case <-alive:
				t.Error("client2's stream died")
			default:
			}

			mustApply(t, l.b, &curfew.Snapshot{At: time.Now()}) // lift
			mustConnect(t, "client1 after lift", l.client1, f.upstream)
		})
	}
}

// TestTrafficExpiry checks that the kernel ends a restriction by itself:
// no Apply after the one that cut the device off.
func TestTrafficExpiry(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newLab(t)
			applied := time.Now()
			mustApply(t, l.b, cutDevice(l.mac1, 2*time.Second))
			mustBeRefused(t, "cut-off client1", l.client1, f.upstream)
			deadline := applied.Add(5 * time.Second)
			for {
				c, _, err := dial(l.client1, f.upstream)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("client1 still refused %s after a 2 s restriction: %v", time.Since(applied), err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if took := time.Since(applied); took < 1500*time.Millisecond {
				t.Errorf("access came back after %s, before the 2 s timeout", took)
			}

			// The backend still remembers the expired element; a new
			// restriction of the same device must not trip over it.
			mustApply(t, l.b, cutDevice(l.mac1, time.Hour))
			mustBeRefused(t, "client1 cut off again", l.client1, f.upstream)
		})
	}
}

// prefixCut returns a Snapshot that cuts off the prefixes for an hour.
func prefixCut(ps ...netip.Prefix) *curfew.Snapshot {
	now := time.Now()
	s := &curfew.Snapshot{At: now}
	for _, p := range ps {
		s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: p, Enforcement: cut(now.Add(time.Hour), 1)})
	}
	return s
}

// mustTrack applies the empty Snapshot, as the daemon does when it starts,
// so that conntrack follows the flows the test opens from their first
// packet: prefix rules go by which end opened a flow. (A flow that was
// already open when conntrack was turned on counts as opened by whichever
// end sent next.)
func mustTrack(t *testing.T, l *lab) {
	t.Helper()
	mustApply(t, l.b, &curfew.Snapshot{At: time.Now()})
}

// TestTrafficPrefixCutoff checks that the flows a cut-off prefix opens die
// at once, in both directions, and that it cannot open new ones.
func TestTrafficPrefixCutoff(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newLab(t)
			mustTrack(t, l)
			serveUDPStream(t, l.upstream, 9001)
			died := stream(t, l.client1, f.upstream)
			replies := udpStream(t, l.client1, netip.AddrPortFrom(f.upstream, 9001))
			applied := time.Now()
			mustApply(t, l.b, prefixCut(f.client1Net))
			mustDieWithin(t, died, applied, time.Second)
			// The replies to it stop too, though it sends nothing more.
			mustStopWithin(t, "the replies to client1 in a cut-off prefix", replies, applied, time.Second)
			mustBeRefused(t, "client1 in a cut-off prefix", l.client1, f.upstream)
			mustConnect(t, "client2", l.client2, f.upstream)

			mustApply(t, l.b, &curfew.Snapshot{At: time.Now()}) // lift
			mustConnect(t, "client1 after lift", l.client1, f.upstream)
		})
	}
}

// TestTrafficPrefixIsSourceOnly checks that an ip: subject restricts the
// flows its prefix opens and never those others open to it: a prefix of
// remote servers, such as 128.0.0.0/1, must not cut the clients that use
// them.
func TestTrafficPrefixIsSourceOnly(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newLab(t)
			mustTrack(t, l)
			serveStream(t, l.client2)
			alive := stream(t, l.client2, f.upstream)
			opened := stream(t, l.upstream, f.client2) // opened by the prefix

			applied := time.Now()
			mustApply(t, l.b, prefixCut(f.upNet))
			mustDieWithin(t, opened, applied, time.Second)
			mustBeRefused(t, "upstream in a cut-off prefix", l.upstream, f.client2)
			mustConnect(t, "client1 to a server in a cut-off prefix", l.client1, f.upstream)
			mustConnect(t, "client2 to a server in a cut-off prefix", l.client2, f.upstream)
			// By now a stream the rules refused would have died with the
			// other one.
			select {
			case <-alive:
				t.Error("client2's stream to a server in a cut-off prefix died")
			default:
			}
		})
	}
}

// TestTrafficPrefixUntracked checks that packets of a cut-off prefix that
// conntrack does not follow (notrack in another table) are refused too.
func TestTrafficPrefixUntracked(t *testing.T) {
	l := newLab(t)
	netnstest.Run(t, l.gw, "nft", `table inet raw {
		chain prerouting {
			type filter hook prerouting priority raw; policy accept;
			ip saddr 10.1.1.2 notrack
			ip6 saddr fd00:1:1::2 notrack
		}
	}`)
	for _, f := range families {
		mustConnect(t, "untracked client1 before the restriction", l.client1, f.upstream)
	}
	mustApply(t, l.b, prefixCut(families[0].client1Net, families[1].client1Net))
	for _, f := range families {
		mustBeRefused(t, "untracked client1 in a cut-off prefix", l.client1, f.upstream)
	}
}

// serveUDPStream listens on port (v4 and v6) in ns and, from the first
// datagram of each peer on, sends that peer a datagram every 5 ms until the
// test ends.
func serveUDPStream(t *testing.T, ns int, port uint16) {
	_, pc := listen(t, ns, "udp", netip.AddrPortFrom(netip.IPv6Unspecified(), port))
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		pc.Close()
		wg.Wait()
	})
	wg.Go(func() {
		peers := map[string]bool{}
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if peers[from.String()] {
				continue
			}
			peers[from.String()] = true
			wg.Go(func() {
				for {
					pc.WriteTo([]byte("tick"), from)
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			})
		}
	})
}

// udpStream sends one datagram from ns to ap, where serveUDPStream
// listens, waits for the first one back, and returns the connection,
// which then only receives.
func udpStream(t *testing.T, ns int, ap netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.Dial("udp", ap.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("start")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 16)); err != nil {
		t.Fatalf("no datagram from the UDP stream at %s: %v", ap, err)
	}
	return c
}

// mustStopWithin checks that datagrams stop arriving on c within d of
// from: that a gap of 200 ms (40 datagrams' worth) begins before then.
func mustStopWithin(t *testing.T, what string, c net.Conn, from time.Time, d time.Duration) {
	t.Helper()
	buf := make([]byte, 16)
	for {
		last := time.Now()
		c.SetReadDeadline(last.Add(200 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("%s: reading: %v", what, err)
			}
			return
		}
		if last.Sub(from) > d {
			t.Errorf("%s still arrive %s after Apply, want them stopped within %s", what, last.Sub(from), d)
			return
		}
	}
}
