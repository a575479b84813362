//go:build linux

package netfilter

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// targets are the devices that became restricted with one Apply or
// repair, by MAC, with their known addresses.
//
// Prefixes are not among them: their rules refuse the flows they opened
// by conntrack's direction, which deleting the flows' entries would lose.
// A flow whose entry is deleted is picked up again at its next packet, as
// opened by whichever end sent that packet; were it the far end, the
// prefix's own packets would pass as replies.
type targets struct {
	macs map[string][]netip.Addr // raw MAC → statically known addresses
}

func (t *targets) empty() bool { return len(t.macs) == 0 }

func (t *targets) addMAC(mac net.HardwareAddr, addrs []netip.Addr) {
	if t.macs == nil {
		t.macs = map[string][]netip.Addr{}
	}
	t.macs[string(mac)] = append(t.macs[string(mac)], addrs...)
}

// flushConntrack deletes the conntrack entries whose original source or
// destination belongs to t: a device's known addresses and every address the
// neighbour table maps to its MAC. It returns how many entries it deleted.
func (b *Backend) flushConntrack(t *targets) (uint, error) {
	if t.empty() {
		return 0, nil
	}
	h, err := b.handleLocked()
	if err != nil {
		return 0, err
	}
	f := &flowFilter{addrs: map[netip.Addr]bool{}}
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
// is one of addrs. One filter for every target keeps the deletion to one
// dump of the table.
type flowFilter struct {
	addrs map[netip.Addr]bool
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
	return f.addrs[a.Unmap()]
}
