//go:build linux

package netfilter_test

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
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// The forwarding benchmark's network: a client and a server namespace, each
// on its own veth link to a gateway namespace that routes between them.
//
//	client (fcl) 10.71.1.2 ── 10.71.1.1 (flan) gw (fwan) 10.71.2.1 ── 10.71.2.2 (fsrv) server
//	             fd00:71:1::2                                        fd00:71:2::2
var (
	fwdGW4     = netip.MustParseAddr("10.71.1.1")
	fwdGW6     = netip.MustParseAddr("fd00:71:1::1")
	fwdServer4 = netip.MustParseAddr("10.71.2.2")
	fwdServer6 = netip.MustParseAddr("fd00:71:2::2")
)

// fwdBenchSize is the number of devices, and of prefixes of each family,
// in the curfew table.
const fwdBenchSize = 100_000

// fwdSeconds is the length of one iperf3 sample, after a second of
// warm-up that is not counted.
const fwdSeconds = 3

// fwdUDPRate bounds the offered rate of the small-packet test: 64-byte
// datagrams at 1 Gbit/s is about 1.9 million packets a second, more than
// the 2-vCPU reference machine forwards, so the forwarding path is the
// bottleneck while the offered load stays bounded.
const fwdUDPRate = "1G"

// fwdCase is one configuration of the gateway.
type fwdCase struct {
	name  string
	setup func(n *fwdNet, b *testing.B) (teardown func())
}

// fwdTest is one kind of traffic.
type fwdTest struct {
	name   string // metric suffix
	server netip.Addr
	udp    bool
}

var fwdTests = []fwdTest{
	{"tcp4", fwdServer4, false},
	{"tcp6", fwdServer6, false},
	{"udp4", fwdServer4, true},
}

// BenchmarkForward measures forwarding through the gateway namespace with
// iperf3, alternating in each round between the gateway's configurations:
//
//   - none: no nftables table at all;
//   - masquerade: a NAT table masquerading to the WAN side, what every
//     IPv4 NAT gateway has, which turns on connection tracking (as
//     curfew's redirect rules do);
//   - devices: curfew's table, with DNS and notice redirects for both
//     families, and 100,000 cut-off devices in its MAC set, none of them
//     the client;
//   - prefixes: the same, plus 100,000 cut-off IPv4 and 100,000 IPv6
//     prefixes, none of them the client's or the server's address;
//   - quarantine: devices, plus the quarantine table
//     (lan.unknown_devices: quarantine) with 100,000 registered MACs, the
//     client's among them: the registered-device lookup every LAN packet
//     pays, against devices, which is lan.unknown_devices: allow.
//
// Each round runs, for every configuration, a TCP stream over IPv4 and
// over IPv6 and a stream of 64-byte UDP datagrams over IPv4 (per-packet
// cost is where the rules show), each for fwdSeconds. The reported
// figures are the medians over the rounds: Gbit/s of TCP, thousands of
// UDP packets received (and sent) per second, and each configuration's
// ratio to none in the same round. Run it with -benchtime=Nx for N
// rounds; it skips if iperf3 is not installed. docs/benchmarks.md has the
// figures.
func BenchmarkForward(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("skipping: iperf3 is not installed (Debian: apt-get install iperf3)")
	}
	n := newFwdNet(b)
	n.checkRouted(b)

	cases := []fwdCase{
		{"none", func(*fwdNet, *testing.B) func() { return func() {} }},
		{"masquerade", (*fwdNet).masquerade},
		{"devices", func(n *fwdNet, b *testing.B) func() { return n.curfew(b, false) }},
		{"prefixes", func(n *fwdNet, b *testing.B) func() { return n.curfew(b, true) }},
		{"quarantine", (*fwdNet).quarantine},
	}
	runForward(b, n, cases)
}

