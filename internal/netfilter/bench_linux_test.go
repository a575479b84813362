//go:build linux

package netfilter_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

var benchSizes = []int{10, 1_000, 10_000, 100_000}

// benchMAC returns the MAC of the i-th benchmark device.
func benchMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{2, 0xbe, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// benchSnapshot restricts n devices, plus extra if not nil.
func benchSnapshot(at time.Time, n int, extra *curfew.DeviceRule) *curfew.Snapshot {
	s := &curfew.Snapshot{At: at, Devices: make([]*curfew.DeviceRule, 0, n+1)}
	for i := range n {
		s.Devices = append(s.Devices, &curfew.DeviceRule{MAC: benchMAC(i), Enforcement: cut(at.Add(time.Hour), 1)})
	}
	if extra != nil {
		s.Devices = append(s.Devices, extra)
	}
	return s
}

// fillConntrack creates n established TCP entries in ns, so that the
// conntrack flush has a table to search.
func fillConntrack(tb testing.TB, ns, n int) {
	h, err := netlink.NewHandleAt(netns.NsHandle(ns), unix.NETLINK_NETFILTER)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	for i := range n {
		src := net.IPv4(10, 8, byte(i>>8), byte(i)).To4()
		dst := net.IPv4(10, 2, 0, 2).To4()
		f := &netlink.ConntrackFlow{
			FamilyType: unix.AF_INET,
			Forward:    netlink.IPTuple{SrcIP: src, DstIP: dst, Protocol: unix.IPPROTO_TCP, SrcPort: 40000, DstPort: 443},
			Reverse:    netlink.IPTuple{SrcIP: dst, DstIP: src, Protocol: unix.IPPROTO_TCP, SrcPort: 443, DstPort: 40000},
			TimeOut:    600,
			ProtoInfo:  &netlink.ProtoInfoTCP{State: 3}, // established
		}
		if err := h.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
			tb.Fatalf("creating conntrack entry: %v", err)
		}
	}
}

// BenchmarkRestrictOne measures the time from Apply of a snapshot that adds
// one device to enforcement being in place (batch committed, conntrack
// entries of the device deleted), with n devices already in the sets; and,
// for comparison, reloading an equivalent table of n+1 devices with nft -f.
// The namespace holds 1,000 conntrack entries.
func BenchmarkRestrictOne(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("netlink/n=%d", n), func(b *testing.B) {
			ns := netnstest.New(b)
			fillConntrack(b, ns, 1000)
			be := newBackend(b, ns)
			at := time.Now()
			base := benchSnapshot(at, n, nil)
			start := time.Now()
			mustApply(b, be, base)
			b.Logf("building the table with %d devices took %s", n, time.Since(start))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				d := curfew.DeviceRule{
					MAC:         benchMAC(n + 1 + i),
					Addrs:       []netip.Addr{netip.AddrFrom4([4]byte{10, 8, 0, byte(i)})},
					Enforcement: cut(at.Add(time.Hour), 2),
				}
				s := benchSnapshot(at, n, &d)
				b.StartTimer()
				mustApply(b, be, s)
				b.StopTimer()
				mustApply(b, be, base) // lift it again, untimed
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("nft-f/n=%d", n), func(b *testing.B) {
			ns := netnstest.New(b)
			fillConntrack(b, ns, 1000)
			path := filepath.Join(b.TempDir(), "ruleset.nft")
			if err := os.WriteFile(path, []byte(nftRuleset(b, n+1)), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := netnstest.Do(ns, func() error {
					out, err := exec.Command("nft", "-f", path).CombinedOutput()
					if err != nil {
						return fmt.Errorf("nft -f: %v: %s", err, out)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// nftRuleset renders the table the backend builds, with n devices, as an
// nft script that replaces the table atomically. It takes the table's
// structure from what a backend builds in a scratch namespace, so the two
// stay equivalent.
func nftRuleset(tb testing.TB, n int) string {
	ns := netnstest.New(tb)
	be := newBackend(tb, ns)
	mustApply(tb, be, &curfew.Snapshot{At: time.Now()})
	empty := netnstest.Ruleset(tb, ns)
	const set = "map reach_mac {\n\t\ttype ether_addr : verdict\n\t\tflags timeout\n"
	if !strings.Contains(empty, set) {
		tb.Fatalf("no empty reach_mac map in\n%s", empty)
	}
	var w strings.Builder
	w.WriteString(set + "\t\telements = {")
	for i := range n {
		if i > 0 {
			w.WriteString(",")
		}
		if i%8 == 0 {
			w.WriteString("\n\t\t\t")
		}
		fmt.Fprintf(&w, " %s timeout 1h : jump refuse", benchMAC(i))
	}
	w.WriteString(" }\n")
	return "table inet curfew\ndelete table inet curfew\n" + strings.Replace(empty, set, w.String(), 1)
}

// BenchmarkAllowDestination measures AllowDestination, which the resolver
// calls before it sends an allowlist-mode client each answer: adding a new
// destination (one netlink batch and a generation read), extending one
// whose TTL grew, and the same answer again (no kernel call), serially and
// from parallel callers (as concurrent queries are).
func BenchmarkAllowDestination(b *testing.B) {
	ns := netnstest.New(b)
	be := newBackend(b, ns)
	mac := benchMAC(1)
	at := time.Now()
	mustApply(b, be, &curfew.Snapshot{At: at, Devices: []*curfew.DeviceRule{{MAC: mac,
		Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: at.Add(24 * time.Hour), AllowNames: []string{"news.example"}}}}})
	addr := func(i int) netip.Addr {
		if i%2 == 1 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 24), 15: byte(i)}).Next()
		}
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	var next int // distinct destinations across the sub-benchmarks
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			next++
			if err := be.AllowDestination(mac, addr(next), time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	ttl := time.Minute // grows across runs of the sub-benchmark (-count)
	b.Run("extend", func(b *testing.B) {
		a := addr(-1)
		for b.Loop() {
			ttl += 2 * time.Second // past the refresh slack: every call extends
			if err := be.AllowDestination(mac, a, ttl); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("same", func(b *testing.B) {
		a := addr(-2)
		for b.Loop() {
			if err := be.AllowDestination(mac, a, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-parallel", func(b *testing.B) {
		var mu sync.Mutex
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				next++
				a := addr(next)
				mu.Unlock()
				if err := be.AllowDestination(mac, a, time.Hour); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
