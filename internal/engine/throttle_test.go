package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// TestThrottleWithBlocklist checks a device under a throttle and a
// blocklist at once, from the request to what the backends get and the
// log: both axes apply, each with its own end, and the log records the
// rate.
func TestThrottleWithBlocklist(t *testing.T) {
	f := newFixture(t)
	const dev = "device:02:00:00:00:00:07"
	slow, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: dev, Mode: curfew.ModeThrottle, Rate: 2_000_000, Reason: "school night", For: 3 * time.Hour})
	if err != nil {
		t.Fatalf("Restrict(throttle) = %v", err)
	}
	block, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: dev, Mode: curfew.ModeBlocklist, Block: []string{"games.example"}, Reason: "homework", For: time.Hour})
	if err != nil {
		t.Fatalf("Restrict(blocklist) = %v", err)
	}
	s := f.mem.Last()
	if s == nil || len(s.Devices) != 1 {
		t.Fatalf("enforced %v, want one device", s)
	}
	e := s.Devices[0].Enforcement
	// The store keeps milliseconds.
	same := func(a, b time.Time) bool { return a.Sub(b).Abs() < time.Millisecond }
	if e.Reach != curfew.ReachBlocklist || !same(e.Until, block.End) || e.Rate != 2_000_000 || !same(e.RateUntil, slow.End) ||
		strings.Join(e.BlockNames, ",") != "games.example" {
		t.Errorf("enforced %s, want the blocklist until %s and 2mbit until %s", e, block.End, slow.End)
	}

	var created, applied bool
	for _, ev := range events(t, f.db) {
		if ev.Restriction != slow.ID || ev.After == nil {
			continue
		}
		switch ev.Kind {
		case audit.KindRestrictionCreated:
			created = ev.After.Mode == curfew.ModeThrottle && ev.After.Rate == 2_000_000
		case audit.KindRestrictionApplied:
			applied = ev.After.Rate == 2_000_000
		}
	}
	if !created || !applied {
		t.Errorf("log records the rate when created: %v, when applied: %v; want both", created, applied)
	}

	// A throttle with an allow list is refused and changes nothing.
	before := f.mem.Applies()
	if _, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: dev, Mode: curfew.ModeThrottle, Rate: 2_000_000, Allow: []string{"school.example"}, Reason: "x", For: time.Hour}); err == nil {
		t.Errorf("Restrict(throttle with allow) = nil, want an error")
	}
	if rs, _ := f.eng.Restrictions(f.ctx, curfew.RestrictionFilter{}); len(rs) != 2 || f.mem.Applies() != before {
		t.Errorf("after a refused throttle: %d restrictions, %d applies; want 2 and %d", len(rs), f.mem.Applies(), before)
	}
}
