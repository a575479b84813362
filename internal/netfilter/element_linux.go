//go:build linux

package netfilter

import (
	"cmp"
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

// element is one element to add, with the instant it must stop applying.
type element struct {
	key   elemKey
	until time.Time
}

// macElem is one cut-off device. Apply keeps them in a slice sorted by MAC,
// so that comparing two snapshots of 100,000 devices is one merge walk with
// no map and little allocation.
type macElem struct {
	mac   uint64 // the 48-bit MAC
	until time.Time
	addrs []netip.Addr // statically known, for the conntrack flush
}

func macUint(mac []byte) uint64 {
	var v uint64
	for _, b := range mac {
		v = v<<8 | uint64(b)
	}
	return v
}

func (m macElem) bytes() []byte {
	return []byte{byte(m.mac >> 40), byte(m.mac >> 32), byte(m.mac >> 24), byte(m.mac >> 16), byte(m.mac >> 8), byte(m.mac)}
}

func (m macElem) key() elemKey { return elemKey{set: setMAC, start: string(m.bytes())} }

// desired returns the elements that enforce s: its cut-off devices, sorted
// by MAC with one element each, and its cut-off prefixes turned into
// disjoint intervals, each ending at the latest Until of the prefixes
// covering it. Rules whose Until is not after s.At are left out: an element
// with no time left would never expire.
func desired(s *curfew.Snapshot) ([]macElem, elements) {
	ranges := elements{}
	if s == nil {
		return nil, ranges
	}
	macs := make([]macElem, 0, len(s.Devices))
	sorted := true
	for _, d := range s.Devices {
		if d.Mode != curfew.ModeCutoff || !d.Until.After(s.At) || len(d.MAC) != 6 {
			continue
		}
		m := macElem{mac: macUint(d.MAC), until: d.Until, addrs: d.Addrs}
		if n := len(macs); n > 0 && macs[n-1].mac >= m.mac {
			sorted = false
		}
		macs = append(macs, m)
	}
	if !sorted {
		// Snapshot.Devices is documented sorted and unique; cope if not.
		slices.SortStableFunc(macs, func(a, b macElem) int { return cmp.Compare(a.mac, b.mac) })
		out := macs[:0]
		for _, m := range macs {
			if n := len(out); n > 0 && out[n-1].mac == m.mac {
				if m.until.After(out[n-1].until) {
					out[n-1].until = m.until
				}
				out[n-1].addrs = append(slices.Clip(out[n-1].addrs), m.addrs...)
				continue
			}
			out = append(out, m)
		}
		macs = out
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
		ranges[sp.key(setV4)] = sp.until
	}
	for _, sp := range spans(v6) {
		ranges[sp.key(setV6)] = sp.until
	}
	return macs, ranges
}

// diffMACs walks two sorted device lists and returns the elements to delete
// and to add to go from have to want, and the devices that are newly cut
// off (not cut off in have at now). Elements whose end is not after now are
// not deleted: the kernel may already have expired them, and deleting a
// missing element would fail the whole batch.
func diffMACs(have, want []macElem, now time.Time) (del []elemKey, add []element, fresh []macElem) {
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		var c int
		switch {
		case i == len(have):
			c = 1
		case j == len(want):
			c = -1
		default:
			c = cmp.Compare(have[i].mac, want[j].mac)
		}
		switch {
		case c < 0:
			if have[i].until.After(now) {
				del = append(del, have[i].key())
			}
			i++
		case c > 0:
			add = append(add, element{want[j].key(), want[j].until})
			fresh = append(fresh, want[j])
			j++
		default:
			if h, w := have[i], want[j]; !h.until.Equal(w.until) {
				if h.until.After(now) {
					del = append(del, h.key())
				} else {
					fresh = append(fresh, w)
				}
				add = append(add, element{w.key(), w.until})
			}
			i++
			j++
		}
	}
	return del, add, fresh
}

// diff returns the elements to delete from the kernel and to add to it to
// go from have to want, with the same rule as diffMACs for elements whose
// end has passed.
func diff(have, want elements, now time.Time) (del []elemKey, add []element) {
	for k, u := range have {
		if w, ok := want[k]; ok && w.Equal(u) {
			continue
		}
		if u.After(now) {
			del = append(del, k)
		}
	}
	for k, w := range want {
		if u, ok := have[k]; !ok || !u.Equal(w) {
			add = append(add, element{k, w})
		}
	}
	return del, add
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
