//go:build linux

package shaper_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
	"github.com/curfew/curfew/internal/shaper"
)

// lab is a gateway namespace running the Shaper, two client namespaces on
// their own LAN links, and an upstream namespace with a TCP server that
// sends to (download) or reads from (upload) whoever connects.
//
//	client1 (c1) ── lan1 ┐
//	                     gw ── wan ── (up) upstream :9100
//	client2 (c2) ── lan2 ┘
type lab struct {
	gw, client1, client2, upstream int
	mac1, mac2                     net.HardwareAddr
	s                              *shaper.Shaper
}

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

func newLab(t testing.TB) *lab {
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
	l.mac1, l.mac2 = mac(t, l.client1, "c1"), mac(t, l.client2, "c2")
	s, err := shaper.New(&shaper.Config{
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		NetNS:         l.gw,
		LANInterfaces: []string{"lan1", "lan2"},
		WANInterfaces: []string{"wan"},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	l.s = s
	serve(t, l.upstream)
	return l
}

func mac(t testing.TB, ns int, dev string) net.HardwareAddr {
	var m net.HardwareAddr
	if err := netnstest.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			m = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// Transfers are bounded in time and bytes.
const (
	maxTransfer = 10 * time.Second
	maxBytes    = 256 << 20
)

// serve listens on port 9100 (v4 and v6) in ns. A client sends one byte:
// 'd' to be sent data as fast as the path allows (up to maxBytes), 'u' to
// send it. For an upload the server measures: it reads for the number of
// milliseconds the client sent after the 'u' (4 bytes) and answers with
// the rate it saw, in bits per second (a float64's 8 bytes).
func serve(t testing.TB, ns int) {
	var ln net.Listener
	if err := netnstest.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", "[::]:9100")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(maxTransfer))
				var cmd [5]byte
				if _, err := io.ReadFull(c, cmd[:1]); err != nil {
					return
				}
				switch cmd[0] {
				case 'd':
					buf := make([]byte, 64<<10)
					for sent := 0; sent < maxBytes; sent += len(buf) {
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				case 'u':
					if _, err := io.ReadFull(c, cmd[1:]); err != nil {
						return
					}
					window := time.Duration(binary.BigEndian.Uint32(cmd[1:])) * time.Millisecond
					bps, err := measure(c, window, nil)
					if err != nil {
						return
					}
					binary.Write(c, binary.BigEndian, math.Float64bits(bps))
					io.Copy(io.Discard, c) // until the client stops
				}
			})
		}
	})
}

// warmup is left out of every measurement: the TCP handshake and the
// first round trips.
const warmup = 500 * time.Millisecond

// measure reads c and returns the rate, in bits per second, at which bytes
// arrived during window, which starts warmup after the first byte; it
// closes started, if not nil, as the window starts. A transfer that ends
// (maxBytes) before the window does is measured from its first byte to
// its end.
func measure(c net.Conn, window time.Duration, started chan<- struct{}) (float64, error) {
	buf := make([]byte, 64<<10)
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return 0, err
	}
	first := time.Now()
	start, end := first.Add(warmup), first.Add(warmup+window)
	var n, total int64
	for {
		k, err := c.Read(buf)
		now := time.Now()
		total += int64(k)
		if now.After(end) {
			return float64(n*8) / window.Seconds(), nil
		}
		if now.After(start) {
			if started != nil {
				close(started)
				started = nil
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return float64(total*8) / now.Sub(first).Seconds(), nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading after %v: %w", now.Sub(first), err)
		}
	}
}

func dial(ns int, a netip.Addr, cmd []byte) (net.Conn, error) {
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(a, 9100).String(), 3*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(maxTransfer))
	if _, err := c.Write(cmd); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// A transfer measures the rate of one direction between ns and the server
// at a over window; it closes started, if not nil, once its measurement
// is under way.
type transfer func(ns int, a netip.Addr, window time.Duration, started chan<- struct{}) (float64, error)

// download measures what ns receives from the server.
func download(ns int, a netip.Addr, window time.Duration, started chan<- struct{}) (float64, error) {
	c, err := dial(ns, a, []byte{'d'})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return measure(c, window, started)
}

