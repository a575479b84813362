//go:build linux

package netfilter

import (
	"container/heap"
	"net/netip"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// setKind names one of the three sets of the table.
type setKind uint8

const (
	setMAC setKind = iota // ether_addr of cut-off devices
	setV4                 // ipv4_addr intervals of cut-off prefixes
	setV6                 // ipv6_addr intervals of cut-off prefixes
)

// elemKey identifies one element as the kernel sees it: a MAC, or an
// interval of addresses [start, end). An empty end means the interval runs
// to the last address of its family.
type elemKey struct {
	set   setKind
	start string // raw key bytes
	end   string // raw key bytes of the first address after the interval
}

// elements maps each element to the instant it must stop applying.
type elements map[elemKey]time.Time

// desired returns the elements that enforce s: its cut-off devices and its
// cut-off prefixes turned into disjoint intervals, each ending at the latest
// Until of the prefixes covering it. Rules whose Until is not after s.At are
// left out: an element with no time left would never expire.
func desired(s *curfew.Snapshot) elements {
	want := elements{}
	if s == nil {
		return want
	}
	for _, d := range s.Devices {
		if d.Mode != curfew.ModeCutoff || !d.Until.After(s.At) || len(d.MAC) != 6 {
			continue
		}
		k := elemKey{set: setMAC, start: string(d.MAC)}
		if u, ok := want[k]; !ok || d.Until.After(u) {
			want[k] = d.Until
		}
	}
	var v4, v6 []prefixUntil
	for _, p := range s.Prefixes {
		if p.Mode != curfew.ModeCutoff || !p.Until.After(s.At) || !p.Prefix.IsValid() {
			continue
		}
		pu := prefixUntil{p.Prefix.Masked(), p.Until}
		if pu.p.Addr().Is4() {
			v4 = append(v4, pu)
		} else {
			v6 = append(v6, pu)
		}
	}
	for _, sp := range spans(v4) {
		want[sp.key(setV4)] = sp.until
	}
	for _, sp := range spans(v6) {
		want[sp.key(setV6)] = sp.until
	}
	return want
}

type prefixUntil struct {
	p     netip.Prefix
	until time.Time
}

// span is an interval [start, end) of one family; an invalid end means the
// end of the address space.
type span struct {
	start, end netip.Addr
	until      time.Time
}

func (s span) key(set setKind) elemKey {
	k := elemKey{set: set, start: string(s.start.AsSlice())}
	if s.end.IsValid() {
		k.end = string(s.end.AsSlice())
	}
	return k
}

// contains reports whether a lies in s.
func (s span) contains(a netip.Addr) bool {
	return a.BitLen() == s.start.BitLen() && s.start.Compare(a) <= 0 && (!s.end.IsValid() || a.Less(s.end))
}

// compareEnd orders interval ends, an invalid end (the top of the address
// space) last.
func compareEnd(a, b netip.Addr) int {
	switch {
	case !a.IsValid() && !b.IsValid():
		return 0
	case !a.IsValid():
		return 1
	case !b.IsValid():
		return -1
	}
	return a.Compare(b)
}

// prefixEnd returns the first address after p, or the invalid Addr if p
// reaches the end of the address space.
func prefixEnd(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	last, _ := netip.AddrFromSlice(b)
	return last.Next()
}

// spans turns prefixes of one family, which may overlap, into sorted
// disjoint intervals, each with the latest until of the prefixes covering
// it. Adjacent intervals with the same until are merged.
func spans(ps []prefixUntil) []span {
	if len(ps) == 0 {
		return nil
	}
	type item struct {
		start, end netip.Addr
		until      time.Time
	}
	items := make([]item, len(ps))
	points := make([]netip.Addr, 0, 2*len(ps))
	for i, p := range ps {
		items[i] = item{p.p.Addr(), prefixEnd(p.p), p.until}
		points = append(points, items[i].start, items[i].end)
	}
	slices.SortFunc(items, func(a, b item) int { return a.start.Compare(b.start) })
	slices.SortFunc(points, compareEnd)
	points = slices.Compact(points)

	var out []span
	var active untilHeap
	next := 0
	for i := 0; i+1 < len(points); i++ {
		at := points[i]
		for next < len(items) && items[next].start.Compare(at) <= 0 {
			heap.Push(&active, cover{items[next].end, items[next].until})
			next++
		}
		// Drop covers that ended at or before this point; the ones below the
		// top are dropped when they surface.
		for active.Len() > 0 && compareEnd(active[0].end, at) <= 0 {
			heap.Pop(&active)
		}
		if active.Len() == 0 {
			continue
		}
		until := active[0].until
		if n := len(out); n > 0 && out[n-1].end == at && out[n-1].until.Equal(until) {
			out[n-1].end = points[i+1]
			continue
		}
		out = append(out, span{at, points[i+1], until})
	}
	return out
}

// cover is a prefix that covers the sweep point until its end.
type cover struct {
	end   netip.Addr
	until time.Time
}

// untilHeap is a max-heap of covers by until.
type untilHeap []cover

func (h untilHeap) Len() int           { return len(h) }
func (h untilHeap) Less(i, j int) bool { return h[i].until.After(h[j].until) }
func (h untilHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *untilHeap) Push(x any)        { *h = append(*h, x.(cover)) }
func (h *untilHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
