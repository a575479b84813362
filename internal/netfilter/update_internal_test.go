//go:build linux

package netfilter

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// TestUpdateMatchesDesired drives an index the way the engine does
// (restrictions put, lifted and ending, devices gaining addresses, time
// passing) and checks after every step that the elements Apply derives
// from the last Snapshot are exactly those desired computes from scratch.
func TestUpdateMatchesDesired(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkUpdate(t, seed) })
	}
}

func checkUpdate(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	doh := []netip.Addr{netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("2620:fe::fe")}
	mac := func(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)} }
	// Every mode, throttle among them: a device can be throttled and
	// under another reach at once, and a throttle alone ending or
	// starting must change no set.
	modes := curfew.Modes
	allows := [][]string{{"news.example"}, {"198.51.100.0/24", "2001:db8::/32"}, {"192.0.2.7/32", "198.51.100.128/25"}}
	rates := []curfew.Rate{512_000, 2_000_000}
	prefixes := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("2001:db8:5::/48")}

	x := curfew.NewIndex(nil, nil)
	b := &Backend{doh: doh}
	prev := &curfew.Snapshot{}
	var open []*curfew.Restriction
	for step := range 300 {
		var tg curfew.Targets
		switch op := rnd.IntN(10); {
		case op < 5 || len(open) == 0:
			r := &curfew.Restriction{
				ID:     curfew.RestrictionID(step + 1),
				Mode:   modes[rnd.IntN(len(modes))],
				Start:  now,
				End:    now.Add(time.Duration(1+rnd.IntN(120)) * time.Minute),
				Reason: "test",
			}
			if rnd.IntN(5) == 0 {
				r.Subject = curfew.Subject{Kind: curfew.SubjectIP, Prefix: prefixes[rnd.IntN(len(prefixes))]}
			} else {
				r.Subject = curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac(rnd.IntN(40))}
			}
			switch r.Mode {
			case curfew.ModeAllowlist:
				r.Allow = allows[rnd.IntN(len(allows))]
			case curfew.ModeBlocklist:
				r.Block = []string{"games.example"}
			case curfew.ModeThrottle:
				r.Rate = rates[rnd.IntN(len(rates))]
			}
			x.Put(r)
			x.Add(&tg, r)
			open = append(open, r)
		case op < 7:
			i := rnd.IntN(len(open))
			x.Add(&tg, open[i])
			x.Delete(open[i].ID)
			open = slices.Delete(open, i, i+1)
		case op < 8:
			d := &curfew.Device{MAC: mac(rnd.IntN(40)), Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 0, byte(rnd.IntN(250))})}}
			x.PutDevice(d)
			tg.AddMAC(d.MAC)
		default:
			now = now.Add(time.Duration(rnd.IntN(30)) * time.Minute)
		}
		x.Advance(&tg, now)
		s := x.Update(prev, now, tg)
		macs, ranges, sorted, d := b.elementsFor(s)
		wantMacs, wantRanges := desired(s, doh)
		if got, want := macsString(macs), macsString(wantMacs); got != want {
			t.Fatalf("step %d: devices from the last snapshot\n%s\nfrom scratch\n%s", step, got, want)
		}
		if got, want := rangesString(ranges), rangesString(wantRanges); got != want {
			t.Fatalf("step %d: other elements from the last snapshot\n%s\nfrom scratch\n%s", step, got, want)
		}
		if d != nil {
			for mode := range numModes {
				gotDel, gotAdd, gotFresh := diffMACs(macMode(mode), true, d.was[mode], d.now[mode], now)
				wantDel, wantAdd, wantFresh := diffMACs(macMode(mode), true, b.macs[mode], macs[mode], now)
				if fmt.Sprint(gotDel, gotAdd, gotFresh) != fmt.Sprint(wantDel, wantAdd, wantFresh) {
					t.Fatalf("step %d, mode %d: changes from the changed devices\n%v %v %v\nfrom the whole lists\n%v %v %v",
						step, mode, gotDel, gotAdd, gotFresh, wantDel, wantAdd, wantFresh)
				}
			}
		} else if step > 0 {
			t.Fatalf("step %d: elements computed from scratch, not from the last snapshot", step)
		}
		if !sorted {
			t.Fatalf("step %d: the index's snapshot is not sorted", step)
		}
		b.macs, b.ranges, b.last, b.sorted = macs, ranges, s, sorted
		prev = s
	}
}

func macsString(macs [numModes][]macElem) string {
	var b strings.Builder
	for mode, l := range macs {
		for _, m := range l {
			fmt.Fprintf(&b, "%d %012x %s %v\n", mode, m.mac, m.until.Format(time.TimeOnly), m.addrs)
		}
	}
	return b.String()
}

func rangesString(r elements) string {
	var l []string
	for k, u := range r {
		l = append(l, fmt.Sprintf("%d %s %s", k.set, keyString(k), u.Format(time.TimeOnly)))
	}
	slices.Sort(l)
	return strings.Join(l, "\n")
}
