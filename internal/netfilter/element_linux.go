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

// setKind names one of the sets of the table.
type setKind uint8

const (
	setReachMAC   setKind = iota // ether_addr : verdict, every restricted device: the chain of its reach
	setNoticeMAC                 // ether_addr : verdict, cut-off and allowlist-mode devices: their HTTP's notice chain
	setV4                        // ipv4_addr intervals of cut-off prefixes
	setV6                        // ipv6_addr intervals of cut-off prefixes
	setRestrictV4                // ipv4_addr intervals of allowlist- and blocklist-mode prefixes
	setRestrictV6                // ipv6_addr intervals, likewise
	setNetV4                     // ether_addr . ipv4_addr ranges: prefixes allowlists name
	setNetV6                     // ether_addr . ipv6_addr ranges, likewise
	setDoHV4                     // ipv4_addr of DNS-over-HTTPS endpoints; no timeouts
	setDoHV6                     // ipv6_addr of DNS-over-HTTPS endpoints; no timeouts
	setDynV4                     // ether_addr . ipv4_addr the resolver allowed (AllowDestination)
	setDynV6                     // ether_addr . ipv6_addr, likewise
	setPrefixFam                 // nf_proto : verdict, the families with ip: subjects: their prefix chain, until the last of them ends
	numSets
)

// interval reports whether the set holds intervals written as a start
// element and an end element flagged as such.
func (k setKind) interval() bool {
	return k == setV4 || k == setV6 || k == setRestrictV4 || k == setRestrictV6
}

// ranged reports whether the set holds concatenated ranges written as one
// element with a key and an inclusive key end.
func (k setKind) ranged() bool { return k == setNetV4 || k == setNetV6 }

// plain reports whether the set holds single keys, which the kernel can
// look up one by one: not intervals, not ranges.
func (k setKind) plain() bool { return !k.interval() && !k.ranged() }

// verdicts reports whether the set is a verdict map: each element jumps
// to a chain, which its key's to names.
func (k setKind) verdicts() bool { return k == setReachMAC || k == setNoticeMAC || k == setPrefixFam }

// concat reports whether the set's key is `ether_addr . address`.
func (k setKind) concat() bool { return k.ranged() || k.dynamic() }

// timeout reports whether the set's elements carry timeouts.
func (k setKind) timeout() bool { return k != setDoHV4 && k != setDoHV6 }

// dynamic reports whether the set's elements come from AllowDestination
// rather than from the Snapshot.
func (k setKind) dynamic() bool { return k == setDynV4 || k == setDynV6 }

// modeChains are, by mode, the chains its devices' elements jump to: in
// the forward path (setReachMAC) and, for their HTTP, in the intercept
// chain (setNoticeMAC; none for blocklist mode, whose HTTP is left alone).
var modeChains = [numModes]struct{ reach, notice string }{
	modeCutoff:    {chainRefuse, chainNoticeCut},
	modeAllowlist: {chainAllowlist, chainNoticeAL},
	modeBlocklist: {chainBypass, ""},
}

// macMode indexes the per-mode device lists.
type macMode uint8

const (
	modeCutoff macMode = iota
	modeAllowlist
	modeBlocklist
	numModes
)

// needs is what one reach needs of the table.
type needs struct {
	mode      macMode // the device list, and so the verdicts (modeChains), its devices go in
	v4, v6    setKind // the interval sets its ip: prefixes go in
	allowNets bool    // its devices' AllowPrefixes go in setNetV4 and setNetV6
}

// reachNeeds is what each reach needs of the table. A reach that is not
// in it, ReachOpen (a throttle alone), needs nothing of the table: the
// Rate axis is kept by tc, outside it.
var reachNeeds = map[curfew.Reach]needs{
	curfew.ReachCutoff:    {mode: modeCutoff, v4: setV4, v6: setV6},
	curfew.ReachAllowlist: {mode: modeAllowlist, v4: setRestrictV4, v6: setRestrictV6, allowNets: true},
	curfew.ReachBlocklist: {mode: modeBlocklist, v4: setRestrictV4, v6: setRestrictV6},
}

