//go:build linux

package netfilter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/netnstest"
)

// Bounds of one trafgen sample: the generator stops after fwdGenPackets
// frames or fwdGenWarmup+fwdGenWindow+5s, whichever comes first; the rate
// is counted over fwdGenWindow, after fwdGenWarmup.
const (
	fwdGenPackets = 10_000_000
	fwdGenWarmup  = 500 * time.Millisecond
	fwdGenWindow  = 2 * time.Second
)

// BenchmarkForwardTrafgen measures what the gateway forwards of 64-byte
// frames that trafgen (Debian: netsniff-ng) writes as fast as it can into
// the client's link: unlike iperf3, the generator does not wait on the
// gateway (no socket, no pacing), so the figure is what the forward path,
// and curfew's rules in it, let through. The configurations are those of
// BenchmarkForward but quarantine, alternated the same way; each round
// sends a UDP stream over IPv4 and one over IPv6 (one flow each, to a port
// the server drops), counted at the server's interface. It reports
// medians over the rounds: thousands of frames received (and sent) per
// second, and each configuration's ratio to none. It skips if trafgen is
// not installed; bench/forward.sh installs it.
func BenchmarkForwardTrafgen(b *testing.B) {
	if _, err := exec.LookPath("trafgen"); err != nil {
		b.Skip("skipping: trafgen is not installed (Debian: apt-get install netsniff-ng)")
	}
	n := newFwdNetFor(b, false)
	n.checkRouted(b)
	// The server drops the datagrams before they reach its UDP layer: no
	// ICMP errors flow back through the gateway.
	netnstest.Run(b, n.server, "nft", "add table inet sink")
	netnstest.Run(b, n.server, "nft", "add chain inet sink in { type filter hook prerouting priority -300; policy accept; }")
	netnstest.Run(b, n.server, "nft", "add rule inet sink in udp dport 9 drop")
	for _, a := range []netip.Addr{fwdServer4, fwdServer6} {
		// The gateway learns the server's MAC before the first sample.
		netnstest.Run(b, n.client, "ping", "-c", "1", "-W", "3", a.String())
	}
	gwMAC := ifMAC(b, n.gw, "flan")
	dir := b.TempDir()
	confs := map[string]string{}
	for _, t := range []struct {
		name string
		conf string
	}{
		{"udp4", genFrame4(n.clientMAC, gwMAC)},
		{"udp6", genFrame6(n.clientMAC, gwMAC)},
	} {
		p := filepath.Join(dir, t.name+".cfg")
		if err := os.WriteFile(p, []byte(t.conf), 0o644); err != nil {
			b.Fatal(err)
		}
		confs[t.name] = p
	}
	tests := []string{"udp4", "udp6"}

	cases := []fwdCase{
		{"none", func(*fwdNet, *testing.B) func() { return func() {} }},
		{"conntrack", (*fwdNet).conntrackOnly},
		{"devices", func(n *fwdNet, b *testing.B) func() { return n.curfew(b, false) }},
		{"prefixes", func(n *fwdNet, b *testing.B) func() { return n.curfew(b, true) }},
	}
	samples := map[string][]float64{}
	round := 0
	for b.Loop() {
		for _, c := range fwdShuffle(cases, round) {
			teardown := c.setup(n, b)
			for _, t := range tests {
				recv, sent, err := n.trafgen(b.Context(), confs[t])
				if err != nil {
					teardown()
					b.Fatalf("%s, %s: %v", c.name, t, err)
				}
				samples[c.name+"/"+t] = append(samples[c.name+"/"+t], recv)
				samples[c.name+"/"+t+"-sent"] = append(samples[c.name+"/"+t+"-sent"], sent)
				b.Logf("round %d: %-9s %s %8.1f kpps received, %8.1f kpps sent", round+1, c.name, t, recv, sent)
			}
			teardown()
			time.Sleep(fwdSettle)
		}
		round++
	}
	for _, t := range tests {
		base := samples["none/"+t]
		for _, c := range cases {
			xs := samples[c.name+"/"+t]
			b.ReportMetric(median(xs), "kpps-gen-"+t+"-"+c.name)
			b.ReportMetric(median(samples[c.name+"/"+t+"-sent"]), "kpps-gen-"+t+"-sent-"+c.name)
			if c.name == "none" {
				continue
			}
			var ratios []float64
			for i := range xs {
				if base[i] > 0 {
					ratios = append(ratios, xs[i]/base[i])
				}
			}
			b.ReportMetric(median(ratios), "ratio-gen-"+t+"-"+c.name)
		}
	}
}

