//go:build linux

package netfilter

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// deviceChange is one device whose rule differs between two snapshots:
// old or new is nil where the device is in one snapshot only.
type deviceChange struct {
	mac      uint64
	old, new *curfew.DeviceRule
}

// elementsFor returns desired(s, b.doh), computed from the last applied
// Snapshot where it can be (see update), and whether s.Devices is sorted
// and unique.
// When it could, it also returns the elements of the devices that changed,
// before and after, by mode: comparing those alone gives what comparing
// the whole lists would.
func (b *Backend) elementsFor(s *curfew.Snapshot) (macs [numModes][]macElem, ranges elements, sorted bool, d *delta) {
	if macs, ranges, d, ok := b.update(s); ok {
		return macs, ranges, true, d
	}
	macs, ranges = desired(s, b.doh)
	return macs, ranges, sortedDevices(s.Devices), nil
}

// delta is the elements of the devices whose rule changed between two
// snapshots, by mode, each list sorted by MAC.
type delta struct {
	was, now [numModes][]macElem
}

// update returns what desired(s, doh) returns, computed from the last
// applied Snapshot and the elements Apply derived from it, in time
// proportional to the devices whose rule changed rather than to every
// restricted device. It relies on the index sharing a DeviceRule between
// snapshots while the device's enforcement is unchanged: a device whose
// rule is the same pointer in both is skipped without being read, so that
// a restrict among 100,000 devices reads a handful of rules instead of
// 100,000 scattered ones. It reports false, and Apply computes everything
// again, when there is no last Snapshot or s.Devices is not sorted by MAC
// and unique around a change.
func (b *Backend) update(s *curfew.Snapshot) (macs [numModes][]macElem, ranges elements, d *delta, ok bool) {
	last := b.last
	if last == nil || !b.sorted {
		return macs, nil, nil, false
	}
	changes, ok := changedDevices(last.Devices, s.Devices)
	if !ok {
		return macs, nil, nil, false
	}

	// The changed devices' elements, old and new, by mode, sorted by MAC.
	d = &delta{}
	was, now := &d.was, &d.now
	netsChanged := false
	var allowed []*curfew.DeviceRule // the changed devices now in allowlist mode
	for _, c := range changes {
		if c.old != nil {
			if n, m, ok := macOf(c.old, last.At); ok {
				was[n.mode] = append(was[n.mode], m)
				netsChanged = netsChanged || n.allowNets
			}
		}
		if c.new != nil {
			if n, m, ok := macOf(c.new, s.At); ok {
				now[n.mode] = append(now[n.mode], m)
				if n.allowNets {
					allowed = append(allowed, c.new)
				}
			}
		}
	}
	netsChanged = netsChanged || len(allowed) > 0
	for mode := range numModes {
		macs[mode] = b.macs[mode]
		if len(was[mode])+len(now[mode]) > 0 {
			macs[mode] = patchMACs(b.macs[mode], was[mode], now[mode])
		}
	}

	prefixesChanged := !samePrefixes(last.Prefixes, s.Prefixes)
	if !netsChanged && !prefixesChanged {
		return macs, b.ranges, d, true
	}
	ranges = maps.Clone(b.ranges)
	if netsChanged {
		// The allowed nets of a device are keyed by its MAC: drop the old
		// ones of every changed device whose reach had them, then add the
		// new.
		gone := make(map[uint64]bool)
		for mode, n := range modeNeeds() {
			if n.allowNets {
				for _, m := range was[mode] {
					gone[m.mac] = true
				}
			}
		}
		for k := range ranges {
			if (k.set == setNetV4 || k.set == setNetV6) && gone[concatMAC(k.start)] {
				delete(ranges, k)
			}
		}
		for _, d := range allowed {
			allowedNets(ranges, macUint(d.MAC), d.AllowPrefixes, d.Until)
		}
	}
	if prefixesChanged {
		for k := range ranges {
			if k.set.prefixed() {
				delete(ranges, k)
			}
		}
		prefixRanges(ranges, s)
	}
	return macs, ranges, d, true
}

