package identify

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A Policy is a Snapshot compiled for matching clients, carrying one value
// of type T for each restricted target (an enforcer's compiled form of the
// target's Enforcement). It is immutable once compiled and safe for
// concurrent use.
type Policy[T comparable] struct {
	devices  map[string]*target[T]     // by string(MAC)
	addrs    map[netip.Addr]*target[T] // the devices' statically known addresses
	prefixes map[int]map[netip.Prefix]*target[T]
	bits     []int // the prefix lengths in prefixes, longest first

	// quarantine, if not nil, applies to every device on the LAN whose MAC
	// is not in registered (lan.unknown_devices: quarantine).
	quarantine *target[T]
	registered *curfew.Registry
}

// unregistered is the Enforcement a quarantining LAN gives a device it does
// not admit: no internet until the device is registered, however long
// that takes.
var unregistered = curfew.Enforcement{
	Reach:        curfew.ReachCutoff,
	Until:        forever,
	Unregistered: true,
}

// forever is the end of a quarantine: none.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

type target[T comparable] struct {
	end   time.Time // when every restriction behind it has ended
	value T
}

// Compile compiles s (nil is the empty Snapshot), calling value once for
// each restricted target: with the device's MAC for a device, nil for an
// ip: prefix. If s quarantines unknown devices, value is called once more
// with an Enforcement whose Unregistered is set (mode cutoff, no end) and a
// nil MAC: the target of every device whose MAC is not registered.
func Compile[T comparable](s *curfew.Snapshot, value func(e *curfew.Enforcement, mac net.HardwareAddr) T) *Policy[T] {
	p := &Policy[T]{
		devices:  map[string]*target[T]{},
		addrs:    map[netip.Addr]*target[T]{},
		prefixes: map[int]map[netip.Prefix]*target[T]{},
	}
	if s == nil {
		return p
	}
	for _, d := range s.Devices {
		t := &target[T]{end: restrictedUntil(&d.Enforcement), value: value(&d.Enforcement, d.MAC)}
		p.devices[string(d.MAC)] = t
		for _, a := range d.Addrs {
			p.addrs[a.Unmap().WithZone("")] = t
		}
	}
	for i := range s.Prefixes {
		pr := &s.Prefixes[i]
		pfx := pr.Prefix.Masked()
		if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		m := p.prefixes[pfx.Bits()]
		if m == nil {
			m = map[netip.Prefix]*target[T]{}
			p.prefixes[pfx.Bits()] = m
			p.bits = append(p.bits, pfx.Bits())
		}
		m[pfx] = &target[T]{end: restrictedUntil(&pr.Enforcement), value: value(&pr.Enforcement, nil)}
	}
	slices.Sort(p.bits)
	slices.Reverse(p.bits)
	if s.Quarantine {
		e := unregistered
		p.quarantine = &target[T]{end: forever, value: value(&e, nil)}
		p.registered = s.Registered
	}
	return p
}

// restrictedUntil is when every restriction behind e has ended.
func restrictedUntil(e *curfew.Enforcement) time.Time {
	if e.RestrictedUntil.After(e.Until) {
		return e.RestrictedUntil
	}
	return e.Until
}

// Empty reports whether p restricts no one.
func (p *Policy[T]) Empty() bool {
	return len(p.devices) == 0 && len(p.addrs) == 0 && len(p.bits) == 0 && p.quarantine == nil
}

// Devices reports whether p restricts some device, or quarantines unknown
// ones, so that who a client is (not only its address) matters.
func (p *Policy[T]) Devices() bool { return len(p.devices) > 0 || p.quarantine != nil }

// Match appends to out the values of the targets that apply to c at now,
// each once: its device's, found by MAC or by a statically known address,
// and that of every ip: prefix holding its address, longest first.
// Targets whose restrictions have all ended at now are left out: the
// kernel ended them even if no new Snapshot came.
//
// With quarantine, a Known client whose MAC is not registered also gets
// the quarantine target's value: it is the one rule of who is admitted.
//
// unplaced is true if c is Unknown while p restricts some device (or
// quarantines unknown ones) and c's address is not statically known: c
// may be a restricted or unregistered device that the gateway cannot
// place yet, and callers must treat it as restricted.
func (p *Policy[T]) Match(c Client, now time.Time, out []T) (_ []T, unplaced bool) {
	add := func(t *target[T]) {
		if t != nil && now.Before(t.end) && !slices.Contains(out, t.value) {
			out = append(out, t.value)
		}
	}
	if len(p.devices) > 0 || p.quarantine != nil {
		static := p.addrs[c.Addr]
		if c.Kind == Known {
			add(p.devices[string(c.MAC)])
			if p.quarantine != nil && !p.registered.Has(c.MAC) {
				add(p.quarantine)
			}
		}
		add(static)
		unplaced = c.Kind == Unknown && static == nil
	}
	for _, bits := range p.bits {
		if bits > c.Addr.BitLen() {
			continue
		}
		pfx, err := c.Addr.Prefix(bits)
		if err != nil {
			continue
		}
		add(p.prefixes[bits][pfx])
	}
	return out, unplaced
}