// trafgen runs trafgen with the frame in conf on the client's link, one
// process on one CPU, and returns the frames per second, in thousands,
// that the server's interface received and the client's sent during
// fwdGenWindow.
func (n *fwdNet) trafgen(ctx context.Context, conf string) (recv, sent float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, fwdGenWarmup+fwdGenWindow+5*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	var out strings.Builder
	if err := netnstest.Do(n.client, func() error {
		cmd = exec.CommandContext(ctx, "trafgen", "--dev", "fcl", "--conf", conf,
			"--num", strconv.Itoa(fwdGenPackets), "--cpus", "1", "--no-sock-mem", "--notouch-irq", "--no-cpu-stats")
		cmd.Stdout, cmd.Stderr = &out, &out
		// trafgen sends from a child process: stopping it is killing
		// its process group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		return cmd.Start()
	}); err != nil {
		return 0, 0, fmt.Errorf("starting trafgen: %w", err)
	}
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	time.Sleep(fwdGenWarmup) // a rate, counted over a fixed window
	r0, s0, err := n.genCounters()
	if err != nil {
		stop()
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(fwdGenWindow)
	r1, s1, err := n.genCounters()
	d := time.Since(t0).Seconds()
	stop()
	if err != nil {
		return 0, 0, err
	}
	if s1 == s0 {
		return 0, 0, fmt.Errorf("trafgen sent nothing: %s", out.String())
	}
	return float64(r1-r0) / d / 1e3, float64(s1-s0) / d / 1e3, nil
}

// genCounters reads the frames received by the server's interface and
// sent by the client's.
func (n *fwdNet) genCounters() (recv, sent uint64, err error) {
	if recv, err = linkCounter(n.server, "fsrv", "rx"); err != nil {
		return 0, 0, err
	}
	sent, err = linkCounter(n.client, "fcl", "tx")
	return recv, sent, err
}

// linkCounter returns the packet counter of dev in ns in direction dir
// ("rx" or "tx"), as `ip -s -j link` reports it.
func linkCounter(ns int, dev, dir string) (uint64, error) {
	out, err := netnstest.Output(ns, "ip", "-s", "-j", "link", "show", "dev", dev)
	if err != nil {
		return 0, err
	}
	var links []struct {
		Stats64 map[string]struct {
			Packets uint64 `json:"packets"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("ip -s -j link show dev %s: %v: %s", dev, err, out)
	}
	return links[0].Stats64[dir].Packets, nil
}

// ifMAC returns the MAC of dev in ns.
func ifMAC(b *testing.B, ns int, dev string) net.HardwareAddr {
	var mac net.HardwareAddr
	if err := netnstest.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return mac
}

// genBytes renders bs as trafgen byte constants.
func genBytes(bs []byte) string {
	parts := make([]string, len(bs))
	for i, c := range bs {
		parts[i] = fmt.Sprintf("0x%02x", c)
	}
	return strings.Join(parts, ", ")
}

// genFrame4 is a 60-byte frame (64 on the wire) from the client to the
// server: IPv4, UDP to the discard port, 18 bytes of payload, with the
// checksums trafgen computes.
func genFrame4(src, gw net.HardwareAddr) string {
	return fmt.Sprintf(`{
  %s, %s, c16(0x0800),
  0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
  %s, %s,
  c16(40000), c16(9), c16(26), csumudp(14, 34),
  fill(0x00, 18)
}
`, genBytes(gw), genBytes(src), genBytes(netip.MustParseAddr("10.71.1.2").AsSlice()), genBytes(fwdServer4.AsSlice()))
}

// genFrame6 is a 64-byte frame (68 on the wire) from the client to the
// server: IPv6, UDP to the discard port, 2 bytes of payload.
func genFrame6(src, gw net.HardwareAddr) string {
	return fmt.Sprintf(`{
  %s, %s, c16(0x86dd),
  0x60, 0x00, 0x00, 0x00, c16(10), 17, 64,
  %s,
  %s,
  c16(40000), c16(9), c16(10), csumudp6(14, 54),
  fill(0x00, 2)
}
`, genBytes(gw), genBytes(src), genBytes(netip.MustParseAddr("fd00:71:1::2").AsSlice()), genBytes(fwdServer6.AsSlice()))
}
