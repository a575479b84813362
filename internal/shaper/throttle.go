package shaper

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// A Throttle holds one subject's traffic through the gateway to Rate in
// each direction until Until.
type Throttle struct {
	// MAC is a device's MAC address; nil for a routed subject.
	MAC net.HardwareAddr
	// Prefix is a routed subject's addresses; used only when MAC is nil.
	Prefix netip.Prefix
	// Rate is in bits per second; more than zero.
	Rate uint64
	// Until is when the kernel ends the throttle by itself.
	Until time.Time
}

// key names the subject of t: the MAC, or the masked prefix.
func (t Throttle) key() string {
	if t.MAC != nil {
		return t.MAC.String()
	}
	return t.Prefix.Masked().String()
}

func (t Throttle) validate() error {
	switch {
	case t.MAC == nil && !t.Prefix.IsValid():
		return fmt.Errorf("shaper: throttle with neither a MAC nor a prefix")
	case t.MAC != nil && len(t.MAC) != 6:
		return fmt.Errorf("shaper: throttle of %s: want a 48-bit MAC", t.MAC)
	case t.Rate == 0:
		return fmt.Errorf("shaper: throttle of %s: rate 0", t.key())
	case t.Until.IsZero():
		return fmt.Errorf("shaper: throttle of %s: no end", t.key())
	}
	return nil
}

// Burst returns the bucket size, in bytes, that HTB gives a class of rate
// bits per second: the bytes of 50 ms at that rate, and never less than
// two full-size Ethernet frames, so that one frame always fits.
func Burst(rate uint64) uint32 {
	const floor = 2 * 1514
	b := rate / 8 / 20 // 50 ms
	if b < floor {
		return floor
	}
	if b > 1<<30 {
		return 1 << 30
	}
	return uint32(b)
}

// A span is a run of addresses [start, end) of one family that one routed
// subject's class covers; an invalid end means it runs to the last address
// of the family.
type span struct {
	start, end netip.Addr
	key        string // the subject
	until      int64  // the subject's end, in Unix milliseconds
}

// spans turns routed subjects' prefixes, which may nest, into disjoint
// runs of addresses, as an interval map needs: where prefixes overlap, the
// lowest rate wins (the strictest), and on equal rates the longer prefix.
// The result is sorted by start.
func spans(ts []Throttle) []span {
	var points []netip.Addr
	for _, t := range ts {
		p := t.Prefix.Masked()
		points = append(points, p.Addr())
		if next, ok := after(p); ok {
			points = append(points, next)
		}
	}
	slices.SortFunc(points, func(a, b netip.Addr) int { return a.Compare(b) })
	points = slices.Compact(points)
	var out []span
	for i, at := range points {
		best := -1
		for j, t := range ts {
			p := t.Prefix.Masked()
			if !p.Contains(at) {
				continue
			}
			if best < 0 || t.Rate < ts[best].Rate ||
				(t.Rate == ts[best].Rate && p.Bits() > ts[best].Prefix.Bits()) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		var end netip.Addr
		if i+1 < len(points) && points[i+1].Is4() == at.Is4() {
			end = points[i+1]
		} else if next, ok := after(ts[best].Prefix.Masked()); ok {
			end = next
		}
		k := ts[best].key()
		if n := len(out); n > 0 && out[n-1].key == k && out[n-1].end == at {
			out[n-1].end = end // the same subject on both sides of a boundary
			continue
		}
		out = append(out, span{start: at, end: end, key: k, until: ts[best].Until.UnixMilli()})
	}
	return out
}

// after returns the first address after p, false if p runs to the last
// address of its family.
func after(p netip.Prefix) (netip.Addr, bool) {
	last := p.Addr().As16()
	n := 128
	if p.Addr().Is4() {
		n = 32
	}
	b := last[:]
	if p.Addr().Is4() {
		a4 := p.Addr().As4()
		b = a4[:]
	}
	for i := p.Bits(); i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			a, _ := netip.AddrFromSlice(b)
			return a, true
		}
	}
	return netip.Addr{}, false
}
