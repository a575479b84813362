package notice

import (
	"net"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
)

// A policy is a Snapshot compiled for lookups by client.
type policy = identify.Policy[*curfew.Enforcement]

func compile(s *curfew.Snapshot) *policy {
	return identify.Compile(s, func(e *curfew.Enforcement, _ net.HardwareAddr) *curfew.Enforcement { return e })
}

// combine returns what restricts a client matched by found, or nil. A
// client can be matched by its device and by several ip: prefixes at once;
// the kernel enforces all of them, so the answer has the strictest mode
// among them (and that rule's notice and allowlist), the lowest rate, and
// lasts until the last of them ends.
func combine(found []*curfew.Enforcement, now time.Time) *curfew.Enforcement {
	var best *curfew.Enforcement
	var until, since time.Time
	var rate curfew.Rate
	var reachUntil time.Time
	for _, e := range found {
		end := restrictedUntil(e)
		if !end.After(now) {
			continue
		}
		if best == nil || e.Reach.Stricter(best.Reach) {
			best = e
		}
		if e.Rate > 0 && (rate == 0 || e.Rate < rate) {
			rate = e.Rate
		}
		if e.ReachUntil.After(reachUntil) {
			reachUntil = e.ReachUntil
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
	merged.Rate = rate
	merged.ReachUntil = reachUntil
	return &merged
}

// restrictedUntil is when every restriction behind e has ended.
func restrictedUntil(e *curfew.Enforcement) time.Time {
	if e.RestrictedUntil.After(e.Until) {
		return e.RestrictedUntil
	}
	return e.Until
}

// captiveUntil reports whether e keeps its client from some of the
// internet, as the captive-portal API means it (a throttled client has the
// internet, slowly), and until when.
func captiveUntil(e *curfew.Enforcement) (time.Time, bool) {
	switch {
	case e.Unregistered:
		return restrictedUntil(e), true
	case !e.Reach.Restricted():
		return time.Time{}, false
	case e.ReachUntil.IsZero():
		return restrictedUntil(e), true // from a snapshot that does not say
	}
	return e.ReachUntil, true
}