// upload measures, at the server, what it receives from ns. The client
// sends at most maxBytes.
func upload(ns int, a netip.Addr, window time.Duration, started chan<- struct{}) (float64, error) {
	cmd := []byte{'u', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(cmd[1:], uint32(window.Milliseconds()))
	c, err := dial(ns, a, cmd)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	answer := make(chan error, 1)
	var bits uint64
	go func() { answer <- binary.Read(c, binary.BigEndian, &bits) }()
	buf := make([]byte, 64<<10)
	first := time.Now()
	for sent := 0; ; sent += len(buf) {
		if started != nil && time.Since(first) > warmup {
			close(started)
			started = nil
		}
		select {
		case err := <-answer:
			return math.Float64frombits(bits), err
		default:
		}
		if sent >= maxBytes {
			c.(*net.TCPConn).CloseWrite()
			err := <-answer
			return math.Float64frombits(bits), err
		}
		if _, err := c.Write(buf); err != nil {
			err := <-answer
			return math.Float64frombits(bits), err
		}
	}
}

const rate = 2_000_000 // bits per second

// within checks that got is within 20% of want.
func within(t *testing.T, what string, got, want float64) {
	t.Helper()
	t.Logf("%s: %.0f kbit/s (want %.0f)", what, got/1000, want/1000)
	if got < 0.8*want || got > 1.2*want {
		t.Errorf("%s = %.0f kbit/s, want within 20%% of %.0f kbit/s", what, got/1000, want/1000)
	}
}

// unslowed checks that got is far above the throttled rate.
func unslowed(t *testing.T, what string, got float64) {
	t.Helper()
	t.Logf("%s: %.0f kbit/s", what, got/1000)
	if got < 10*rate {
		t.Errorf("%s = %.0f kbit/s, want at least %.0f kbit/s (ten times the throttle)", what, got/1000, 10*rate/1000.0)
	}
}

func mustSet(t testing.TB, s *shaper.Shaper, at time.Time, want ...shaper.Throttle) {
	t.Helper()
	if err := s.Set(t.Context(), at, want); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

// TestThrottleHoldsRate throttles client1 by MAC and checks, for IPv4 and
// IPv6, that its downloads and uploads run within 20% of the rate over 5 s
// while client2's, at the same time, are not slowed.
func TestThrottleHoldsRate(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	const window = 5 * time.Second
	for _, f := range families {
		for _, dir := range []struct {
			name string
			f    transfer
		}{{"download", download}, {"upload", upload}} {
			t.Run(f.name+"/"+dir.name, func(t *testing.T) {
				var other float64
				var otherErr error
				started, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					// While the throttled transfer is measured.
					select {
					case <-started:
					case <-time.After(maxTransfer):
						otherErr = errors.New("the throttled transfer never started")
						return
					}
					other, otherErr = dir.f(l.client2, f.upstream, time.Second, nil)
				}()
				got, err := dir.f(l.client1, f.upstream, window, started)
				<-done
				if err != nil {
					t.Fatalf("throttled %s: %v", dir.name, err)
				}
				if otherErr != nil {
					t.Fatalf("unthrottled %s: %v", dir.name, otherErr)
				}
				within(t, "throttled client's "+dir.name, got, rate)
				unslowed(t, "other client's "+dir.name, other)
			})
		}
	}
}

// TestThrottleByPrefix throttles client1 as a routed subject, by its
// addresses, and checks its downloads on both families.
func TestThrottleByPrefix(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	var want []shaper.Throttle
	for _, f := range families {
		want = append(want, shaper.Throttle{Prefix: f.client1Net, Rate: rate, Until: now.Add(time.Hour)})
	}
	mustSet(t, l.s, now, want...)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			got, err := download(l.client1, f.upstream, 3*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "throttled prefix's download", got, rate)
			other, err := download(l.client2, f.upstream, time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			unslowed(t, "other client's download", other)
		})
	}
}

