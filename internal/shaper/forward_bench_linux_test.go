//go:build linux

package shaper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/netnstest"
	"github.com/curfew/curfew/internal/shaper"
)

// The forwarding benchmark's network, as netfilter's: a client and a
// server namespace, each on its own veth link to a gateway namespace that
// routes between them.
//
//	client (fcl) 10.72.1.2 ── 10.72.1.1 (flan) gw (fwan) 10.72.2.1 ── 10.72.2.2 (fsrv) server
//	             fd00:72:1::2                                        fd00:72:2::2
var (
	fwdServer4 = netip.MustParseAddr("10.72.2.2")
	fwdServer6 = netip.MustParseAddr("fd00:72:2::2")
)

// fwdThrottled is the number of throttled devices loaded.
const fwdThrottled = 10_000

// fwdSeconds is the length of one iperf3 sample, after a second of
// warm-up that is not counted.
const fwdSeconds = 3

// fwdUDPRate bounds the offered rate of the small-packet test, as in
// netfilter's forwarding benchmark.
const fwdUDPRate = "1G"

type fwdTest struct {
	name   string
	server netip.Addr
	udp    bool
}

var fwdTests = []fwdTest{
	{"tcp4", fwdServer4, false},
	{"tcp6", fwdServer6, false},
	{"udp4", fwdServer4, true},
}

type fwdCase struct {
	name  string
	setup func(n *fwdNet, b *testing.B) (teardown func())
}

// BenchmarkForwardThrottled measures forwarding through the gateway
// namespace with iperf3, by the method of netfilter's BenchmarkForward,
// alternating in each round between:
//
//   - none: no nftables table and the interfaces' default qdiscs;
//   - masquerade: a NAT table masquerading to the WAN side, which turns
//     on connection tracking, as curfew's restrictions' table always does;
//   - throttled: the Shaper with 10,000 throttled devices (at 2 Mbit/s),
//     none of them the client: its packets pay the table's lookups and
//     HTB's default class on both interfaces, which hold 10,000 classes.
//
// The reported figures are the medians over the rounds (-benchtime=Nx for
// N rounds) of Gbit/s of TCP, thousands of 64-byte UDP datagrams received
// per second, and each configuration's ratio to none in the same round.
// It also reports how long installing the 10,000 throttles took, one
// throttle added after them (a class made), and one added after another
// ended (its spare class reused). It skips if iperf3 is not
// installed.
func BenchmarkForwardThrottled(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("skipping: iperf3 is not installed (Debian: apt-get install iperf3)")
	}
	n := newFwdNet(b)
	var builds, changes, spares []float64
	cases := []fwdCase{
		{"none", func(*fwdNet, *testing.B) func() { return func() {} }},
		{"masquerade", (*fwdNet).masquerade},
		{"throttled", func(n *fwdNet, b *testing.B) func() {
			teardown, build, change, spare := n.throttled(b)
			builds, changes = append(builds, build.Seconds()), append(changes, change.Seconds()*1e3)
			spares = append(spares, spare.Seconds()*1e3)
			return teardown
		}},
	}
	samples := map[string][]float64{}
	round := 0
	for b.Loop() {
		for _, c := range fwdShuffle(cases, round) {
			teardown := c.setup(n, b)
			for _, t := range fwdTests {
				v, err := n.iperf(b.Context(), t)
				if err != nil {
					teardown()
					b.Fatalf("%s, %s: %v", c.name, t.name, err)
				}
				samples[c.name+"/"+t.name] = append(samples[c.name+"/"+t.name], v)
				b.Logf("round %d: %-9s %s %8.2f %s", round+1, c.name, t.name, v, t.unit())
			}
			teardown()
		}
		round++
	}
	for _, t := range fwdTests {
		base := samples["none/"+t.name]
		for _, c := range cases {
			xs := samples[c.name+"/"+t.name]
			b.ReportMetric(median(xs), t.unit()+"-"+t.name+"-"+c.name)
			if c.name == "none" {
				continue
			}
			var ratios []float64
			for i := range xs {
				if base[i] > 0 {
					ratios = append(ratios, xs[i]/base[i])
				}
			}
			b.ReportMetric(median(ratios), "ratio-"+t.name+"-"+c.name)
		}
	}
	b.ReportMetric(median(builds), "s-install-10k")
	b.ReportMetric(median(changes), "ms-change-1")
	b.ReportMetric(median(spares), "ms-change-1-spare")
}

