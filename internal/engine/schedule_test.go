package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/google/go-cmp/cmp"
)

// In a synctest bubble the clock starts at 2000-01-01 00:00 UTC, a
// Saturday.

func (f *fixture) schedule(t *testing.T, subject, from, to string, until time.Duration) *curfew.Schedule {
	t.Helper()
	s, err := f.eng.AddSchedule(f.ctx, curfew.ScheduleRequest{Subject: subject, Days: "daily", From: from, To: to,
		Zone: "UTC", Until: time.Now().Add(until), Reason: "nights"})
	if err != nil {
		t.Fatalf("AddSchedule(%s %s-%s): %v", subject, from, to, err)
	}
	return s
}

// sleepUntil sleeps to the instant of the day (UTC) given as HH:MM on the
// bubble's day day (0: the first).
func sleepUntil(day int, clock string) {
	at, _ := time.Parse("15:04", clock)
	t := time.Date(2000, 1, 1+day, at.Hour(), at.Minute(), 0, 0, time.UTC)
	time.Sleep(time.Until(t))
	synctest.Wait()
}

// A schedule's window opens and closes with nobody calling anything, is
// listed as a restriction of its schedule while open, and is recorded once
// each way.
func TestScheduleWindowOpensAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		s := f.schedule(t, "device:02:00:00:00:00:01", "01:00", "02:00", 3*24*time.Hour)
		f.wantEnforced(t, "")
		sleepUntil(0, "00:59")
		f.wantEnforced(t, "")
		sleepUntil(0, "01:00")
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-01T02:00:00Z ids=[1]\n")
		rs, err := f.eng.Restrictions(f.ctx, curfew.RestrictionFilter{})
		if err != nil || len(rs) != 1 || rs[0].Schedule != s.ID || !rs[0].End.Equal(time.Date(2000, 1, 1, 2, 0, 0, 0, time.UTC)) {
			t.Errorf("Restrictions() in the window = %+v, %v; want its window, of schedule %d, until 02:00", rs, err, s.ID)
		}
		sleepUntil(0, "02:00")
		f.wantEnforced(t, "")
		sleepUntil(1, "01:30")
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-02T02:00:00Z ids=[2]\n")
		want := []string{"olga schedule.added device:02:00:00:00:00:01",
			"curfew schedule.window_opened 1", "curfew restriction.applied 1", "curfew schedule.window_closed 1",
			"curfew schedule.window_opened 2", "curfew restriction.applied 2"}
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
		if rep, err := f.eng.VerifyAudit(f.ctx); err != nil || !rep.OK {
			t.Errorf("VerifyAudit() = %+v, %v; want OK", rep, err)
		}
	})
}

// An operator lifts the window open now: it ends alone, the schedule stays,
// and the next window opens on time. Removing the schedule lifts its open
// window and opens no other.
func TestScheduleWindowLiftAndRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		s := f.schedule(t, "device:02:00:00:00:00:01", "01:00", "02:00", 5*24*time.Hour)
		sleepUntil(0, "01:10")
		if _, err := f.eng.Lift(f.ctx, 1, "homework done"); err != nil {
			t.Fatalf("Lift(window 1) = %v", err)
		}
		f.wantEnforced(t, "")
		sleepUntil(1, "01:10")
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-02T02:00:00Z ids=[2]\n")
		if _, err := f.eng.RemoveSchedule(f.ctx, s.ID, "holidays"); err != nil {
			t.Fatalf("RemoveSchedule = %v", err)
		}
		f.wantEnforced(t, "")
		sleepUntil(2, "01:30")
		f.wantEnforced(t, "")
		if _, err := f.eng.RemoveSchedule(f.ctx, s.ID, "again"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("RemoveSchedule twice = %v, want ErrConflict", err)
		}
		want := []string{"olga schedule.added device:02:00:00:00:00:01",
			"curfew schedule.window_opened 1", "curfew restriction.applied 1", "olga restriction.lifted 1",
			"curfew schedule.window_opened 2", "curfew restriction.applied 2",
			"olga schedule.removed device:02:00:00:00:00:01", "olga restriction.lifted 2"}
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
		if ss, err := f.eng.Schedules(f.ctx, curfew.ScheduleFilter{}); err != nil || len(ss) != 0 {
			t.Errorf("Schedules() after removal = %v, %v; want none", ss, err)
		}
	})
}