// TestThrottleEndsInKernel gives the throttle a short life and checks that,
// with nothing of curfew's running, its element times out in the kernel and
// the very same flow then runs at full speed.
func TestThrottleEndsInKernel(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	life := 4 * time.Second
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(life)})
	c, err := dial(l.client1, families[1].upstream, []byte{'d'})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	during, err := measure(c, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "download while throttled", during, rate)
	deadline := now.Add(life + 3*time.Second)
	for strings.Contains(netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac"), l.mac1.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel still holds %s %v after the throttle's end", l.mac1, time.Since(now.Add(life)))
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.CopyN(io.Discard, c, 1<<10); err != nil { // keeps the flow going
			t.Fatal(err)
		}
	}
	c.SetDeadline(time.Now().Add(maxTransfer))
	after, err := measure(c, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	unslowed(t, "the same flow after the throttle's end", after)
}

// TestRemoveLeavesNothing checks that Set with nothing to throttle, and
// Close, take away the table, the qdiscs and the classes, and that the
// kernel's default qdisc is back.
func TestRemoveLeavesNothing(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	for _, dev := range []string{"lan1", "lan2", "wan"} {
		if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", dev); !strings.Contains(got, "htb cf:1") {
			t.Fatalf("tc class show dev %s = %q, want class cf:1", dev, got)
		}
	}
	mustSet(t, l.s, now)
	assertClean(t, l)
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	if err := l.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertClean(t, l)
}

func assertClean(t *testing.T, l *lab) {
	t.Helper()
	if got := netnstest.Run(t, l.gw, "nft", "list", "tables"); strings.Contains(got, shaper.DefaultTable) {
		t.Errorf("nft list tables = %q, want no %s", got, shaper.DefaultTable)
	}
	for _, dev := range []string{"lan1", "lan2", "wan"} {
		if got := netnstest.Run(t, l.gw, "tc", "qdisc", "show", "dev", dev); strings.Contains(got, "htb") {
			t.Errorf("tc qdisc show dev %s = %q, want no htb", dev, got)
		}
		if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", dev); got != "" {
			t.Errorf("tc class show dev %s = %q, want none", dev, got)
		}
	}
}

// TestSetTwiceChangesNothing applies the same throttles twice and then a
// change of one subject's rate and end, and checks what the kernel holds.
func TestSetTwiceChangesNothing(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	want := []shaper.Throttle{
		{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)},
		{MAC: l.mac2, Rate: 4 * rate, Until: now.Add(2 * time.Hour)},
		{Prefix: netip.MustParsePrefix("10.9.0.0/16"), Rate: rate, Until: now.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("10.9.1.0/24"), Rate: rate / 2, Until: now.Add(time.Hour)},
		{Prefix: netip.MustParsePrefix("fd00:9::/48"), Rate: rate, Until: now.Add(time.Hour)},
	}
	mustSet(t, l.s, now, want...)
	classes := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "wan")
	// The same again, with a second, faster throttle of a subject written
	// another way (10.9.1.7/24 is 10.9.1.0/24): the slower holds.
	mustSet(t, l.s, now, append(want, shaper.Throttle{Prefix: netip.MustParsePrefix("10.9.1.7/24"), Rate: 8 * rate, Until: now.Add(time.Hour)})...)
	if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "wan"); got != classes {
		t.Errorf("classes after the second Set:\n%s\nwant:\n%s", got, classes)
	}
	for _, x := range []struct{ set, want string }{
		{"throttle_mac", l.mac1.String() + " timeout 1h expires"},
		{"throttle_mac", l.mac2.String() + " timeout 2h expires"},
		{"throttle_v4", "10.9.0.0/24 timeout 1h expires"}, // the /16 around the /24, which is slower
		{"throttle_v4", "10.9.1.0/24 timeout 1h expires"},
		{"throttle_v4", "10.9.2.0-10.9.255.255 timeout 1h expires"},
		{"throttle_v6", "fd00:9::/48 timeout 1h expires"},
	} {
		if got := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, x.set); !strings.Contains(got, x.want) {
			t.Errorf("map %s:\n%s\nwant an element %q", x.set, got, x.want)
		}
	}
	v4 := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_v4")
	m := regexp.MustCompile(`10\.9\.0\.0/24 [^:]*: (cf:\w+), 10\.9\.1\.0/24 [^:]*: (cf:\w+),\s*10\.9\.2\.0-10\.9\.255\.255 [^:]*: (cf:\w+)`).FindStringSubmatch(v4)
	if m == nil || m[1] != m[3] || m[1] == m[2] {
		t.Errorf("map throttle_v4:\n%s\nwant the /16's class on both sides of the /24, and the /24's own in the middle", v4)
	}
	want[0].Rate = 3 * rate
	mustSet(t, l.s, now, want[0], want[2])
	got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "lan1")
	if !strings.Contains(got, "rate 6Mbit ceil 6Mbit") {
		t.Errorf("tc class show dev lan1 after a change:\n%s\nwant a class of 6Mbit", got)
	}
	if got := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac"); strings.Contains(got, l.mac2.String()) {
		t.Errorf("map throttle_mac still holds %s after its throttle was removed:\n%s", l.mac2, got)
	}
	// A new subject takes a spare class, at its own rate: no class is made.
	newcomer := shaper.Throttle{MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}, Rate: 5 * rate, Until: now.Add(time.Hour)}
	mustSet(t, l.s, now, want[0], want[2], newcomer)
	after := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "lan1")
	if strings.Count(after, "class htb") != strings.Count(got, "class htb") || !strings.Contains(after, "rate 10Mbit ceil 10Mbit") {
		t.Errorf("tc class show dev lan1 after a new throttle:\n%s\nwant the classes of before:\n%s\none of them now 10Mbit", after, got)
	}
}

