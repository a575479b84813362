//go:build linux

package netfilter_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// windowsBenchSize is the number of schedules of the windows benchmarks.
const windowsBenchSize = 10_000

// distinctSchedules is manySchedules with every schedule's windows its
// own (a minute apart), so that no two share a set: the worst case.
func distinctSchedules(now time.Time, n int) []curfew.KernelSchedule {
	ss := manySchedules(now, n)
	for i := range ss {
		for j := range ss[i].Windows {
			ss[i].Windows[j].Start = ss[i].Windows[j].Start.Add(time.Duration(i/60) * time.Second)
		}
	}
	return ss
}

// BenchmarkWindowsLoad measures what it costs to hand the kernel the
// windows of 10,000 schedules of a week each (manySchedules: school
// nights from 21:00 for nine hours, starting on one of 60 minutes, and
// weekday lunch hours at one of four quarter-hours; a device each, every
// seventh on a routed /24 instead, every tenth an allowlist), including
// the computation in user space (PlanKernelWindows and the diff):
//
//   - scratch: a table built from nothing, in a fresh namespace;
//   - scratch-distinct: the same with every schedule's windows its own;
//   - change-one: one schedule's windows change, the others stay;
//   - same: the same schedules again (a recompute that finds no change);
//   - pipapo-N: the alternative, every window of N schedules as an
//     element of one concatenated `ether_addr . time` interval set, the
//     shape a 64-bit time range expands to many pipapo rules in.
func BenchmarkWindowsLoad(b *testing.B) {
	now := time.Now()
	scratch := func(ss []curfew.KernelSchedule) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ns := netnstest.New(b)
				w := newWindows(b, ns, "lan0")
				b.StartTimer()
				if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("scratch", scratch(manySchedules(now, windowsBenchSize)))
	b.Run("scratch-distinct", scratch(distinctSchedules(now, windowsBenchSize)))
	b.Run("change-one", func(b *testing.B) {
		ss := manySchedules(now, windowsBenchSize)
		w := newWindows(b, netnstest.New(b), "lan0")
		if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
			b.Fatal(err)
		}
		orig := ss[4321].Windows
		i := 0
		for b.Loop() {
			// Alternately drop its first day and bring it back.
			if i%2 == 0 {
				ss[4321].Windows = orig[2:]
			} else {
				ss[4321].Windows = orig
			}
			i++
			if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
				b.Fatal(err)
			}
			if c := w.LastChange(); c.Rebuilt || c.Sets != 1 {
				b.Fatalf("one change sent %+v", c)
			}
		}
	})
	b.Run("same", func(b *testing.B) {
		ss := manySchedules(now, windowsBenchSize)
		w := newWindows(b, netnstest.New(b), "lan0")
		if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{100, 300} {
		b.Run(fmt.Sprintf("pipapo-%d", n), func(b *testing.B) {
			ss := manySchedules(now, n)
			for b.Loop() {
				b.StopTimer()
				ns := netnstest.New(b)
				b.StartTimer()
				pipapoLoad(b, ns, ss)
			}
		})
	}
}

// pipapoLoad builds one concatenated interval set of every window of
// every device of ss, keyed by `ether saddr . meta time`, in one batch.
func pipapoLoad(b *testing.B, ns int, ss []curfew.KernelSchedule) {
	c, err := nftables.New(nftables.WithNetNSFd(ns), nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
		if err := c.SetWriteBuffer(64 << 20); err != nil {
			return err
		}
		return c.SetReadBuffer(64 << 20)
	}))
	if err != nil {
		b.Fatal(err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "pipapo"})
	typ, err := nftables.ConcatSetType(nftables.TypeEtherAddr, nftables.TypeTimeDate)
	if err != nil {
		b.Fatal(err)
	}
	s := &nftables.Set{Table: t, Name: "windows", KeyType: typ, Interval: true, Concatenation: true}
	var els []nftables.SetElement
	key := func(mac net.HardwareAddr, at time.Time) []byte {
		k := make([]byte, 16) // the MAC padded to 8 bytes, then the time
		copy(k, mac)
		binary.BigEndian.PutUint64(k[8:], uint64(at.UnixNano()))
		return k
	}
	for _, sc := range ss {
		for _, d := range sc.Devices {
			for _, w := range sc.Windows {
				els = append(els, nftables.SetElement{Key: key(d.MAC, w.Start), KeyEnd: key(d.MAC, w.End.Add(-time.Nanosecond))})
			}
		}
	}
	if err := c.AddSet(s, nil); err != nil {
		b.Fatal(err)
	}
	for len(els) > 0 {
		n := min(len(els), 500)
		if err := c.SetAddElements(s, els[:n]); err != nil {
			b.Fatal(err)
		}
		els = els[n:]
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkForwardWindows measures forwarding through the gateway as
// BenchmarkForward does, alternating in each round between:
//
//   - none: no nftables table at all;
//   - windows: the windows table with 10,000 schedules (manySchedules),
//     none of them on the client;
//   - windows-client: the same, plus a schedule on the client whose
//     windows are all closed: each of its packets goes to its chain and
//     is matched against its windows.
func BenchmarkForwardWindows(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("skipping: iperf3 is not installed (Debian: apt-get install iperf3)")
	}
	n := newFwdNet(b)
	n.checkRouted(b)
	load := func(client bool) func(n *fwdNet, b *testing.B) func() {
		return func(n *fwdNet, b *testing.B) func() {
			now := time.Now()
			ss := manySchedules(now, windowsBenchSize)
			if client {
				ss = append(ss, curfew.KernelSchedule{ID: "client", Reach: curfew.ReachCutoff,
					Devices: []curfew.KernelDevice{{MAC: n.clientMAC, Addrs: []netip.Addr{netip.MustParseAddr("10.71.1.2"), netip.MustParseAddr("fd00:71:1::2")}}},
					Windows: []curfew.TimeRange{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}, {Start: now.Add(-2 * time.Hour), End: now.Add(-time.Minute)}}})
			}
			w, err := netfilter.NewWindows(&netfilter.WindowsConfig{Logger: slog.New(slog.DiscardHandler), NetNS: n.gw, LANInterfaces: []string{"flan"}})
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Apply(b.Context(), plan(b, now, ss...)); err != nil {
				w.Close()
				b.Fatal(err)
			}
			return func() {
				if err := w.Close(); err != nil {
					b.Errorf("Close: %v", err)
				}
			}
		}
	}
	runForward(b, n, []fwdCase{
		{"none", func(*fwdNet, *testing.B) func() { return func() {} }},
		{"windows", load(false)},
		{"windows-client", load(true)},
	})
}
