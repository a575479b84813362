package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// schedule returns a valid school-night schedule of subject by alice, in
// Europe/London, from t0 for 90 days.
func schedule(t *testing.T, subject string) *curfew.Schedule {
	t.Helper()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := curfew.ParseDays("mon-thu,sun")
	return &curfew.Schedule{
		Subject: mustSubject(subject), Days: days, From: 22 * 60, To: 7 * 60, Zone: london,
		Until: t0.Add(90 * 24 * time.Hour), Mode: curfew.ModeCutoff,
		Reason: "school nights", Author: "alice", Created: t0,
	}
}

func addSchedule(t *testing.T, s Store, sc *curfew.Schedule) *curfew.Schedule {
	t.Helper()
	ev := entry(sc.Author, curfew.ActionSchedule, "")
	ev.After = audit.ScheduleFields(sc)
	if err := s.CreateSchedule(t.Context(), sc, ev); err != nil {
		t.Fatalf("CreateSchedule(%s) = %v", sc.Subject, err)
	}
	return sc
}

func testSchedules(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("every field reads back, and the audit entry names the new id", func(t *testing.T) {
		s := newStore(t)
		a := addSchedule(t, s, schedule(t, "person:resident"))
		b := schedule(t, "device:02:00:00:00:00:0b")
		b.Mode, b.Block, b.Notice = curfew.ModeBlocklist, []string{"games.example", "video.example"}, "Homework first."
		b.Days, b.From, b.To, b.Zone = curfew.Weekends, 9*60+30, 12*60, time.UTC
		addSchedule(t, s, b)
		c := schedule(t, "group:residents")
		c.Mode, c.Rate = curfew.ModeThrottle, 2_000_000
		addSchedule(t, s, c)
		if a.ID <= 0 || b.ID <= a.ID {
			t.Fatalf("schedule IDs %d, %d: want positive and ascending", a.ID, b.ID)
		}
		es, _ := events(t, s)
		if last := es[len(es)-2]; last.After.Schedule != int64(b.ID) || last.After.Days != "weekends" || last.After.Zone != "UTC" {
			t.Errorf("schedule.added records %+v, want schedule %d, weekends, UTC", last.After, b.ID)
		}
		if last := es[len(es)-1]; last.After.Rate != 2_000_000 || last.After.Mode != curfew.ModeThrottle {
			t.Errorf("schedule.added of a throttle records %+v, want its rate", last.After)
		}
		got, err := s.Schedules(t.Context(), curfew.ScheduleFilter{}, t0)
		if err != nil {
			t.Fatalf("Schedules() = %v", err)
		}
		zone := cmp.Comparer(func(x, y *time.Location) bool { return x.String() == y.String() })
		if diff := cmp.Diff([]*curfew.Schedule{a, b, c}, got, cmpOpts, zone); diff != "" {
			t.Errorf("Schedules() (-want +got):\n%s", diff)
		}
		one, err := s.Schedule(t.Context(), b.ID)
		if err != nil || one.Zone.String() != "UTC" || one.Days != curfew.Weekends {
			t.Errorf("Schedule(%d) = %+v, %v", b.ID, one, err)
		}
		if _, err := s.Schedule(t.Context(), 999); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Schedule(999) = %v, want ErrNotFound", err)
		}
	})

	t.Run("removed and ended schedules are listed only with All", func(t *testing.T) {
		s := newStore(t)
		a := addSchedule(t, s, schedule(t, "person:resident"))
		b := schedule(t, "person:guest")
		b.Until = t0.Add(time.Hour)
		addSchedule(t, s, b)
		c := addSchedule(t, s, schedule(t, "person:visitor"))
		c.Removed, c.RemovedBy, c.RemoveReason = t0.Add(time.Minute), "bob", "holidays"
		if err := s.RemoveSchedule(t.Context(), c, entry("bob", curfew.ActionUnschedule, ""), nil, nil); err != nil {
			t.Fatalf("RemoveSchedule(%d) = %v", c.ID, err)
		}
		open, err := s.Schedules(t.Context(), curfew.ScheduleFilter{}, t0.Add(2*time.Hour))
		if err != nil || len(open) != 1 || open[0].ID != a.ID {
			t.Errorf("Schedules() two hours on = %v, %v; want only %d", open, err, a.ID)
		}
		all, err := s.Schedules(t.Context(), curfew.ScheduleFilter{All: true}, t0.Add(2*time.Hour))
		if err != nil || len(all) != 3 {
			t.Fatalf("Schedules(All) = %v, %v; want 3", all, err)
		}
		if got := all[2]; !got.Removed.Equal(c.Removed) || got.RemovedBy != "bob" || got.RemoveReason != "holidays" {
			t.Errorf("removed schedule reads back as %+v", got)
		}
		n := auditLen(t, s)
		if err := s.RemoveSchedule(t.Context(), c, entry("bob", curfew.ActionUnschedule, ""), nil, nil); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("RemoveSchedule twice = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, n, "removing a removed schedule")
	})

	t.Run("a window is stored once however often it is opened", func(t *testing.T) {
		s := newStore(t)
		sc := addSchedule(t, s, schedule(t, "person:resident"))
		w, _ := sc.Next(t0)
		r := sc.Window(w)
		create(t, s, r)
		if r.Schedule != sc.ID {
			t.Fatalf("window restriction has Schedule %d, want %d", r.Schedule, sc.ID)
		}
		back, err := s.Restriction(t.Context(), r.ID)
		if err != nil || back.Schedule != sc.ID {
			t.Errorf("Restriction(%d) = %+v, %v; want Schedule %d", r.ID, back, err, sc.ID)
		}
		n := auditLen(t, s)
		again := sc.Window(w)
		if err := s.CreateRestriction(t.Context(), again, entry("curfew", curfew.ActionRestrict, "")); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateRestriction of the same window again = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "storing a window twice")
		next, _ := sc.Next(w.End)
		create(t, s, sc.Window(next))
		last, err := s.LastWindows(t.Context())
		if err != nil || !last[sc.ID].Equal(next.End) || len(last) != 1 {
			t.Errorf("LastWindows() = %v, %v; want schedule %d ending %s", last, err, sc.ID, next.End)
		}
	})

	t.Run("removing a schedule lifts its open window in the same transaction", func(t *testing.T) {
		s := newStore(t)
		sc := addSchedule(t, s, schedule(t, "person:resident"))
		other := addSchedule(t, s, schedule(t, "person:guest"))
		w, _ := sc.Next(t0)
		win := create(t, s, sc.Window(w))
		otherWin := create(t, s, other.Window(w))

		// A window of another schedule is refused, and nothing is written.
		n := auditLen(t, s)
		removed := *sc
		removed.Removed, removed.RemovedBy, removed.RemoveReason = w.Start.Add(time.Hour), "bob", "done"
		lifted := *otherWin
		lifted.Lifted, lifted.LiftedBy, lifted.LiftReason = removed.Removed, "bob", "done"
		err := s.RemoveSchedule(t.Context(), &removed, entry("bob", curfew.ActionUnschedule, ""), &lifted, entry("bob", curfew.ActionLift, ""))
		if !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("RemoveSchedule with another schedule's window = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, n, "a refused removal")
		if got, _ := s.Schedule(t.Context(), sc.ID); !got.Removed.IsZero() {
			t.Errorf("a refused removal removed the schedule: %+v", got)
		}

		lifted = *win
		lifted.Lifted, lifted.LiftedBy, lifted.LiftReason = removed.Removed, "bob", "done"
		if err := s.RemoveSchedule(t.Context(), &removed, entry("bob", curfew.ActionUnschedule, ""), &lifted, entry("bob", curfew.ActionLift, "")); err != nil {
			t.Fatalf("RemoveSchedule = %v", err)
		}
		if got := auditLen(t, s); got != n+2 {
			t.Errorf("removal with a lift recorded %d events, want 2", got-n)
		}
		back, _ := s.Restriction(t.Context(), win.ID)
		if !back.Lifted.Equal(removed.Removed) || back.LiftedBy != "bob" {
			t.Errorf("the open window after removal = %+v, want lifted by bob", back)
		}
		lw, err := s.LiftedWindows(t.Context(), w.Start)
		if err != nil || len(lw) != 1 || len(lw[sc.ID]) != 1 || !lw[sc.ID][0].Equal(w.Start) {
			t.Errorf("LiftedWindows() = %v, %v; want the lifted window of schedule %d from %s", lw, err, sc.ID, w.Start)
		}
		if lw, err := s.LiftedWindows(t.Context(), w.End); err != nil || len(lw) != 0 {
			t.Errorf("LiftedWindows(after its end) = %v, %v; want none", lw, err)
		}
	})
}