// runForward runs the rounds of a forwarding benchmark over cases, the
// first of which is the baseline the others' ratios are taken to, and
// reports the medians.
func runForward(b *testing.B, n *fwdNet, cases []fwdCase) {
	samples := map[string][]float64{} // by case/test
	round := 0
	for b.Loop() {
		// Each round in its own order, so that neither a drift in the
		// machine's load nor the cleanup after the previous
		// configuration favours one of them.
		for _, c := range fwdShuffle(cases, round) {
			teardown := c.setup(n, b)
			for _, t := range fwdTests {
				v, sent, err := n.iperf(b.Context(), t)
				if err != nil && strings.Contains(err.Error(), "unable to connect to server") {
					// iperf3 -s listens again only some time after a
					// test ends, longer on a loaded machine: once it
					// accepts, the test runs again.
					n.waitServer(b, t.server)
					v, sent, err = n.iperf(b.Context(), t)
				}
				if err != nil {
					teardown()
					b.Fatalf("%s, %s: %v", c.name, t.name, err)
				}
				samples[c.name+"/"+t.name] = append(samples[c.name+"/"+t.name], v)
				if t.udp {
					samples[c.name+"/"+t.name+"-sent"] = append(samples[c.name+"/"+t.name+"-sent"], sent)
					b.Logf("round %d: %-9s %s %8.1f kpps received, %8.1f kpps sent", round+1, c.name, t.name, v, sent)
				} else {
					b.Logf("round %d: %-9s %s %8.2f Gbit/s", round+1, c.name, t.name, v)
				}
			}
			teardown()
			// Let the kernel free a deleted table's elements before
			// the next configuration's samples.
			time.Sleep(fwdSettle)
		}
		round++
	}
	for _, t := range fwdTests {
		base := samples[cases[0].name+"/"+t.name]
		for _, c := range cases {
			xs := samples[c.name+"/"+t.name]
			b.ReportMetric(median(xs), t.unit()+"-"+t.name+"-"+c.name)
			if c.name != cases[0].name {
				// The median of each round's ratio, so that a change
				// in the machine's load between rounds cancels out.
				var ratios []float64
				for i := range xs {
					if base[i] > 0 {
						ratios = append(ratios, xs[i]/base[i])
					}
				}
				b.ReportMetric(median(ratios), "ratio-"+t.name+"-"+c.name)
			}
			if t.udp {
				b.ReportMetric(median(samples[c.name+"/"+t.name+"-sent"]), "kpps-"+t.name+"-sent-"+c.name)
			}
		}
	}
}

// fwdSettle is the pause after each configuration is removed.
const fwdSettle = 2 * time.Second

// fwdShuffle returns the cases in a pseudo-random order fixed by round.
func fwdShuffle(cases []fwdCase, round int) []fwdCase {
	cs := slices.Clone(cases)
	r := rand.New(rand.NewPCG(uint64(round), 0x71))
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return cs
}

