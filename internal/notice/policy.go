package notice

import (
	"net"
	"net/netip"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A policy is a Snapshot compiled for lookups by client address.
type policy struct {
	devices  map[string]*curfew.Enforcement     // by string(MAC)
	addrs    map[netip.Addr]*curfew.Enforcement // the devices' statically known addresses
	prefixes []curfew.PrefixRule                // masked and unmapped
}

func compile(s *curfew.Snapshot) *policy {
	p := &policy{
		devices: map[string]*curfew.Enforcement{},
		addrs:   map[netip.Addr]*curfew.Enforcement{},
	}
	if s == nil {
		return p
	}
	for i := range s.Devices {
		d := s.Devices[i]
		p.devices[string(d.MAC)] = &d.Enforcement
		for _, a := range d.Addrs {
			p.addrs[a.Unmap()] = &d.Enforcement
		}
	}
	for _, pr := range s.Prefixes {
		pfx := pr.Prefix.Masked()
		if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		pr.Prefix = pfx
		p.prefixes = append(p.prefixes, pr)
	}
	return p
}

// lookup returns what restricts the client at a, or nil. A client can be
// matched by its device (static address or neighbour entry) and by several
// ip: prefixes at once; the kernel enforces all of them, so the answer has
// the strictest mode among them (and that rule's notice and allowlist),
// and lasts until the last of them ends. Rules already over at now are
// ignored: the kernel ended them even if no new Snapshot came.
func (p *policy) lookup(a netip.Addr, neighbors func(netip.Addr) (net.HardwareAddr, bool), now time.Time) *curfew.Enforcement {
	a = a.Unmap()
	var found []*curfew.Enforcement
	if e := p.addrs[a]; e != nil {
		found = append(found, e)
	} else if neighbors != nil && len(p.devices) > 0 {
		if mac, ok := neighbors(a); ok {
			if e := p.devices[string(mac)]; e != nil {
				found = append(found, e)
			}
		}
	}
	for i := range p.prefixes {
		if p.prefixes[i].Prefix.Contains(a) {
			found = append(found, &p.prefixes[i].Enforcement)
		}
	}
	var best *curfew.Enforcement
	var until, since time.Time
	for _, e := range found {
		end := restrictedUntil(e)
		if !end.After(now) {
			continue
		}
		if best == nil || e.Mode.Stricter(best.Mode) {
			best = e
		}
		if end.After(until) {
			until = end
		}
		if since.IsZero() || (!e.Since.IsZero() && e.Since.Before(since)) {
			since = e.Since
		}
	}
	if best == nil {
		return nil
	}
	if len(found) == 1 {
		return best
	}
	merged := *best
	merged.RestrictedUntil = until
	merged.Since = since
	return &merged
}

// restrictedUntil is when every restriction behind e has ended.
func restrictedUntil(e *curfew.Enforcement) time.Time {
	if e.RestrictedUntil.After(e.Until) {
		return e.RestrictedUntil
	}
	return e.Until
}