// A window combines with a one-off restriction to the strictest: a
// blocklist all day, cut off in the window.
func TestScheduleCombinesWithRestriction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Mode: curfew.ModeBlocklist,
			Block: []string{"games.example"}, Reason: "exam week", For: 6 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		f.schedule(t, "device:02:00:00:00:00:01", "01:00", "02:00", 24*time.Hour)
		f.wantEnforced(t, "device 02:00:00:00:00:01 blocklist until=2000-01-01T06:00:00Z ids=[1] block=[games.example]\n")
		sleepUntil(0, "01:00")
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-01T02:00:00Z ids=[1 2]\n")
		sleepUntil(0, "02:00")
		f.wantEnforced(t, "device 02:00:00:00:00:01 blocklist until=2000-01-01T06:00:00Z ids=[1] block=[games.example]\n")
	})
}

// restart returns a new engine on f's store and backend, reconciled, as the
// daemon is after a restart.
func restart(t *testing.T, f *fixture) *engine.Engine {
	t.Helper()
	f.eng.Close()
	eng, err := engine.New(&engine.Config{Store: f.db, Backends: []enforce.Backend{f.mem}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VerifyInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	if err := eng.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.eng = eng
	return eng
}

// Windows are recorded once each across restarts: a window that opened
// while the daemon was down is opened at its start, one restart after
// another in the same window opens nothing new, and a window the daemon
// was down through is recorded whole.
func TestScheduleWindowsAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.schedule(t, "device:02:00:00:00:00:01", "01:00", "02:00", 5*24*time.Hour)
		f.eng.Close() // the daemon dies before the window

		sleepUntil(0, "01:20")
		restart(t, f)
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-01T02:00:00Z ids=[1]\n")
		sleepUntil(0, "01:40")
		restart(t, f) // again, in the same window
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until=2000-01-01T02:00:00Z ids=[1]\n")
		f.eng.Close()

		sleepUntil(1, "03:00") // down through the second window
		restart(t, f)
		f.wantEnforced(t, "")
		want := []string{"olga schedule.added device:02:00:00:00:00:01",
			"curfew schedule.window_opened 1", "curfew restriction.applied 1",
			"curfew schedule.window_closed 1", "curfew schedule.window_opened 2", "curfew schedule.window_closed 2"}
		got := f.actions(t)
		var kept []string
		for _, a := range got {
			if a != "curfew daemon.started" && a != "curfew daemon.stopped" {
				kept = append(kept, a)
			}
		}
		if diff := cmp.Diff(want, kept); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
		rs, err := f.db.Restrictions(context.Background(), curfew.RestrictionFilter{All: true})
		if err != nil || len(rs) != 2 || !rs[1].Start.Equal(time.Date(2000, 1, 2, 1, 0, 0, 0, time.UTC)) {
			t.Errorf("stored windows = %+v, %v; want the two, the second from 01:00 on day 2", rs, err)
		}
	})
}

// With approvals configured, a schedule whose windows would each need a
// second operator is refused, and nothing is stored.
func TestScheduleUnderApprovals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, curfew.ApprovalPolicy{Enabled: true, RequiredOver: 30 * time.Minute})
		_, err := f.eng.AddSchedule(f.ctx, curfew.ScheduleRequest{Subject: "device:02:00:00:00:00:01", Days: "daily",
			From: "01:00", To: "02:00", Zone: "UTC", Until: time.Now().Add(48 * time.Hour), Reason: "nights"})
		if !errors.Is(err, curfew.ErrForbidden) {
			t.Errorf("AddSchedule of hour-long windows under a 30m approval threshold = %v, want ErrForbidden", err)
		}
		if got := f.actions(t); len(got) != 0 {
			t.Errorf("a refused schedule recorded %v", got)
		}
		short, err := f.eng.AddSchedule(f.ctx, curfew.ScheduleRequest{Subject: "device:02:00:00:00:00:01", Days: "daily",
			From: "01:00", To: "01:20", Zone: "UTC", Until: time.Now().Add(48 * time.Hour), Reason: "nights"})
		if err != nil || short.ID == 0 {
			t.Errorf("AddSchedule of 20-minute windows = %v, %v; want it stored", short, err)
		}
	})
}
