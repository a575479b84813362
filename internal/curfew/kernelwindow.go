package curfew

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// KernelWindowsHorizon is how far ahead the kernel is given the schedules'
// windows. The daemon recomputes at least daily, so whenever it dies the
// kernel holds at least seven more days of windows.
const KernelWindowsHorizon = 8 * 24 * time.Hour

// KernelRecomputeInterval is the longest the daemon waits between two
// computations of the kernel's windows.
const KernelRecomputeInterval = 24 * time.Hour

// MaxKernelWindows bounds the windows one schedule hands the kernel: more
// than one a quarter of an hour for eight days is not a schedule.
const MaxKernelWindows = 1024

// A TimeRange is the span [Start, End) of one window of a schedule.
type TimeRange struct {
	Start time.Time // inclusive
	End   time.Time // exclusive
}

// KernelDevice is a device a schedule applies to: its MAC, and the
// addresses it is known by, so that what is sent to it can be held too.
type KernelDevice struct {
	MAC   net.HardwareAddr
	Addrs []netip.Addr
}

// KernelSchedule is what the kernel must know of one schedule to open and
// close its windows by itself: whom it applies to, what an open window
// leaves them, and the windows as absolute instants. The daemon computes
// the instants (time zones and DST are its business, not the kernel's).
type KernelSchedule struct {
	// ID names the schedule; it is stable across recomputes, so that a
	// change to one schedule touches only what the kernel holds of it.
	// Letters, digits, '-' and '_', at most 64.
	ID string
	// Zone is the zone the schedule's times are local to; nil is UTC.
	// The daemon recomputes when its UTC offset changes.
	Zone *time.Location
	// Reach is what an open window leaves, combined per axis as a
	// restriction's is: ReachCutoff nothing; ReachAllowlist the
	// AllowPrefixes (names need the resolver, which the kernel alone does
	// not have); ReachBlocklist needs the resolver, so the kernel enforces
	// nothing of it alone; ReachOpen everything, slowed to Rate.
	Reach Reach
	// Rate, if not zero, is the throttle of an open window.
	Rate          Rate
	AllowPrefixes []netip.Prefix
	Devices       []KernelDevice
	Prefixes      []netip.Prefix // ip: subjects, as sources
	Windows       []TimeRange
}

// Validate checks that k can be handed to the kernel.
func (k *KernelSchedule) Validate() error {
	if k.ID == "" || len(k.ID) > 64 {
		return fmt.Errorf("%w: schedule id %q: want 1 to 64 characters", ErrInvalid, k.ID)
	}
	for _, c := range k.ID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: schedule id %q: only letters, digits, '-' and '_'", ErrInvalid, k.ID)
		}
	}
	switch k.Reach {
	case ReachCutoff, ReachAllowlist, ReachBlocklist, ReachOpen:
	default:
		return fmt.Errorf("%w: schedule %s: reach %q", ErrInvalid, k.ID, k.Reach)
	}
	if k.Rate < 0 || k.Reach == ReachOpen && k.Rate == 0 {
		return fmt.Errorf("%w: schedule %s: rate %d with reach %s", ErrInvalid, k.ID, k.Rate, k.Reach)
	}
	if k.Reach != ReachAllowlist && len(k.AllowPrefixes) > 0 {
		return fmt.Errorf("%w: schedule %s: allowed prefixes with reach %s", ErrInvalid, k.ID, k.Reach)
	}
	for _, p := range slices.Concat(k.AllowPrefixes, k.Prefixes) {
		if !p.IsValid() || p != p.Masked() {
			return fmt.Errorf("%w: schedule %s: prefix %s is not a masked prefix", ErrInvalid, k.ID, p)
		}
	}
	for _, d := range k.Devices {
		if len(d.MAC) != 6 {
			return fmt.Errorf("%w: schedule %s: device %q is not a 6-byte MAC", ErrInvalid, k.ID, d.MAC)
		}
		for _, a := range d.Addrs {
			if !a.IsValid() || a.Zone() != "" {
				return fmt.Errorf("%w: schedule %s: device %s: address %s", ErrInvalid, k.ID, d.MAC, a)
			}
		}
	}
	if len(k.Windows) > MaxKernelWindows {
		return fmt.Errorf("%w: schedule %s: %d windows, at most %d", ErrInvalid, k.ID, len(k.Windows), MaxKernelWindows)
	}
	for _, w := range k.Windows {
		if !w.Start.Before(w.End) {
			return fmt.Errorf("%w: schedule %s: window [%s, %s) is empty", ErrInvalid, k.ID, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
		}
	}
	return nil
}

// KernelWindows is what the kernel keeps of every schedule by itself, as
// computed at At: the windows that have not ended and start before Until.
// A Snapshot shares it with the next while nothing in it changes.
type KernelWindows struct {
	At, Until time.Time
	Schedules []KernelSchedule // sorted by ID; windows sorted, merged, in UTC
	// Recompute is when the daemon must compute it again: a day after At,
	// or earlier at the first instant any schedule's zone changes its
	// UTC offset.
	Recompute time.Time
	// Keep asks the backends to leave the windows they hold as they are:
	// the schedules could not be read (at a start, the kernel goes on
	// with the windows the last run gave it). Schedules is then empty.
	Keep bool
}

