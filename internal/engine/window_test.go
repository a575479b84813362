package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
)

// windowsBackend records the kernel windows of every snapshot it is given.
type windowsBackend struct {
	mu  sync.Mutex
	got []*curfew.KernelWindows
}

func (b *windowsBackend) Apply(_ context.Context, s *curfew.Snapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, s.Windows)
	return nil
}

func (b *windowsBackend) Close() error { return nil }

func (b *windowsBackend) last() *curfew.KernelWindows {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[len(b.got)-1]
}

// TestKernelWindowsRecomputed: the engine hands the backends the
// schedules' windows for the next eight days, computed at the first
// reconcile, again after SchedulesChanged, at the instant a schedule's
// zone leaves or enters summer time, and once a day; not at every
// reconcile.
func TestKernelWindowsRecomputed(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	synctest.Test(t, func(t *testing.T) {
		// Eleven hours before London's clocks go forward, at 01:00 UTC
		// on 29 March 2026; off the minute, as the engine also reconciles
		// a minute after each reconcile.
		offset := time.Until(time.Date(2026, 3, 28, 14, 0, 17, 0, time.UTC))
		now := func() time.Time { return time.Now().Add(offset) }
		var mu sync.Mutex
		var from []time.Time
		schedules := func(_ context.Context, f, to time.Time) ([]curfew.KernelSchedule, error) {
			mu.Lock()
			defer mu.Unlock()
			if to.Sub(f) != curfew.KernelWindowsHorizon {
				t.Errorf("schedules asked for [%s, %s), want %s", f, to, curfew.KernelWindowsHorizon)
			}
			from = append(from, f)
			return []curfew.KernelSchedule{{ID: "s1", Reach: curfew.ReachCutoff, Zone: london,
				Windows: []curfew.TimeRange{{Start: f.Add(time.Hour), End: f.Add(2 * time.Hour)}}}}, nil
		}
		calls := func() []time.Time {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(from)
		}
		rec := &windowsBackend{}
		f := newFixtureConfig(t, func(c *engine.Config) {
			c.Backends = []enforce.Backend{rec}
			c.Schedules = schedules
			c.Now = now
		})
		if err := f.eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		first := rec.last()
		if first == nil || len(first.Schedules) != 1 {
			t.Fatalf("first snapshot's windows = %+v, want schedule s1", first)
		}
		if err := f.eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rec.last() != first || len(calls()) != 1 {
			t.Errorf("a reconcile with no schedule change computed the windows again (%d computations)", len(calls()))
		}
		if err := f.eng.SchedulesChanged(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(calls()) != 2 || rec.last() == first {
			t.Errorf("SchedulesChanged: %d computations, want 2", len(calls()))
		}

		time.Sleep(11*time.Hour + time.Second)
		synctest.Wait()
		dst := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
		if got := calls(); !slices.ContainsFunc(got, func(t time.Time) bool { return t.Equal(dst) }) {
			t.Errorf("computations at %v, want one at London's change %s", got, dst)
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if got := calls(); !slices.ContainsFunc(got, func(t time.Time) bool { return t.Equal(dst.Add(24 * time.Hour)) }) {
			t.Errorf("computations at %v, want one a day after the last, at %s", got, dst.Add(24*time.Hour))
		}
		if n := len(calls()); n != 4 {
			t.Errorf("%d computations in a day and a half, want 4 (start, change, DST, daily)", n)
		}
	})
}

// TestKernelWindowsKeptWhileUnread: while the schedules cannot be read,
// the backends are told to keep the windows they hold (the kernel's from
// the last run), not to drop them; once read, they get them.
func TestKernelWindowsKeptWhileUnread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fail := true
		schedules := func(_ context.Context, f, to time.Time) ([]curfew.KernelSchedule, error) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return nil, errors.New("database is locked")
			}
			return []curfew.KernelSchedule{{ID: "s1", Reach: curfew.ReachCutoff,
				Windows: []curfew.TimeRange{{Start: f.Add(time.Hour), End: f.Add(2 * time.Hour)}}}}, nil
		}
		rec := &windowsBackend{}
		f := newFixtureConfig(t, func(c *engine.Config) {
			c.Backends = []enforce.Backend{rec}
			c.Schedules = schedules
		})
		if err := f.eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(); got == nil || !got.Keep {
			t.Fatalf("with the schedules unreadable the backends got %+v, want Keep", got)
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		time.Sleep(2 * time.Second) // the engine retries within a second
		synctest.Wait()
		if got := rec.last(); got == nil || got.Keep || len(got.Schedules) != 1 {
			t.Errorf("once readable the backends got %+v, want schedule s1", got)
		}
	})
}

// TestKernelWindowsOfStoredSchedules: a schedule added through the engine
// reaches the backends as kernel windows at once: its subject's device,
// the next eight days of its windows; removing it takes them away.
func TestKernelWindowsOfStoredSchedules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &windowsBackend{}
		f := newFixtureConfig(t, func(c *engine.Config) { c.Backends = append(c.Backends, rec) })
		if err := f.eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(); got == nil || got.Keep || len(got.Schedules) != 0 {
			t.Fatalf("with no schedules the backends got %+v, want none", got)
		}
		s, err := f.eng.AddSchedule(f.ctx, curfew.ScheduleRequest{Subject: "device:02:00:00:00:00:01", Days: "daily",
			From: "22:00", To: "07:00", Zone: "UTC", Until: time.Now().Add(30 * 24 * time.Hour), Reason: "nights"})
		if err != nil {
			t.Fatal(err)
		}
		got := rec.last()
		if got == nil || len(got.Schedules) != 1 {
			t.Fatalf("after AddSchedule the backends got %+v, want the schedule", got)
		}
		k := got.Schedules[0]
		if k.ID != fmt.Sprint(int64(s.ID)) || k.Reach != curfew.ReachCutoff || len(k.Devices) != 1 || k.Devices[0].MAC.String() != "02:00:00:00:00:01" {
			t.Errorf("kernel schedule = %+v", k)
		}
		// Now (00:00 UTC) is inside last night's window, which opens at
		// the schedule's creation as a restriction, so the kernel is not
		// given it; then eight nights start within eight days.
		if n := len(k.Windows); n != 8 || !k.Windows[0].Start.Equal(time.Now().Add(22*time.Hour)) {
			t.Errorf("%d windows for the next eight days, want 8 from 22:00: %v", n, k.Windows)
		}
		if len(f.mem.Last().Devices) != 1 {
			t.Errorf("the open window is not enforced as a restriction")
		}
		if _, err := f.eng.RemoveSchedule(f.ctx, s.ID, "done"); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(); got == nil || len(got.Schedules) != 0 {
			t.Errorf("after RemoveSchedule the backends got %+v, want none", got)
		}
	})
}