// elemKey identifies one element as the kernel sees it: a MAC (in a
// verdict map, with the chain it jumps to) or an address; an interval of addresses [start, end), where an empty end means
// the interval runs to the last address of its family; or, in a ranged
// set, a range [start, end] of concatenated keys.
type elemKey struct {
	set   setKind
	start string // raw key bytes
	end   string // raw key bytes of the first address after the interval, or the range's last key
	to    string // in a verdict map, the chain the element jumps to
}

// elements maps each element to the instant it must stop applying; the
// zero time for sets without timeouts.
type elements map[elemKey]time.Time

// element is one element to add, with the instant it must stop applying.
type element struct {
	key   elemKey
	until time.Time
}

// live reports whether an element ending at until is still in the kernel
// at now, as far as its timeout goes.
func (k elemKey) live(until, now time.Time) bool { return !k.set.timeout() || until.After(now) }

// macElem is one restricted device. Apply keeps them in slices sorted by
// MAC, so that comparing two snapshots of 100,000 devices is one merge walk
// with no map and little allocation.
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

func macBytes(mac uint64) []byte {
	return []byte{byte(mac >> 40), byte(mac >> 32), byte(mac >> 24), byte(mac >> 16), byte(mac >> 8), byte(mac)}
}

func (m macElem) bytes() []byte { return macBytes(m.mac) }

// keys returns the elements of a device in mode: one in setReachMAC, and
// one in setNoticeMAC if the mode redirects HTTP and the table has that
// map (notice is false without a notice server).
func (m macElem) keys(mode macMode, notice bool) []elemKey {
	mac := string(m.bytes())
	out := []elemKey{{set: setReachMAC, start: mac, to: modeChains[mode].reach}}
	if to := modeChains[mode].notice; notice && to != "" {
		out = append(out, elemKey{set: setNoticeMAC, start: mac, to: to})
	}
	return out
}

// concatKey returns the key of `ether_addr . address` in a concatenated
// set: the MAC padded to 8 bytes (the register size), then the address.
func concatKey(mac uint64, a netip.Addr) string {
	b := make([]byte, 8, 8+16)
	copy(b, macBytes(mac))
	return string(append(b, a.AsSlice()...))
}

// desired returns the elements that enforce s: its restricted devices by
// mode, each list sorted by MAC with one element each, and the other
// elements: cut-off and otherwise restricted prefixes turned into disjoint
// intervals (each ending at the latest Until of the prefixes covering it),
// the prefixes allowlist-mode devices may reach, and the DoH endpoints doh.
// Rules whose Until is not after s.At are left out: an element with no time
// left would never expire.
func desired(s *curfew.Snapshot, doh []netip.Addr) ([numModes][]macElem, elements) {
	var macs [numModes][]macElem
	ranges := elements{}
	for _, a := range doh {
		k := setDoHV4
		if a.Is6() {
			k = setDoHV6
		}
		ranges[elemKey{set: k, start: string(a.AsSlice())}] = time.Time{}
	}
	if s == nil {
		return macs, ranges
	}
	// Most restricted devices are cut off: size that list for all of them
	// (growing a slice of 100,000 by appending costs more than the walk,
	// and a counting pass would walk the devices twice).
	macs[modeCutoff] = make([]macElem, 0, len(s.Devices))
	sorted := [numModes]bool{true, true, true}
	for _, d := range s.Devices {
		n, m, ok := macOf(d, s.At)
		if !ok {
			continue
		}
		mode := n.mode
		if k := len(macs[mode]); k > 0 && macs[mode][k-1].mac >= m.mac {
			sorted[mode] = false
		}
		macs[mode] = append(macs[mode], m)
		if n.allowNets {
			allowedNets(ranges, m.mac, d.AllowPrefixes, d.Until)
		}
	}
	for mode := range macs {
		if !sorted[mode] {
			macs[mode] = dedupMACs(macs[mode])
		}
	}

	prefixRanges(ranges, s)
	return macs, ranges
}

