//go:build linux

package netfilter

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestSweep: overlapping ranges of several schedules become disjoint
// segments, each naming exactly the schedules that cover it; touching
// segments of the same schedules merge.
func TestSweep(t *testing.T) {
	p := netip.MustParsePrefix
	e := func(s string, id int) rangeEntry {
		return rangeEntry{lo: p(s).Addr(), hi: prefixLast(p(s)), id: id}
	}
	str := func(segs []segment) string {
		var b strings.Builder
		for _, s := range segs {
			fmt.Fprintf(&b, "%s-%s%v ", s.lo, s.hi, s.ids)
		}
		return strings.TrimSpace(b.String())
	}
	for _, c := range []struct {
		name string
		in   []rangeEntry
		want string
	}{
		{"none", nil, ""},
		{"one", []rangeEntry{e("10.0.0.0/24", 1)}, "10.0.0.0-10.0.0.255[1]"},
		{"nested", []rangeEntry{e("10.0.0.0/24", 1), e("10.0.0.128/25", 2)},
			"10.0.0.0-10.0.0.127[1] 10.0.0.128-10.0.0.255[1 2]"},
		{"same range twice", []rangeEntry{e("10.0.0.0/24", 2), e("10.0.0.0/24", 1)}, "10.0.0.0-10.0.0.255[1 2]"},
		{"touching, one schedule", []rangeEntry{e("10.0.0.0/25", 1), e("10.0.0.128/25", 1)}, "10.0.0.0-10.0.0.255[1]"},
		{"touching, two schedules", []rangeEntry{e("10.0.0.0/25", 1), e("10.0.0.128/25", 2)},
			"10.0.0.0-10.0.0.127[1] 10.0.0.128-10.0.0.255[2]"},
		{"apart", []rangeEntry{e("10.0.0.0/25", 1), e("10.0.1.0/25", 1)}, "10.0.0.0-10.0.0.127[1] 10.0.1.0-10.0.1.127[1]"},
		{"to the end of the space", []rangeEntry{e("255.255.255.0/24", 1)}, "255.255.255.0-255.255.255.255[1]"},
		{"v6", []rangeEntry{e("fd00::/64", 3), e("fd00::1/128", 4)},
			"fd00::-fd00::[3] fd00::1-fd00::1[3 4] fd00::2-fd00::ffff:ffff:ffff:ffff[3]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := str(sweep(c.in)); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	if s := (segment{lo: p("255.255.255.0/24").Addr(), hi: netip.MustParseAddr("255.255.255.255")}); s.endKey() != nil || len(s.elements("c")) != 1 {
		t.Errorf("a segment to the end of the space has an end element")
	}
}