// PlanKernelWindows returns the kernel's windows of ss as of now for the
// next horizon: each schedule's windows that end after now and start
// before now+horizon, in UTC, sorted, overlapping and touching ones
// merged. It fails on a schedule that does not validate or on two with
// one ID. ss is not modified.
func PlanKernelWindows(now time.Time, horizon time.Duration, ss []KernelSchedule) (*KernelWindows, error) {
	now = now.UTC()
	kw := &KernelWindows{At: now, Until: now.Add(horizon), Recompute: now.Add(KernelRecomputeInterval)}
	zones := map[string]*time.Location{}
	for _, s := range ss {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		var ws []TimeRange
		for _, w := range s.Windows {
			if w.End.After(now) && w.Start.Before(kw.Until) {
				ws = append(ws, TimeRange{w.Start.UTC(), w.End.UTC()})
			}
		}
		slices.SortFunc(ws, func(a, b TimeRange) int { return a.Start.Compare(b.Start) })
		merged := ws[:0]
		for _, w := range ws {
			if n := len(merged); n > 0 && !w.Start.After(merged[n-1].End) {
				if w.End.After(merged[n-1].End) {
					merged[n-1].End = w.End
				}
				continue
			}
			merged = append(merged, w)
		}
		s.Windows = merged
		kw.Schedules = append(kw.Schedules, s)
		if s.Zone != nil {
			zones[s.Zone.String()] = s.Zone
		}
	}
	slices.SortFunc(kw.Schedules, func(a, b KernelSchedule) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(kw.Schedules); i++ {
		if kw.Schedules[i].ID == kw.Schedules[i-1].ID {
			return nil, fmt.Errorf("%w: two schedules with id %s", ErrInvalid, kw.Schedules[i].ID)
		}
	}
	for _, z := range zones {
		if t, ok := NextOffsetChange(z, now, kw.Recompute); ok && t.Before(kw.Recompute) {
			kw.Recompute = t
		}
	}
	return kw, nil
}

// NextOffsetChange returns the first instant in (after, until] at which
// loc's UTC offset differs from its offset at after, to the second.
func NextOffsetChange(loc *time.Location, after, until time.Time) (time.Time, bool) {
	_, off := after.In(loc).Zone()
	offsetAt := func(t time.Time) int { _, o := t.In(loc).Zone(); return o }
	// Zones change on whole minutes; an hourly scan cannot step over two
	// changes that cancel out within the hour in any zone in use.
	for lo := after; lo.Before(until); {
		hi := lo.Add(time.Hour)
		if hi.After(until) {
			hi = until
		}
		if offsetAt(hi) == off {
			lo = hi
			continue
		}
		for hi.Sub(lo) > time.Second {
			mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
			if !mid.After(lo) {
				break
			}
			if offsetAt(mid) == off {
				lo = mid
			} else {
				hi = mid
			}
		}
		return hi.UTC(), true
	}
	return time.Time{}, false
}

// KernelSchedules returns the schedules of x as the kernel needs them for
// [from, to): each with the windows that overlap it, its subject's devices
// (with their registered addresses and those learned, keyed by
// net.HardwareAddr.String) and prefixes. The window the daemon opened
// last is left out (it is a restriction, or was lifted, and the kernel
// must not open it again), and so are schedules with no window in the
// span.
func (x *Index) KernelSchedules(from, to time.Time, learned map[string]Learned) []KernelSchedule {
	ids := make([]ScheduleID, 0, len(x.schedules))
	for id := range x.schedules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []KernelSchedule
	for _, id := range ids {
		s := x.schedules[id]
		// The window the daemon opened (or the operator lifted) is a
		// restriction: the restrictions' table holds it to its end, even
		// with the daemon down, with what only the daemon can add (an
		// allowlist's names); the kernel's windows are for those that
		// open later.
		opened := time.Time{}
		if r := x.windows[id]; r != nil {
			opened = r.Start
		}
		var ws []TimeRange
		for _, w := range s.Windows(from, to) {
			if !w.Start.Equal(opened) {
				ws = append(ws, TimeRange(w))
			}
		}
		if len(ws) == 0 {
			continue
		}
		k := KernelSchedule{ID: fmt.Sprint(int64(id)), Zone: s.Zone, Reach: s.Mode.Reach(), Windows: ws}
		if s.Mode == ModeThrottle {
			k.Rate = s.Rate
		}
		if k.Reach == ReachAllowlist {
			_, k.AllowPrefixes = splitAllow(s.Allow)
		}
		var t Targets
		x.Add(&t, &Restriction{Subject: s.Subject})
		macs := make([]string, 0, len(t.MACs))
		for mac := range t.MACs {
			macs = append(macs, mac)
		}
		slices.Sort(macs)
		for _, mac := range macs {
			d := KernelDevice{MAC: net.HardwareAddr(mac)}
			var addrs []netip.Addr
			if dev := x.devices[mac]; dev != nil {
				addrs = append(addrs, dev.Addrs...)
			}
			for _, a := range append(addrs, learned[d.MAC.String()].Addrs...) {
				// Nothing to a link-local address is forwarded.
				if a = a.Unmap(); a.IsValid() && a.Zone() == "" && !a.IsLinkLocalUnicast() && !slices.Contains(d.Addrs, a) {
					d.Addrs = append(d.Addrs, a)
				}
			}
			k.Devices = append(k.Devices, d)
		}
		for p := range t.Prefixes {
			k.Prefixes = append(k.Prefixes, p)
		}
		slices.SortFunc(k.Prefixes, comparePrefix)
		out = append(out, k)
	}
	return out
}