func (t fwdTest) unit() string {
	if t.udp {
		return "kpps"
	}
	return "Gbit/s"
}

func fwdShuffle(cases []fwdCase, round int) []fwdCase {
	cs := slices.Clone(cases)
	r := rand.New(rand.NewPCG(uint64(round), 0x72))
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return cs
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type fwdNet struct {
	client, gw, server int
	clientMAC          net.HardwareAddr
}

func newFwdNet(b *testing.B) *fwdNet {
	n := &fwdNet{client: netnstest.New(b), gw: netnstest.New(b), server: netnstest.New(b)}
	netnstest.Veth(b, n.client, "fcl", n.gw, "flan")
	netnstest.Veth(b, n.server, "fsrv", n.gw, "fwan")
	for _, a := range []struct {
		ns  int
		dev string
		p   string
	}{
		{n.client, "fcl", "10.72.1.2/24"}, {n.client, "fcl", "fd00:72:1::2/64"},
		{n.gw, "flan", "10.72.1.1/24"}, {n.gw, "flan", "fd00:72:1::1/64"},
		{n.server, "fsrv", "10.72.2.2/24"}, {n.server, "fsrv", "fd00:72:2::2/64"},
		{n.gw, "fwan", "10.72.2.1/24"}, {n.gw, "fwan", "fd00:72:2::1/64"},
	} {
		netnstest.Addr(b, a.ns, a.dev, netip.MustParsePrefix(a.p))
	}
	netnstest.Run(b, n.client, "ip", "route", "add", "default", "via", "10.72.1.1")
	netnstest.Run(b, n.client, "ip", "-6", "route", "add", "default", "via", "fd00:72:1::1")
	netnstest.Run(b, n.server, "ip", "route", "add", "default", "via", "10.72.2.1")
	netnstest.Run(b, n.server, "ip", "-6", "route", "add", "default", "via", "fd00:72:2::1")
	netnstest.Run(b, n.gw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	n.clientMAC = mac(b, n.client, "fcl")

	var srv *exec.Cmd
	var stderr bytes.Buffer
	if err := netnstest.Do(n.server, func() error {
		srv = exec.Command("iperf3", "-s")
		srv.Stderr = &stderr
		return srv.Start()
	}); err != nil {
		b.Fatalf("starting iperf3 -s: %v", err)
	}
	b.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		var c net.Conn
		err := netnstest.Do(n.client, func() (err error) {
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(fwdServer4, 5201).String(), time.Second)
			return err
		})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 -s does not answer: %v: %s", err, stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond) // polling for the server, with a deadline
	}
	return n
}

