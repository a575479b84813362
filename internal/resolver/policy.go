package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A policy is a Snapshot compiled for lookups by client address.
type policy struct {
	devices  map[string]*rule     // by string(MAC)
	addrs    map[netip.Addr]*rule // the devices' statically known addresses
	prefixes map[int]map[netip.Prefix]*rule
	bits     []int // the prefix lengths in prefixes, longest first
}

// A rule is one restricted target's Enforcement, ready to be applied to
// names.
type rule struct {
	curfew.Enforcement
	mac   net.HardwareAddr // the device's, or nil for an ip: subject
	allow *domainSet       // ModeAllowlist
	block *domainSet       // ModeBlocklist
	text  string           // the Extended DNS Error text
}

// maxRules is how many rules one client can match (its device and its
// address prefixes); further matches are ignored, which is harmless only
// because a snapshot that restricts one client through more than a few
// overlapping ip: subjects does not occur in practice.
const maxRules = 4

func compile(s *curfew.Snapshot) *policy {
	p := &policy{
		devices:  map[string]*rule{},
		addrs:    map[netip.Addr]*rule{},
		prefixes: map[int]map[netip.Prefix]*rule{},
	}
	if s == nil {
		return p
	}
	for _, d := range s.Devices {
		r := newRule(d.Enforcement, "this device")
		r.mac = d.MAC
		p.devices[string(d.MAC)] = r
		for _, a := range d.Addrs {
			p.addrs[a.Unmap()] = r
		}
	}
	for _, pr := range s.Prefixes {
		pfx := pr.Prefix.Masked()
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		m := p.prefixes[pfx.Bits()]
		if m == nil {
			m = map[netip.Prefix]*rule{}
			p.prefixes[pfx.Bits()] = m
			p.bits = append(p.bits, pfx.Bits())
		}
		m[pfx] = newRule(pr.Enforcement, "this address")
	}
	slices.Sort(p.bits)
	slices.Reverse(p.bits)
	return p
}

// empty reports whether p restricts no one.
func (p *policy) empty() bool {
	return len(p.devices) == 0 && len(p.addrs) == 0 && len(p.bits) == 0
}

func newRule(e curfew.Enforcement, who string) *rule {
	r := &rule{Enforcement: e}
	until := e.RestrictedUntil
	if until.IsZero() {
		until = e.Until
	}
	r.text = fmt.Sprintf("curfew: internet access from %s is restricted on purpose by the network operator until %s",
		who, until.UTC().Format(time.RFC3339))
	switch e.Mode {
	case curfew.ModeAllowlist:
		r.allow = newDomainSet(e.Allow) // prefixes in Allow are the firewall's business
	case curfew.ModeBlocklist:
		r.block = newDomainSet(e.Block)
	}
	return r
}

// over reports whether every restriction of r has ended at now, so that it
// no longer applies even if the next Snapshot is late.
func (r *rule) over(now time.Time) bool {
	end := r.RestrictedUntil
	if end.IsZero() {
		end = r.Until
	}
	return !end.IsZero() && !now.Before(end)
}

// match returns the rules that apply to client at now, in rules, and how
// many there are. neighbors may be nil.
func (p *policy) match(client netip.Addr, neighbors func(netip.Addr) (net.HardwareAddr, bool), now time.Time, rules *[maxRules]*rule) int {
	n := 0
	addRule := func(r *rule) {
		if r != nil && n < maxRules && !r.over(now) && !slices.Contains(rules[:n], r) {
			rules[n] = r
			n++
		}
	}
	if len(p.devices) > 0 {
		if neighbors != nil {
			if mac, ok := neighbors(client); ok {
				addRule(p.devices[string(mac)])
			}
		}
		addRule(p.addrs[client])
	}
	for _, bits := range p.bits {
		if bits > client.BitLen() {
			continue
		}
		pfx, err := client.Prefix(bits)
		if err != nil {
			continue
		}
		addRule(p.prefixes[bits][pfx])
	}
	return n
}

// strictest returns the rule among rules whose mode is strictest, the one
// restricted longest among equals.
func strictest(rules []*rule) *rule {
	var best *rule
	for _, r := range rules {
		if best == nil || r.Mode.Stricter(best.Mode) ||
			r.Mode == best.Mode && r.RestrictedUntil.After(best.RestrictedUntil) {
			best = r
		}
	}
	return best
}

// A verdict is what a client's restrictions say about one name.
type verdict struct {
	refuse    *rule // non-nil if the name is refused, by this rule
	allowlist *rule // the client is in a walled garden: report answered addresses
}

// judge applies every rule to name: the name is refused if any rule refuses
// it, so overlapping restrictions combine to the strictest.
func judge(rules []*rule, name string) verdict {
	var v verdict
	for _, r := range rules {
		switch r.Mode {
		case curfew.ModeBlocklist:
			if _, ok := r.block.match(name); ok {
				return verdict{refuse: r}
			}
		case curfew.ModeAllowlist:
			if _, ok := r.allow.match(name); !ok {
				return verdict{refuse: r}
			}
			if v.allowlist == nil || v.allowlist.mac == nil {
				v.allowlist = r
			}
		default: // cutoff, and any mode this version does not know
			return verdict{refuse: r}
		}
	}
	return v
}
