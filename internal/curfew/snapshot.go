package curfew

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Snapshot is everything the enforcers must enforce at one instant. It is
// computed by Compute from stored state and is the only input of a backend.
type Snapshot struct {
	At       time.Time     // the instant it was computed for
	Devices  []*DeviceRule // sorted by MAC; one per restricted device; shared between snapshots, never modified
	Prefixes []PrefixRule  // sorted by prefix; one per restricted ip: subject

	// NextChange is the next instant at which Compute could return a
	// different answer (a restriction starts or ends); zero if none.
	NextChange time.Time

	// Quarantine is set when the LAN admits registered devices only
	// (lan.unknown_devices: quarantine): a device whose MAC is not in
	// Registered reaches nothing but curfew's resolver and notice server.
	Quarantine bool
	// Registered holds the registered MACs; shared between snapshots
	// while no device is registered or removed, never modified.
	Registered *Registry

	// Windows are the schedules' windows the kernel opens and closes by
	// itself while the daemon is down; nil if there are none. Shared
	// between snapshots while no schedule changes, never modified.
	Windows *KernelWindows
}

// Enforcement is the combined effect of the restrictions on one target.
type Enforcement struct {
	Mode Mode // the strictest active mode

	// Until is when Mode stops applying if nothing changes: the end of the
	// unbroken run of restrictions at least as strict as Mode. The kernel
	// is told to end the restriction by itself at Until.
	Until time.Time
	// RestrictedUntil is when every restriction of the target has ended.
	RestrictedUntil time.Time
	// Since is when the unbroken run of restrictions began.
	Since time.Time

	Restrictions []RestrictionID // active, sorted
	Notice       string          // the notice of the newest active restriction that has one
	Allow        []string        // ModeAllowlist: allowed by every allowlist restriction
	Block        []string        // ModeBlocklist: blocked by any restriction

	// Unregistered is set on the Enforcement identify.Policy gives a
	// device that a quarantining LAN does not admit: mode cutoff, no end,
	// no restriction behind it.
	Unregistered bool
}

// DeviceRule restricts one device, bound by MAC.
type DeviceRule struct {
	MAC   net.HardwareAddr
	Addrs []netip.Addr // statically known addresses, sorted
	Enforcement
}

// PrefixRule restricts a routed address or prefix.
type PrefixRule struct {
	Prefix netip.Prefix
	Enforcement
}

// Compute returns what must be enforced at now given every stored
// restriction, device and group. Restrictions that are not active at now
// only contribute to NextChange. Overlapping restrictions on the same
// device combine to the strictest.
func Compute(now time.Time, restrictions []*Restriction, devices []*Device, groups ...*Group) *Snapshot {
	live := make([]*Restriction, 0, len(restrictions))
	for _, r := range restrictions {
		if !r.Over(now) {
			live = append(live, r)
		}
	}
	return NewIndex(live, devices, groups...).Snapshot(now)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// combine merges the restrictions of one target; ok is false if none is
// active at now.
func combine(now time.Time, rs []*Restriction) (e Enforcement, ok bool) {
	var active []*Restriction
	for _, r := range rs {
		if r.ActiveAt(now) {
			active = append(active, r)
			if r.Mode.Stricter(e.Mode) {
				e.Mode = r.Mode
			}
		}
	}
	if len(active) == 0 {
		return Enforcement{}, false
	}
	e.Until, _ = coverage(now, rs, e.Mode)
	e.RestrictedUntil, e.Since = coverage(now, rs, ModeBlocklist)

	slices.SortFunc(active, func(a, b *Restriction) int { return int(a.ID - b.ID) })
	var allow []string
	first := true
	for _, r := range active {
		e.Restrictions = append(e.Restrictions, r.ID)
		if r.Notice != "" {
			e.Notice = r.Notice
		}
		switch r.Mode {
		case ModeAllowlist:
			if first {
				allow = slices.Clone(r.Allow)
				first = false
			} else {
				allow = slices.DeleteFunc(allow, func(a string) bool { return !slices.Contains(r.Allow, a) })
			}
		case ModeBlocklist:
			e.Block = append(e.Block, r.Block...)
		}
	}
	switch e.Mode {
	case ModeAllowlist:
		e.Allow = sortedUnique(allow)
	case ModeBlocklist:
		e.Block = sortedUnique(e.Block)
	default:
		e.Block = nil
	}
	return e, true
}

// coverage returns the end and start of the unbroken run, through now, of
// enforceable restrictions at least as strict as min.
func coverage(now time.Time, rs []*Restriction, min Mode) (until, since time.Time) {
	var ivs [][2]time.Time
	for _, r := range rs {
		if r.Enforceable() && (r.Mode == min || r.Mode.Stricter(min)) {
			ivs = append(ivs, [2]time.Time{r.Start, r.EffectiveEnd()})
		}
	}
	until, since = now, now
	for grown := true; grown; {
		grown = false
		for _, iv := range ivs {
			if !iv[0].After(until) && iv[1].After(until) {
				until, grown = iv[1], true
			}
			if iv[0].Before(since) && !iv[1].Before(since) {
				since, grown = iv[0], true
			}
		}
	}
	return until, since
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// String renders s as stable text, one line a target, for state-sequence
// tests and logs.
func (s *Snapshot) String() string {
	var b strings.Builder
	for _, d := range s.Devices {
		fmt.Fprintf(&b, "device %s %s", d.MAC, d.Enforcement)
		if len(d.Addrs) > 0 {
			fmt.Fprintf(&b, " addrs=%v", d.Addrs)
		}
		b.WriteByte('\n')
	}
	for _, p := range s.Prefixes {
		fmt.Fprintf(&b, "ip %s %s\n", p.Prefix, p.Enforcement)
	}
	if s.Quarantine {
		fmt.Fprintf(&b, "quarantine registered=%d\n", s.Registered.Len())
	}
	if !s.NextChange.IsZero() {
		fmt.Fprintf(&b, "next %s\n", s.NextChange.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// String renders e for Snapshot.String.
func (e Enforcement) String() string {
	s := fmt.Sprintf("%s until=%s ids=%v", e.Mode, e.Until.UTC().Format(time.RFC3339), e.Restrictions)
	if len(e.Allow) > 0 {
		s += fmt.Sprintf(" allow=%v", e.Allow)
	}
	if len(e.Block) > 0 {
		s += fmt.Sprintf(" block=%v", e.Block)
	}
	return s
}
