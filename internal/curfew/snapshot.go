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

// Enforcement is the combined effect of the restrictions on one target,
// axis by axis: what it can reach (Reach and its lists) and how fast
// (Rate). Each axis is combined to its strictest over the target's active
// restrictions, and each has its own end, so that the kernel ends each on
// time: a throttle that outlasts a blocklist leaves the target throttled
// and open once the blocklist ends (Until), until the throttle ends too
// (RateUntil).
type Enforcement struct {
	// Reach is the strictest reach of the active restrictions; ReachOpen
	// if only throttles are active.
	Reach Reach
	// Until is when Reach stops applying if nothing changes: the end of
	// the unbroken run of restrictions whose reach is at least as strict.
	// The kernel is told to end the reach by itself at Until. Zero when
	// Reach is ReachOpen.
	Until time.Time
	// ReachUntil is when the target can reach everything again if nothing
	// changes: the end of the unbroken run of restrictions that limit its
	// reach in any way (every mode but throttle). It is Until or later;
	// zero when Reach is ReachOpen.
	ReachUntil time.Time

	// AllowNames and AllowPrefixes are, under ReachAllowlist, the domains
	// and the prefixes allowed by every allowlist restriction; sorted.
	AllowNames    []string
	AllowPrefixes []netip.Prefix
	// BlockNames are, under ReachBlocklist, the domains blocked by any
	// restriction; sorted.
	BlockNames []string

	// Rate is the lowest rate of the active throttles; zero if none. It
	// is kept under every reach, though under ReachCutoff it is moot.
	Rate Rate
	// RateUntil is when Rate stops applying if nothing changes: the end
	// of the unbroken run of throttles at Rate or lower. Zero when Rate is.
	RateUntil time.Time

	// RestrictedUntil is when every restriction of the target has ended.
	RestrictedUntil time.Time
	// Since is when the unbroken run of restrictions began.
	Since time.Time

	Restrictions []RestrictionID // active, sorted
	Notice       string          // the notice of the newest active restriction that has one

	// Unregistered is set on the Enforcement identify.Policy gives a
	// device that a quarantining LAN does not admit: reach cutoff, no
	// end, no restriction behind it.
	Unregistered bool
}

// Throttled reports whether e limits the target's rate while leaving it
// something to reach.
func (e *Enforcement) Throttled() bool { return e.Rate > 0 && e.Reach != ReachCutoff }

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

// combine merges the restrictions of one target, axis by axis; ok is
// false if none is active at now.
func combine(now time.Time, rs []*Restriction) (e Enforcement, ok bool) {
	var active []*Restriction
	e.Reach = ReachOpen
	for _, r := range rs {
		if !r.ActiveAt(now) {
			continue
		}
		active = append(active, r)
		if reach := r.Mode.Reach(); reach.Stricter(e.Reach) {
			e.Reach = reach
		}
		if r.Mode == ModeThrottle && r.Rate > 0 && (e.Rate == 0 || r.Rate < e.Rate) {
			e.Rate = r.Rate
		}
	}
	if len(active) == 0 {
		return Enforcement{}, false
	}
	if e.Reach.Restricted() {
		e.Until, _ = coverage(now, rs, func(r *Restriction) bool { return !e.Reach.Stricter(r.Mode.Reach()) })
		e.ReachUntil, _ = coverage(now, rs, func(r *Restriction) bool { return r.Mode.Reach().Restricted() })
	}
	if e.Rate > 0 {
		e.RateUntil, _ = coverage(now, rs, func(r *Restriction) bool { return r.Mode == ModeThrottle && r.Rate <= e.Rate })
	}
	e.RestrictedUntil, e.Since = coverage(now, rs, func(*Restriction) bool { return true })

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
			e.BlockNames = append(e.BlockNames, r.Block...)
		}
	}
	switch e.Reach {
	case ReachAllowlist:
		e.AllowNames, e.AllowPrefixes = splitAllow(allow)
		e.BlockNames = nil
	case ReachBlocklist:
		e.BlockNames = sortedUnique(e.BlockNames)
	default:
		e.BlockNames = nil
	}
	return e, true
}

// splitAllow parses a combined allow list once, for every backend: the
// names, sorted, and the prefixes (an address is its one-address prefix),
// masked and sorted. Entries were checked when stored; one that no longer
// parses is dropped rather than widening the list.
func splitAllow(allow []string) (names []string, prefixes []netip.Prefix) {
	for _, a := range allow {
		if _, err := netip.ParseAddr(strings.Split(a, "/")[0]); err != nil {
			names = append(names, a)
			continue
		}
		if p, err := ParsePrefix(a); err == nil {
			prefixes = append(prefixes, p.Masked())
		}
	}
	slices.SortFunc(prefixes, comparePrefix)
	return sortedUnique(names), slices.Compact(prefixes)
}

// coverage returns the end and start of the unbroken run, through now, of
// enforceable restrictions for which counts holds.
func coverage(now time.Time, rs []*Restriction, counts func(*Restriction) bool) (until, since time.Time) {
	var ivs [][2]time.Time
	for _, r := range rs {
		if r.Enforceable() && counts(r) {
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
	var s string
	if e.Reach.Restricted() {
		s = fmt.Sprintf("%s until=%s ", e.Reach, e.Until.UTC().Format(time.RFC3339))
	} else {
		s = "open "
	}
	if e.Rate > 0 {
		s += fmt.Sprintf("rate=%s rate_until=%s ", e.Rate, e.RateUntil.UTC().Format(time.RFC3339))
	}
	s += fmt.Sprintf("ids=%v", e.Restrictions)
	if len(e.AllowNames) > 0 {
		s += fmt.Sprintf(" allow=%v", e.AllowNames)
	}
	if len(e.AllowPrefixes) > 0 {
		s += fmt.Sprintf(" allow_prefixes=%v", e.AllowPrefixes)
	}
	if len(e.BlockNames) > 0 {
		s += fmt.Sprintf(" block=%v", e.BlockNames)
	}
	return s
}
