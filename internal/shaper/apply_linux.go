//go:build linux

package shaper

import (
	"context"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Apply implements [enforce.Backend]: it throttles every device and every
// routed subject of snap whose Enforcement is Throttled, at its Rate until
// its RateUntil. Under cutoff the rate is moot and nothing is installed
// for it. The zero Snapshot removes every throttle.
func (s *Shaper) Apply(ctx context.Context, snap *curfew.Snapshot) error {
	if snap == nil {
		return s.Set(ctx, time.Time{}, nil)
	}
	return s.Set(ctx, snap.At, Throttles(snap))
}

// Throttles returns the throttles snap asks for.
func Throttles(snap *curfew.Snapshot) []Throttle {
	var out []Throttle
	for _, d := range snap.Devices {
		if d.Throttled() {
			out = append(out, Throttle{MAC: d.MAC, Rate: uint64(d.Rate), Until: d.RateUntil})
		}
	}
	for _, p := range snap.Prefixes {
		if p.Throttled() {
			out = append(out, Throttle{Prefix: p.Prefix, Rate: uint64(p.Rate), Until: p.RateUntil})
		}
	}
	return out
}