// throttled installs fwdThrottled throttled devices, none of them the
// client, and then one more; it returns the teardown and how long both
// took.
func (n *fwdNet) throttled(b *testing.B) (teardown func(), build, change, spare time.Duration) {
	s, err := shaper.New(&shaper.Config{Logger: slog.New(slog.DiscardHandler), NetNS: n.gw,
		LANInterfaces: []string{"flan"}, WANInterfaces: []string{"fwan"}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	want := make([]shaper.Throttle, 0, fwdThrottled+1)
	for i := range fwdThrottled {
		want = append(want, shaper.Throttle{MAC: net.HardwareAddr{0x0a, 0x72, 0, byte(i >> 16), byte(i >> 8), byte(i)}, Rate: 2_000_000, Until: now.Add(time.Hour)})
	}
	if slices.ContainsFunc(want, func(t shaper.Throttle) bool { return bytes.Equal(t.MAC, n.clientMAC) }) {
		b.Fatalf("the client's MAC %s is among the throttled", n.clientMAC)
	}
	start := time.Now()
	if err := s.Set(b.Context(), now, want); err != nil {
		s.Close()
		b.Fatalf("Set: %v", err)
	}
	build = time.Since(start)
	want = append(want, shaper.Throttle{MAC: net.HardwareAddr{0x0a, 0x72, 1, 0, 0, 0}, Rate: 1_000_000, Until: now.Add(time.Hour)})
	start = time.Now()
	if err := s.Set(b.Context(), now, want); err != nil {
		s.Close()
		b.Fatalf("Set: %v", err)
	}
	change = time.Since(start)
	// One ends, and another device takes its class.
	want[0] = shaper.Throttle{MAC: net.HardwareAddr{0x0a, 0x72, 1, 0, 0, 1}, Rate: 1_000_000, Until: now.Add(time.Hour)}
	want = want[:len(want)-1]
	if err := s.Set(b.Context(), now, want); err != nil {
		s.Close()
		b.Fatalf("Set: %v", err)
	}
	want = append(want, shaper.Throttle{MAC: net.HardwareAddr{0x0a, 0x72, 1, 0, 0, 2}, Rate: 1_000_000, Until: now.Add(time.Hour)})
	start = time.Now()
	if err := s.Set(b.Context(), now, want); err != nil {
		s.Close()
		b.Fatalf("Set: %v", err)
	}
	spare = time.Since(start)
	b.Logf("installing %d throttles took %s, one more %s, one more on a spare class %s", fwdThrottled, build.Round(time.Millisecond), change.Round(time.Microsecond), spare.Round(time.Microsecond))
	return func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	}, build, change, spare
}

// masquerade installs in the gateway what every IPv4 NAT gateway has, a
// table masquerading what leaves by the WAN side, which turns on
// connection tracking there. (An empty NAT chain does not: the kernel
// tracks connections only once a rule needs them.)
func (n *fwdNet) masquerade(b *testing.B) func() {
	const table = `table inet fwdbase {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "fwan" masquerade
	}
}
`
	if err := netnstest.Do(n.gw, func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(table)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft -f: %v: %s", err, out)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return func() { netnstest.Run(b, n.gw, "nft", "delete", "table", "inet", "fwdbase") }
}

type iperfResult struct {
	End struct {
		SumReceived struct {
			Seconds       float64 `json:"seconds"`
			BitsPerSecond float64 `json:"bits_per_second"`
			Packets       float64 `json:"packets"`
			LostPackets   float64 `json:"lost_packets"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs one iperf3 test from the client: TCP in Gbit/s received, UDP
// in thousands of datagrams received per second.
func (n *fwdNet) iperf(ctx context.Context, t fwdTest) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(fwdSeconds+20)*time.Second)
	defer cancel()
	args := []string{"-c", t.server.String(), "-t", strconv.Itoa(fwdSeconds), "-O", "1", "-J", "--connect-timeout", "3000"}
	if t.udp {
		args = append(args, "-u", "-l", "64", "-b", fwdUDPRate)
	}
	var stdout, stderr bytes.Buffer
	err := netnstest.Do(n.client, func() error {
		cmd := exec.CommandContext(ctx, "iperf3", args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	var r iperfResult
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		return 0, fmt.Errorf("iperf3 %s: %v: %s %s", strings.Join(args, " "), errors.Join(err, jerr), stdout.Bytes(), stderr.Bytes())
	}
	if err != nil || r.Error != "" {
		return 0, fmt.Errorf("iperf3 %s: %v: %s", strings.Join(args, " "), err, r.Error)
	}
	recv := r.End.SumReceived
	if !t.udp {
		return recv.BitsPerSecond / 1e9, nil
	}
	if recv.Seconds <= 0 {
		return 0, fmt.Errorf("iperf3 %s: no UDP summary: %s", strings.Join(args, " "), stdout.Bytes())
	}
	return (recv.Packets - recv.LostPackets) / recv.Seconds / 1e3, nil
}
