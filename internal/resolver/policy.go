package resolver

import (
	"fmt"
	"net"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
)

// A policy is a Snapshot compiled for lookups by client, with the
// resolver's rule for each restricted target.
type policy = identify.Policy[*rule]

// A rule is one restricted target's Enforcement, ready to be applied to
// names.
type rule struct {
	curfew.Enforcement
	mac   net.HardwareAddr // the device's, or nil for an ip: subject
	allow *domainSet       // ModeAllowlist
	block *domainSet       // ModeBlocklist
	text  string           // the Extended DNS Error text
	ttl   uint32           // of the answers it makes up
}

// maxRules is how many rules a client usually matches at most (its device
// and a few address prefixes): room for them without allocating.
const maxRules = 4

func compile(s *curfew.Snapshot) *policy {
	return identify.Compile(withReach(s), func(e *curfew.Enforcement, mac net.HardwareAddr) *rule {
		who := "this address"
		if mac != nil {
			who = "this device"
		}
		r := newRule(*e, who)
		r.mac = mac
		return r
	})
}

func newRule(e curfew.Enforcement, who string) *rule {
	r := &rule{Enforcement: e, ttl: noticeTTL}
	// The answers change until the reach is open again; a throttle that
	// lasts longer changes none.
	until := e.ReachUntil
	if until.IsZero() {
		until = e.RestrictedUntil
	}
	if until.IsZero() {
		until = e.Until
	}
	r.text = fmt.Sprintf("curfew: internet access from %s is restricted on purpose by the network operator until %s",
		who, until.UTC().Format(time.RFC3339))
	if e.Unregistered {
		r.text = "curfew: this network admits registered devices only, and this device is not registered; its internet access starts once the operator registers it"
	}
	switch e.Reach {
	case curfew.ReachAllowlist:
		r.allow = newDomainSet(e.AllowNames) // AllowPrefixes are the firewall's business
	case curfew.ReachBlocklist:
		r.block = newDomainSet(e.BlockNames)
	}
	return r
}

// withReach returns s without the targets whose reach is open: a throttle
// slows a client down but changes none of its answers, so the resolver
// treats a throttled client as unrestricted. s itself is returned when it
// has no such target.
func withReach(s *curfew.Snapshot) *curfew.Snapshot {
	if s == nil {
		return nil
	}
	open := func(e *curfew.Enforcement) bool { return !e.Reach.Restricted() && !e.Unregistered }
	n := 0
	for _, d := range s.Devices {
		if open(&d.Enforcement) {
			n++
		}
	}
	for i := range s.Prefixes {
		if open(&s.Prefixes[i].Enforcement) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	c := *s
	c.Devices = make([]*curfew.DeviceRule, 0, len(s.Devices))
	for _, d := range s.Devices {
		if !open(&d.Enforcement) {
			c.Devices = append(c.Devices, d)
		}
	}
	c.Prefixes = make([]curfew.PrefixRule, 0, len(s.Prefixes))
	for _, p := range s.Prefixes {
		if !open(&p.Enforcement) {
			c.Prefixes = append(c.Prefixes, p)
		}
	}
	return &c
}

// newUnplacedRule returns the rule for a client that may be a restricted
// device but that the gateway cannot place yet: refused, with answers of
// TTL 0 so that its next query, once it is placed, gets what it is due.
func newUnplacedRule() *rule {
	return &rule{
		Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff},
		text:        "curfew: the gateway does not know this device yet and answers it as restricted until it does; ask again",
	}
}

// strictest returns the rule among rules whose reach is strictest, the one
// restricted longest among equals.
func strictest(rules []*rule) *rule {
	var best *rule
	for _, r := range rules {
		if best == nil || r.Reach.Stricter(best.Reach) ||
			r.Reach == best.Reach && r.RestrictedUntil.After(best.RestrictedUntil) {
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

// judge applies every rule to name, lower case and fully qualified: the
// name is refused if any rule refuses it, so overlapping restrictions
// combine to the strictest.
func judge(rules []*rule, name []byte) verdict {
	var v verdict
	for _, r := range rules {
		switch r.Reach {
		case curfew.ReachBlocklist:
			if _, ok := r.block.matchBytes(name); ok {
				return verdict{refuse: r}
			}
		case curfew.ReachAllowlist:
			if _, ok := r.allow.matchBytes(name); !ok {
				return verdict{refuse: r}
			}
			if v.allowlist == nil || v.allowlist.mac == nil {
				v.allowlist = r
			}
		default: // cutoff, and any reach this version does not know
			return verdict{refuse: r}
		}
	}
	return v
}