// prefixRanges adds to ranges the elements of s's ip: subjects: cut-off
// and otherwise restricted prefixes turned into disjoint intervals, each
// ending at the latest Until of the prefixes covering it.
func prefixRanges(ranges elements, s *curfew.Snapshot) {
	var sets [numSets][]prefixUntil
	for _, p := range s.Prefixes {
		n, ok := reachNeeds[p.Reach]
		if !ok || !p.Until.After(s.At) || !p.Prefix.IsValid() {
			continue
		}
		pu := prefixUntil{p.Prefix.Masked(), p.Until}
		set := n.v6
		if pu.p.Addr().Is4() {
			set = n.v4
		}
		sets[set] = append(sets[set], pu)
	}
	for set, ps := range sets {
		for _, sp := range spans(ps) {
			ranges[sp.key(setKind(set))] = sp.until
		}
	}
	// A family with ip: subjects is in setPrefixFam, jumping to its
	// prefix chain, until the last of them ends: packets of a family
	// without any skip the prefix rules with one lookup, and those of a
	// family with some meet only that family's.
	for _, f := range families {
		var last time.Time
		for _, set := range []setKind{f.cutoff, f.restricted} {
			for _, pu := range sets[set] {
				if pu.until.After(last) {
					last = pu.until
				}
			}
		}
		if !last.IsZero() {
			ranges[elemKey{set: setPrefixFam, start: string([]byte{f.proto}), to: f.prefixChain}] = last
		}
	}
}

// dedupMACs sorts macs and merges duplicates, keeping the latest until.
// Snapshot.Devices is documented sorted and unique; this copes if not.
func dedupMACs(macs []macElem) []macElem {
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
	return out
}

// allowedNets adds to ranges the prefixes an allowlist leaves the device
// mac (its domains are the resolver's business), as ranges merged so that
// they do not overlap: the kernel refuses overlapping ranges in a
// concatenated set.
func allowedNets(ranges elements, mac uint64, allow []netip.Prefix, until time.Time) {
	var v4, v6 []prefixUntil
	for _, a := range allow {
		p, ok := kernelPrefix(a)
		if !ok {
			continue
		}
		if p.Addr().Is4() {
			v4 = append(v4, prefixUntil{p, until})
		} else {
			v6 = append(v6, prefixUntil{p, until})
		}
	}
	for _, l := range []struct {
		set  setKind
		ps   []prefixUntil
		bits int
	}{{setNetV4, v4, 32}, {setNetV6, v6, 128}} {
		for _, sp := range spans(l.ps) {
			last := lastAddr(l.bits)
			if sp.end.IsValid() {
				last = sp.end.Prev()
			}
			ranges[elemKey{set: l.set, start: concatKey(mac, sp.start), end: concatKey(mac, last)}] = sp.until
		}
	}
}

// kernelPrefix returns p as the kernel's sets hold it: masked, an
// IPv4-mapped IPv6 prefix as the IPv4 prefix it maps; false if p is not
// valid or maps less than all of IPv4's address bits.
func kernelPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() || p.Addr().Zone() != "" {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

func lastAddr(bits int) netip.Addr {
	b := make([]byte, bits/8)
	for i := range b {
		b[i] = 0xff
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// diffMACs walks two sorted device lists of mode (notice as for keys) and returns the
// elements to delete and to add to go from have to want, and the devices
// that are new in the set (not in it in have at now). Elements whose end is not after now are
// not deleted: the kernel may already have expired them, and deleting a
// missing element would fail the whole batch.
func diffMACs(mode macMode, notice bool, have, want []macElem, now time.Time) (del []elemKey, add []element, fresh []macElem) {
	adds := func(m macElem) {
		for _, k := range m.keys(mode, notice) {
			add = append(add, element{k, m.until})
		}
	}
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
				del = append(del, have[i].keys(mode, notice)...)
			}
			i++
		case c > 0:
			adds(want[j])
			fresh = append(fresh, want[j])
			j++
		default:
			if h, w := have[i], want[j]; !h.until.Equal(w.until) {
				if h.until.After(now) {
					del = append(del, h.keys(mode, notice)...)
				} else {
					fresh = append(fresh, w)
				}
				adds(w)
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
		if k.live(u, now) {
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