// TestLeavesOperatorQdisc checks that a root qdisc that curfew did not
// install and that is not a kernel default is left alone, the other
// interfaces shaped all the same, and that Verify shapes on the interface
// once the operator removes theirs.
func TestLeavesOperatorQdisc(t *testing.T) {
	l := newLab(t)
	netnstest.Run(t, l.gw, "tc", "qdisc", "add", "dev", "wan", "root", "handle", "1:", "tbf", "rate", "1gbit", "burst", "64k", "latency", "50ms")
	now := time.Now()
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	if got := netnstest.Run(t, l.gw, "tc", "qdisc", "show", "dev", "wan"); !strings.Contains(got, "tbf 1:") || strings.Contains(got, "htb") {
		t.Errorf("tc qdisc show dev wan = %q, want the operator's tbf alone", got)
	}
	for _, dev := range []string{"lan1", "lan2"} {
		if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", dev); !strings.Contains(got, "rate 2Mbit") {
			t.Errorf("tc class show dev %s = %q, want the throttle's class", dev, got)
		}
	}
	if n, err := l.s.Verify(t.Context()); n != 0 || err != nil {
		t.Fatalf("Verify with the operator's qdisc in place = %d, %v; want 0, nil", n, err)
	}
	netnstest.Run(t, l.gw, "tc", "qdisc", "del", "dev", "wan", "root")
	if n, err := l.s.Verify(t.Context()); n != 1 || err != nil {
		t.Fatalf("Verify once the operator's qdisc is gone = %d, %v; want 1, nil", n, err)
	}
	if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "wan"); !strings.Contains(got, "rate 2Mbit") {
		t.Errorf("tc class show dev wan = %q, want the throttle's class", got)
	}
}