// changedDevices merge-walks two device lists sorted by MAC and returns
// the devices whose rule differs, sorted by MAC. Runs of the same rule
// pointers are skipped without reading the rules; around each difference
// it checks that want is sorted and unique, and reports false if not.
func changedDevices(have, want []*curfew.DeviceRule) ([]deviceChange, bool) {
	var out []deviceChange
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		if i < len(have) && j < len(want) && have[i] == want[j] {
			i++
			j++
			continue
		}
		if j < len(want) && !sortedAround(want, j) {
			return nil, false
		}
		var c int
		switch {
		case i == len(have):
			c = 1
		case j == len(want):
			c = -1
		default:
			c = cmp.Compare(macUint(have[i].MAC), macUint(want[j].MAC))
		}
		switch {
		case c < 0:
			out = append(out, deviceChange{mac: macUint(have[i].MAC), old: have[i]})
			i++
		case c > 0:
			out = append(out, deviceChange{mac: macUint(want[j].MAC), new: want[j]})
			j++
		default:
			out = append(out, deviceChange{mac: macUint(want[j].MAC), old: have[i], new: want[j]})
			i++
			j++
		}
	}
	return out, true
}

// sortedDevices reports whether l is sorted by MAC and unique.
func sortedDevices(l []*curfew.DeviceRule) bool {
	for j := 1; j < len(l); j++ {
		if macUint(l[j-1].MAC) >= macUint(l[j].MAC) {
			return false
		}
	}
	return true
}

// sortedAround reports whether l[j] sorts strictly between its neighbours.
func sortedAround(l []*curfew.DeviceRule, j int) bool {
	m := macUint(l[j].MAC)
	if j > 0 && macUint(l[j-1].MAC) >= m {
		return false
	}
	return j+1 == len(l) || m < macUint(l[j+1].MAC)
}

// macOf returns the element that enforces d's reach at the instant at,
// and what that reach needs of the table; false if d's reach needs nothing
// there (see desired): open, or ended.
func macOf(d *curfew.DeviceRule, at time.Time) (needs, macElem, bool) {
	n, ok := reachNeeds[d.Reach]
	if !ok || !d.Until.After(at) || len(d.MAC) != 6 {
		return needs{}, macElem{}, false
	}
	return n, macElem{mac: macUint(d.MAC), until: d.Until, addrs: d.Addrs}, true
}

// modeNeeds returns reachNeeds indexed by device list.
func modeNeeds() [numModes]needs {
	var by [numModes]needs
	for _, n := range reachNeeds {
		by[n.mode] = n
	}
	return by
}

// patchMACs returns a copy of the sorted list have in which the elements
// of was (a sorted sub-list of have) are replaced by those of now (sorted):
// a removed device is dropped, a new one inserted in order. The runs
// between two edits are copied whole.
func patchMACs(have, was, now []macElem) []macElem {
	out := make([]macElem, 0, len(have)-len(was)+len(now))
	pos, w, k := 0, 0, 0
	for w < len(was) || k < len(now) {
		var m uint64 // the next MAC edited
		switch {
		case w == len(was):
			m = now[k].mac
		case k == len(now):
			m = was[w].mac
		default:
			m = min(was[w].mac, now[k].mac)
		}
		i, found := slices.BinarySearchFunc(have[pos:], m, func(e macElem, m uint64) int { return cmp.Compare(e.mac, m) })
		out = append(out, have[pos:pos+i]...)
		pos += i
		if w < len(was) && was[w].mac == m {
			w++
			if found {
				pos++
			}
		}
		if k < len(now) && now[k].mac == m {
			out = append(out, now[k])
			k++
		}
	}
	return append(out, have[pos:]...)
}

// samePrefixes reports whether two prefix rule lists enforce the same
// elements: the same prefixes, reaches and ends, in the same order.
func samePrefixes(a, b []curfew.PrefixRule) bool {
	return slices.EqualFunc(a, b, func(x, y curfew.PrefixRule) bool {
		return x.Prefix == y.Prefix && x.Reach == y.Reach && x.Until.Equal(y.Until)
	})
}

// concatMAC returns the MAC at the front of a concatenated key of the
// allowed-nets sets (see concatKey).
func concatMAC(key string) uint64 {
	if len(key) < 6 {
		return 0
	}
	return macUint([]byte(key[:6]))
}

// prefixed reports whether the set holds elements of ip: subjects.
func (k setKind) prefixed() bool {
	return k == setV4 || k == setV6 || k == setRestrictV4 || k == setRestrictV6 || k == setPrefixFam
}