func (t fwdTest) unit() string {
	if t.udp {
		return "kpps"
	}
	return "Gbit/s"
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

// fwdNet is the benchmark's network.
type fwdNet struct {
	client, gw, server int // namespace descriptors
	clientMAC          net.HardwareAddr
}

// newFwdNet builds the network and starts the iperf3 server.
func newFwdNet(b *testing.B) *fwdNet { return newFwdNetFor(b, true) }

// newFwdNetFor builds the network and, with iperf, starts the iperf3
// server.
func newFwdNetFor(b *testing.B, iperf bool) *fwdNet {
	n := &fwdNet{client: netnstest.New(b), gw: netnstest.New(b), server: netnstest.New(b)}
	netnstest.Veth(b, n.client, "fcl", n.gw, "flan")
	netnstest.Veth(b, n.server, "fsrv", n.gw, "fwan")
	for _, a := range []struct {
		ns  int
		dev string
		p   string
	}{
		{n.client, "fcl", "10.71.1.2/24"}, {n.client, "fcl", "fd00:71:1::2/64"},
		{n.gw, "flan", "10.71.1.1/24"}, {n.gw, "flan", "fd00:71:1::1/64"},
		{n.server, "fsrv", "10.71.2.2/24"}, {n.server, "fsrv", "fd00:71:2::2/64"},
		{n.gw, "fwan", "10.71.2.1/24"}, {n.gw, "fwan", "fd00:71:2::1/64"},
	} {
		netnstest.Addr(b, a.ns, a.dev, netip.MustParsePrefix(a.p))
	}
	netnstest.Run(b, n.client, "ip", "route", "add", "default", "via", "10.71.1.1")
	netnstest.Run(b, n.client, "ip", "-6", "route", "add", "default", "via", "fd00:71:1::1")
	netnstest.Run(b, n.server, "ip", "route", "add", "default", "via", "10.71.2.1")
	netnstest.Run(b, n.server, "ip", "-6", "route", "add", "default", "via", "fd00:71:2::1")
	netnstest.Run(b, n.gw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	if err := netnstest.Do(n.client, func() error {
		ifi, err := net.InterfaceByName("fcl")
		if err == nil {
			n.clientMAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if !iperf {
		return n
	}

	// The iperf3 server, for the whole benchmark; it serves one test at a
	// time, on both families.
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
	// Wait until it listens.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := n.dial(fwdServer4, 5201)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 -s does not answer: %v: %s", err, stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// waitServer waits, for up to five seconds, until the iperf3 server
// accepts a connection on a.
func (n *fwdNet) waitServer(b *testing.B, a netip.Addr) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := n.dial(a, 5201)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 -s does not answer on %s: %v", a, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dial connects from the client to the server's port.
func (n *fwdNet) dial(a netip.Addr, port uint16) (net.Conn, error) {
	var c net.Conn
	err := netnstest.Do(n.client, func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(a, port).String(), 3*time.Second)
		return err
	})
	return c, err
}

// checkRouted makes sure the traffic is routed through the gateway's
// forward hook: with the client itself cut off, curfew's forward chain
// must answer its connections to the server with a reset, on both
// families. Then the client is lifted again.
func (n *fwdNet) checkRouted(b *testing.B) {
	be := n.backend(b)
	defer be.Close()
	now := time.Now()
	s := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{{MAC: n.clientMAC, Enforcement: cut(now.Add(time.Hour), 1)}}}
	if err := be.Apply(b.Context(), s); err != nil {
		b.Fatalf("Apply: %v", err)
	}
	for _, a := range []netip.Addr{fwdServer4, fwdServer6} {
		c, err := n.dial(a, 5201)
		if err == nil {
			c.Close()
			b.Fatalf("the cut-off client reached %s: the traffic does not go through the gateway's forward chain", a)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			b.Fatalf("the cut-off client connecting to %s: %v, want a reset from the forward chain", a, err)
		}
	}
}

// backend returns a backend for the gateway with curfew's production
// shape: LAN interface, DNS and notice redirects for both families. The
// caller closes it.
func (n *fwdNet) backend(b *testing.B) *netfilter.Backend {
	be, err := netfilter.New(&netfilter.Config{
		Logger:        slog.New(slog.DiscardHandler),
		NetNS:         n.gw,
		LANInterfaces: []string{"flan"},
		DNS4:          netip.AddrPortFrom(fwdGW4, 53),
		DNS6:          netip.AddrPortFrom(fwdGW6, 53),
		Notice4:       netip.AddrPortFrom(fwdGW4, 8480),
		Notice6:       netip.AddrPortFrom(fwdGW6, 8480),
	})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	return be
}

// curfew installs curfew's table with fwdBenchSize devices and, if
// prefixes, fwdBenchSize prefixes of each family; the teardown closes the
// backend, which deletes the table.
func (n *fwdNet) curfew(b *testing.B, prefixes bool) func() {
	be := n.backend(b)
	s := benchSnapshot(time.Now(), fwdBenchSize, nil)
	if slices.ContainsFunc(s.Devices, func(d *curfew.DeviceRule) bool { return bytes.Equal(d.MAC, n.clientMAC) }) {
		b.Fatalf("the client's MAC %s is among the benchmark's devices", n.clientMAC)
	}
	if prefixes {
		s.Prefixes = fwdPrefixes(s.At, fwdBenchSize)
	}
	start := time.Now()
	if err := be.Apply(b.Context(), s); err != nil {
		be.Close()
		b.Fatalf("Apply: %v", err)
	}
	b.Logf("building the table (%d devices, %d prefixes) took %s", len(s.Devices), len(s.Prefixes), time.Since(start).Round(time.Millisecond))
	return func() {
		if err := be.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	}
}

// quarantine installs what devices does and the quarantine table with
// fwdBenchSize registered MACs, the client's among them.
func (n *fwdNet) quarantine(b *testing.B) func() {
	teardown := n.curfew(b, false)
	q, err := netfilter.NewQuarantine(&netfilter.QuarantineConfig{
		Logger: slog.New(slog.DiscardHandler), NetNS: n.gw, LANInterfaces: []string{"flan"},
		DNS4: netip.AddrPortFrom(fwdGW4, 53), DNS6: netip.AddrPortFrom(fwdGW6, 53),
		Notice4: netip.AddrPortFrom(fwdGW4, 8480), Notice6: netip.AddrPortFrom(fwdGW6, 8480),
	})
	if err != nil {
		teardown()
		b.Fatalf("NewQuarantine: %v", err)
	}
	macs := make([]net.HardwareAddr, 0, fwdBenchSize)
	macs = append(macs, n.clientMAC)
	for i := 1; i < fwdBenchSize; i++ {
		macs = append(macs, net.HardwareAddr{0x0a, 0x71, 0, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	start := time.Now()
	if err := q.Apply(b.Context(), &curfew.Snapshot{Quarantine: true, Registered: curfew.NewRegistry(macs)}); err != nil {
		q.Close()
		teardown()
		b.Fatalf("Apply: %v", err)
	}
	b.Logf("building the quarantine table (%d registered) took %s", len(macs), time.Since(start).Round(time.Millisecond))
	return func() {
		if err := q.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
		teardown()
	}
}

// fwdPrefixes returns n single-address IPv4 prefixes in 172.16.0.0/12 and
// n /64s in fd00:99::/32, every other one so that none are adjacent, in
// the order of Snapshot.Prefixes.
func fwdPrefixes(at time.Time, n int) []curfew.PrefixRule {
	ps := make([]curfew.PrefixRule, 0, 2*n)
	for i := range n {
		v := 172<<24 | 16<<16 | uint32(2*i)
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		ps = append(ps, curfew.PrefixRule{Prefix: netip.PrefixFrom(a, 32), Enforcement: cut(at.Add(time.Hour), 1)})
	}
	for i := range n {
		a := [16]byte{0xfd, 0x00, 0x00, 0x99, 0, 0, byte(2 * i >> 16), byte(2 * i >> 8), byte(2 * i)}
		ps = append(ps, curfew.PrefixRule{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 64), Enforcement: cut(at.Add(time.Hour), 1)})
	}
	return ps
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
	return func() {
		netnstest.Run(b, n.gw, "nft", "delete", "table", "inet", "fwdbase")
	}
}

// iperfResult is the part of iperf3's JSON output the benchmark reads.
type iperfResult struct {
	End struct {
		SumSent     iperfSum `json:"sum_sent"`
		SumReceived iperfSum `json:"sum_received"` // as the server counted
	} `json:"end"`
	Error string `json:"error"`
}

type iperfSum struct {
	Seconds       float64 `json:"seconds"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Packets       float64 `json:"packets"`      // UDP
	LostPackets   float64 `json:"lost_packets"` // UDP
}

// iperf runs one iperf3 test from the client. For TCP it returns the
// throughput the server received, in Gbit/s; for UDP the datagrams the
// server received and those the client sent, in thousands per second.
func (n *fwdNet) iperf(ctx context.Context, t fwdTest) (v, sent float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(fwdSeconds+20)*time.Second)
	defer cancel()
	args := []string{"-c", t.server.String(), "-t", strconv.Itoa(fwdSeconds), "-O", "1", "-J", "--connect-timeout", "3000"}
	if t.udp {
		args = append(args, "-u", "-l", "64", "-b", fwdUDPRate)
	}
	var stdout, stderr bytes.Buffer
	err = netnstest.Do(n.client, func() error {
		cmd := exec.CommandContext(ctx, "iperf3", args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	var r iperfResult
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		return 0, 0, fmt.Errorf("iperf3 %s: %v: %s %s", strings.Join(args, " "), errors.Join(err, jerr), stdout.Bytes(), stderr.Bytes())
	}
	if err != nil || r.Error != "" {
		return 0, 0, fmt.Errorf("iperf3 %s: %v: %s", strings.Join(args, " "), err, r.Error)
	}
	recv, snt := r.End.SumReceived, r.End.SumSent
	if !t.udp {
		return recv.BitsPerSecond / 1e9, 0, nil
	}
	if recv.Seconds <= 0 || snt.Seconds <= 0 {
		return 0, 0, fmt.Errorf("iperf3 %s: no UDP summary: %s", strings.Join(args, " "), stdout.Bytes())
	}
	return (recv.Packets - recv.LostPackets) / recv.Seconds / 1e3, snt.Packets / snt.Seconds / 1e3, nil
}