// TestSetRefusesBadThrottles checks the errors of bad input; nothing
// reaches the kernel.
func TestSetRefusesBadThrottles(t *testing.T) {
	s, err := shaper.New(&shaper.Config{Logger: slog.New(slog.DiscardHandler), LANInterfaces: []string{"lan0"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, tt := range []struct {
		name string
		in   []shaper.Throttle
		want string
	}{
		{"no subject", []shaper.Throttle{{Rate: rate, Until: now.Add(time.Hour)}}, "neither a MAC nor a prefix"},
		{"rate 0", []shaper.Throttle{{MAC: mac, Until: now.Add(time.Hour)}}, "rate 0"},
		{"no end", []shaper.Throttle{{MAC: mac, Rate: rate}}, "no end"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Set(t.Context(), now, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Set = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, c := range []*shaper.Config{
		{Logger: slog.New(slog.DiscardHandler)},
		{Logger: slog.New(slog.DiscardHandler), LANInterfaces: []string{"lan0"}, WANInterfaces: []string{"lan0"}},
		{Logger: slog.New(slog.DiscardHandler), LANInterfaces: []string{"a-name-far-too-long-for-linux"}},
	} {
		if _, err := shaper.New(c); err == nil {
			t.Errorf("New(%+v) = nil error, want one", c)
		}
	}
}

// TestRestartAdopts checks that a new Shaper, as after a restart of the
// daemon, takes over what the last one installed instead of building it
// again: the throttled device's class keeps its counters (it was not
// deleted, so the device was never unthrottled), and the update still
// applies.
func TestRestartAdopts(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)},
		shaper.Throttle{Prefix: families[0].client1Net, Rate: rate, Until: now.Add(time.Hour)})
	if _, err := download(l.client1, families[1].upstream, 500*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	el := regexp.MustCompile(regexp.QuoteMeta(l.mac1.String()) + ` [^:]*: (cf:\w+)`).FindStringSubmatch(
		netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac"))
	if el == nil {
		t.Fatalf("no class for %s in throttle_mac", l.mac1)
	}
	sent := regexp.MustCompile(`class htb ` + el[1] + ` .*\n Sent ([1-9][0-9]*) bytes`)
	before := sent.FindStringSubmatch(netnstest.Run(t, l.gw, "tc", "-s", "class", "show", "dev", "lan1"))
	if before == nil {
		t.Fatalf("class %s on lan1 sent nothing:\n%s", el[1], netnstest.Run(t, l.gw, "tc", "-s", "class", "show", "dev", "lan1"))
	}
	next, err := shaper.New(&shaper.Config{Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), NetNS: l.gw,
		LANInterfaces: []string{"lan1", "lan2"}, WANInterfaces: []string{"wan"}})
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	mustSet(t, next, later, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(2 * time.Hour)},
		shaper.Throttle{MAC: l.mac2, Rate: rate, Until: now.Add(2 * time.Hour)})
	classes := netnstest.Run(t, l.gw, "tc", "-s", "class", "show", "dev", "lan1")
	after := sent.FindStringSubmatch(classes)
	if after == nil || len(after[1]) < len(before[1]) || (len(after[1]) == len(before[1]) && after[1] < before[1]) {
		t.Errorf("class %s after the restart:\n%s\nwant it kept, with at least the %s bytes it had sent", el[1], classes, before[1])
	}
	if n := strings.Count(classes, "class htb"); n != 2 {
		t.Errorf("%d classes on lan1 after the restart, want 2 (the prefix's gone, mac2's added):\n%s", n, classes)
	}
	m := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac")
	for _, mac := range []net.HardwareAddr{l.mac1, l.mac2} {
		if !strings.Contains(m, mac.String()+" timeout 1h59m") {
			t.Errorf("map throttle_mac:\n%s\nwant %s with its new end", m, mac)
		}
	}
	if v4 := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_v4"); strings.Contains(v4, "10.1.1.0") {
		t.Errorf("map throttle_v4 still holds the prefix no longer throttled:\n%s", v4)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRepairs removes the table and a qdisc behind the Shaper's back
// and checks that Verify installs them again, and then finds nothing to
// repair.
func TestVerifyRepairs(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	mustSet(t, l.s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	if n, err := l.s.Verify(t.Context()); n != 0 || err != nil {
		t.Fatalf("Verify right after Set = %d, %v; want 0, nil", n, err)
	}
	for _, breakIt := range [][]string{
		{"nft", "flush", "ruleset"},
		{"tc", "qdisc", "del", "dev", "wan", "root"},
	} {
		netnstest.Run(t, l.gw, breakIt[0], breakIt[1:]...)
		if n, err := l.s.Verify(t.Context()); n != 1 || err != nil {
			t.Fatalf("Verify after %v = %d, %v; want 1, nil", breakIt, n, err)
		}
		if got := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac"); !strings.Contains(got, l.mac1.String()+" timeout 59m") {
			t.Errorf("after %v and Verify, map throttle_mac:\n%s\nwant %s with the time it has left", breakIt, got, l.mac1)
		}
		if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "wan"); !strings.Contains(got, "rate 2Mbit") {
			t.Errorf("after %v and Verify, tc class show dev wan = %q, want the 2Mbit class", breakIt, got)
		}
		if n, err := l.s.Verify(t.Context()); n != 0 || err != nil {
			t.Errorf("second Verify after %v = %d, %v; want 0, nil", breakIt, n, err)
		}
	}
}

// TestMissingInterface checks that a WAN interface that does not exist yet
// (a PPP link that is down) does not hold up the throttles on the others,
// and that Verify shapes on it once it appears.
func TestMissingInterface(t *testing.T) {
	l := newLab(t)
	s, err := shaper.New(&shaper.Config{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
		NetNS: l.gw, Table: "curfew_shaper_2", LANInterfaces: []string{"lan1"}, WANInterfaces: []string{"ppp0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	mustSet(t, s, now, shaper.Throttle{MAC: l.mac1, Rate: rate, Until: now.Add(time.Hour)})
	if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "lan1"); !strings.Contains(got, "rate 2Mbit") {
		t.Errorf("tc class show dev lan1 = %q, want the 2Mbit class", got)
	}
	if n, err := s.Verify(t.Context()); n != 0 || err != nil {
		t.Fatalf("Verify with ppp0 still missing = %d, %v; want 0, nil", n, err)
	}
	netnstest.Veth(t, l.gw, "ppp0", l.upstream, "ppp0peer")
	if n, err := s.Verify(t.Context()); n != 1 || err != nil {
		t.Fatalf("Verify once ppp0 exists = %d, %v; want 1, nil", n, err)
	}
	if got := netnstest.Run(t, l.gw, "tc", "class", "show", "dev", "ppp0"); !strings.Contains(got, "rate 2Mbit") {
		t.Errorf("tc class show dev ppp0 = %q, want the 2Mbit class", got)
	}
}

// TestApplySnapshot applies Snapshots as the engine does: a throttled
// device and prefix are held, a throttle under cutoff is moot, a blocklist
// with a throttle is throttled, and the zero Snapshot removes everything.
func TestApplySnapshot(t *testing.T) {
	l := newLab(t)
	now := time.Now()
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x43}
	blocked := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x44}
	snap := &curfew.Snapshot{At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: other, Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour), Rate: rate, RateUntil: now.Add(time.Hour)}},
			{MAC: blocked, Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour), Rate: 2 * rate, RateUntil: now.Add(3 * time.Hour)}},
			{MAC: l.mac1, Enforcement: curfew.Enforcement{Reach: curfew.ReachOpen, Rate: rate, RateUntil: now.Add(2 * time.Hour)}},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("fd00:1:2::/64"), Enforcement: curfew.Enforcement{Reach: curfew.ReachOpen, Rate: rate, RateUntil: now.Add(time.Hour)}},
		},
	}
	if err := l.s.Apply(t.Context(), snap); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	macs := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_mac")
	for _, want := range []string{l.mac1.String() + " timeout 2h", blocked.String() + " timeout 3h"} {
		if !strings.Contains(macs, want) {
			t.Errorf("map throttle_mac:\n%s\nwant %q", macs, want)
		}
	}
	if strings.Contains(macs, other.String()) {
		t.Errorf("map throttle_mac holds the cut-off device %s, whose rate is moot:\n%s", other, macs)
	}
	if v6 := netnstest.Run(t, l.gw, "nft", "list", "map", "inet", shaper.DefaultTable, "throttle_v6"); !strings.Contains(v6, "fd00:1:2::/64 timeout 1h") {
		t.Errorf("map throttle_v6:\n%s\nwant the throttled prefix", v6)
	}
	got, err := download(l.client1, families[0].upstream, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "download of the device throttled through a Snapshot", got, rate)
	if err := l.s.Apply(t.Context(), &curfew.Snapshot{}); err != nil {
		t.Fatalf("Apply of the zero Snapshot: %v", err)
	}
	assertClean(t, l)
}
