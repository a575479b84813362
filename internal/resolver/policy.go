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
	return identify.Compile(s, func(e *curfew.Enforcement, mac net.HardwareAddr) *rule {
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

// newUnplacedRule returns the rule for a client that may be a restricted
// device but that the gateway cannot place yet: refused, with answers of
// TTL 0 so that its next query, once it is placed, gets what it is due.
func newUnplacedRule() *rule {
	return &rule{
		Enforcement: curfew.Enforcement{Mode: curfew.ModeCutoff},
		text:        "curfew: the gateway does not know this device yet and answers it as restricted until it does; ask again",
	}
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

// judge applies every rule to name, lower case and fully qualified: the
// name is refused if any rule refuses it, so overlapping restrictions
// combine to the strictest.
func judge(rules []*rule, name []byte) verdict {
	var v verdict
	for _, r := range rules {
		switch r.Mode {
		case curfew.ModeBlocklist:
			if _, ok := r.block.matchBytes(name); ok {
				return verdict{refuse: r}
			}
		case curfew.ModeAllowlist:
			if _, ok := r.allow.matchBytes(name); !ok {
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
