package curfew_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// TestIndexUpdateMatchesCompute drives an Index through random commands
// (restrictions that wait for approval and decisions on them among them)
// and clock steps, updating the snapshot incrementally as the engine does,
// and checks after every step that it equals a snapshot computed from
// scratch.
func TestIndexUpdateMatchesCompute(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			persons := []string{"alice", "bob", "carol"}
			macOf := func(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, byte(i)} }
			prefixes := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.0.7/32"), netip.MustParsePrefix("2001:db8::/64")}

			x := curfew.NewIndex(nil, nil)
			var all []*curfew.Restriction
			var devices []*curfew.Device
			groups := map[string]*curfew.Group{"g1": {Name: "g1"}, "g2": {Name: "g2"}}
			x.PutGroup(groups["g1"], nil)
			x.PutGroup(groups["g2"], nil)
			now := t0
			snap := x.Snapshot(now)
			nextID := curfew.RestrictionID(1)
			var schedules []*curfew.Schedule
			windows := map[curfew.ScheduleID][]curfew.Window{} // the windows stored, by schedule
			london, _ := time.LoadLocation("Europe/London")
			for step := range 200 {
				var touched curfew.Targets
				switch rng.IntN(9) {
				case 7: // a schedule, whose window may be open at once
					s := &curfew.Schedule{ID: curfew.ScheduleID(len(schedules) + 1), Days: curfew.Days(1 + rng.IntN(127)),
						From: curfew.Clock(rng.IntN(144) * 10), Zone: []*time.Location{time.UTC, london}[rng.IntN(2)],
						Mode: curfew.ModeCutoff, Reason: "s", Created: now, Until: now.Add(time.Duration(1+rng.IntN(48)) * time.Hour)}
					s.To = (s.From + curfew.Clock(10+rng.IntN(12)*10)) % (24 * 60)
					switch rng.IntN(4) {
					case 0:
						s.Subject = curfew.Subject{Kind: curfew.SubjectDevice, MAC: macOf(rng.IntN(8))}
					case 1:
						s.Subject = curfew.Subject{Kind: curfew.SubjectPerson, Name: persons[rng.IntN(3)]}
					case 2:
						s.Subject = curfew.Subject{Kind: curfew.SubjectGroup, Name: "g1"}
					case 3:
						s.Subject = curfew.Subject{Kind: curfew.SubjectIP, Prefix: prefixes[rng.IntN(3)]}
					}
					schedules = append(schedules, s)
					x.PutSchedule(s, s.Created)
				case 8: // a schedule is removed: its open window is lifted
					if len(schedules) == 0 {
						continue
					}
					s := schedules[rng.IntN(len(schedules))]
					if !s.Removed.IsZero() {
						continue
					}
					s.Removed = now
					x.DeleteSchedule(s.ID)
					for _, r := range all {
						if r.Schedule == s.ID && !r.Over(now) {
							r.Lifted = now
							x.Put(r)
							x.Add(&touched, r)
						}
					}
				case 0, 1: // restrict
					r := &curfew.Restriction{ID: nextID, Mode: curfew.ModeCutoff, Reason: "r",
						Start: now.Add(time.Duration(rng.IntN(3)) * 10 * time.Minute)}
					r.End = r.Start.Add(time.Duration(1+rng.IntN(12)) * 10 * time.Minute)
					nextID++
					if rng.IntN(3) == 0 { // waits for a second operator
						r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
					}
					switch rng.IntN(4) {
					case 3:
						r.Subject = curfew.Subject{Kind: curfew.SubjectGroup, Name: []string{"g1", "g2"}[rng.IntN(2)]}
					case 0:
						r.Subject = curfew.Subject{Kind: curfew.SubjectDevice, MAC: macOf(rng.IntN(8))}
					case 1:
						r.Subject = curfew.Subject{Kind: curfew.SubjectPerson, Name: persons[rng.IntN(3)]}
					case 2:
						r.Subject = curfew.Subject{Kind: curfew.SubjectIP, Prefix: prefixes[rng.IntN(3)]}
					}
					all = append(all, r)
					x.Put(r)
					x.Add(&touched, r)
				case 2: // lift or extend one
					if len(all) == 0 {
						continue
					}
					old := all[rng.IntN(len(all))]
					if old.Over(now) {
						continue
					}
					r := *old
					switch rng.IntN(4) {
					case 0:
						r.Lifted = now
					case 1:
						if r.StatusAt(now) == curfew.StatusPending {
							continue
						}
						if rng.IntN(2) == 0 {
							r.End = r.End.Add(10 * time.Minute)
						} else {
							r.RequestExtension("alice", r.End.Add(10*time.Minute))
						}
					case 2, 3: // a second operator decides
						if err := r.Decide(now, "bob", rng.IntN(3) > 0, "ok"); err != nil {
							continue
						}
					}
					*old = r
					x.Put(old)
					x.Add(&touched, old)
				case 3: // add a device
					d := &curfew.Device{MAC: macOf(len(devices) % 10), Owner: persons[rng.IntN(3)]}
					if rng.IntN(3) == 0 {
						d.Owner = ""
					}
					found := false
					for _, o := range devices {
						if o.MAC.String() == d.MAC.String() {
							found = true
						}
					}
					if found {
						continue
					}
					devices = append(devices, d)
					x.PutDevice(d)
					touched.AddMAC(d.MAC)
				case 5: // a member joins or leaves a group
					old := groups[[]string{"g1", "g2"}[rng.IntN(2)]]
					m := curfew.Subject{Kind: curfew.SubjectPerson, Name: persons[rng.IntN(3)]}
					if rng.IntN(2) == 0 {
						m = curfew.Subject{Kind: curfew.SubjectDevice, MAC: macOf(rng.IntN(10))}
					}
					g := &curfew.Group{Name: old.Name}
					for _, o := range old.Members {
						if o.String() != m.String() {
							g.Members = append(g.Members, o)
						}
					}
					if len(g.Members) == len(old.Members) {
						g.Members = append(g.Members, m)
					}
					groups[g.Name] = g
					x.PutGroup(g, &touched)
				case 6: // a device is removed
					if len(devices) == 0 {
						continue
					}
					i := rng.IntN(len(devices))
					x.DeleteDevice(devices[i].MAC)
					touched.AddMAC(devices[i].MAC)
					devices = append(devices[:i:i], devices[i+1:]...)
				case 4: // time passes, at times hours (through windows of schedules)
					now = now.Add(time.Duration(rng.IntN(15)) * time.Minute)
					if rng.IntN(4) == 0 {
						now = now.Add(time.Duration(rng.IntN(12*60)) * time.Minute)
					}
				}
				// The windows that opened become restrictions, as the
				// engine stores them.
				for _, d := range x.Due(now) {
					r := d.Schedule.Window(d.Window)
					r.ID = nextID
					nextID++
					all = append(all, r)
					windows[d.Schedule.ID] = append(windows[d.Schedule.ID], d.Window)
					x.Put(r)
					x.Add(&touched, r)
				}
				over := x.Advance(&touched, now)
				snap = x.Update(snap, now, touched)
				for _, r := range over {
					if !r.Over(now) {
						t.Fatalf("step %d: Advance returned %d as over; it ends at %s, now is %s", step, r.ID, r.EffectiveEnd(), now)
					}
					x.Delete(r.ID)
				}
				for _, s := range schedules {
					// Every window that started by now was due once, in order.
					// A window stored stays whole when its schedule is
					// removed (it is lifted instead).
					whole := *s
					whole.Removed = time.Time{}
					var want []curfew.Window
					for _, w := range whole.Windows(s.Created, now.Add(time.Nanosecond)) {
						if !w.Start.After(now) && (s.Removed.IsZero() || !w.Start.After(s.Removed)) {
							want = append(want, w)
						}
					}
					if diff := cmp.Diff(want, windows[s.ID]); diff != "" {
						t.Fatalf("step %d: windows of schedule %d (-want +got):\n%s", step, s.ID, diff)
					}
				}
				want := curfew.Compute(now, all, devices, groups["g1"], groups["g2"])
				// The next change also comes when a window opens.
				for _, s := range schedules {
					if !s.Removed.IsZero() {
						continue
					}
					for _, w := range s.Windows(now, now.Add(9*24*time.Hour)) {
						if w.Start.After(now) {
							if want.NextChange.IsZero() || w.Start.Before(want.NextChange) {
								want.NextChange = w.Start
							}
							break
						}
					}
				}
				if diff := cmp.Diff(want.String(), snap.String()); diff != "" {
					t.Fatalf("step %d: incremental snapshot differs from Compute (-want +got):\n%s", step, diff)
				}
			}
		})
	}
}
