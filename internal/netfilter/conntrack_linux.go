//go:build linux

package netfilter

import (
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
)

// targets are what became restricted with one Apply or repair: devices by
// MAC (with their known addresses) and address intervals.
type targets struct {
	macs  map[string][]netip.Addr // raw MAC → statically known addresses
	spans []span
}

func (t *targets) empty() bool { return len(t.macs) == 0 && len(t.spans) == 0 }

func (t *targets) addMAC(mac net.HardwareAddr, addrs []netip.Addr) {
	if t.macs == nil {
		t.macs = map[string][]netip.Addr{}
	}
	t.macs[string(mac)] = append(t.macs[string(mac)], addrs...)
}

// newTargets returns the cut-off prefixes of s that were not cut off by
// prev at now. (Newly cut-off devices come from diffMACs.)
func newTargets(prev, s *curfew.Snapshot, now time.Time) *targets {
	old := map[netip.Prefix]bool{}
	if prev != nil {
		for _, p := range prev.Prefixes {
			if p.Mode == curfew.ModeCutoff && p.Until.After(now) {
				old[p.Prefix.Masked()] = true
			}
		}
	}
	t := &targets{}
	for _, p := range s.Prefixes {
		if p.Mode == curfew.ModeCutoff && p.Until.After(s.At) && !old[p.Prefix.Masked()] {
			t.spans = append(t.spans, span{start: p.Prefix.Masked().Addr(), end: prefixEnd(p.Prefix)})
		}
	}
	return t
}

// flushConntrack deletes the conntrack entries whose original source or
// destination belongs to t: a device's known addresses and every address the
// neighbour table maps to its MAC, and every address in an interval. It
// returns how many entries it deleted.
func (b *Backend) flushConntrack(t *targets) (uint, error) {
	if t.empty() {
		return 0, nil
	}
	h, err := b.handleLocked()
	if err != nil {
		return 0, err
	}
	f := &flowFilter{addrs: map[netip.Addr]bool{}, spans: t.spans}
	for _, addrs := range t.macs {
		for _, a := range addrs {
			f.addrs[a.Unmap()] = true
		}
	}
	if len(t.macs) > 0 {
		neighs, err := h.NeighList(0, netlink.FAMILY_ALL)
		if err != nil {
			return 0, err
		}
		for _, n := range neighs {
			if len(n.HardwareAddr) != 6 {
				continue
			}
			if _, ok := t.macs[string(n.HardwareAddr)]; !ok {
				continue
			}
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				f.addrs[a.Unmap()] = true
			}
		}
	}
	var v4, v6 bool
	for a := range f.addrs {
		v4, v6 = v4 || a.Is4(), v6 || a.Is6()
	}
	for _, s := range f.spans {
		v4, v6 = v4 || s.start.Is4(), v6 || s.start.Is6()
	}
	var n uint
	for _, fam := range []struct {
		on  bool
		fam netlink.InetFamily
	}{{v4, unix.AF_INET}, {v6, unix.AF_INET6}} {
		if !fam.on {
			continue
		}
		d, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam.fam, f)
		n += d
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// flowFilter matches conntrack entries whose original source or destination
// is one of addrs or lies in one of spans. One filter for every target keeps
// the deletion to one dump of the table.
type flowFilter struct {
	addrs map[netip.Addr]bool
	spans []span
}

// MatchConntrackFlow implements [netlink.CustomConntrackFilter].
func (f *flowFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return f.match(flow.Forward.SrcIP) || f.match(flow.Forward.DstIP)
}

func (f *flowFilter) match(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if f.addrs[a] {
		return true
	}
	for _, s := range f.spans {
		if s.contains(a) {
			return true
		}
	}
	return false
}
