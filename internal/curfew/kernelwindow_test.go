package curfew_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestNextOffsetChange(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	newYork, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		name         string
		loc          *time.Location
		after, until string
		want         string // "" for none
	}{
		{"London spring forward", london, "2026-03-25T00:00:00Z", "2026-04-02T00:00:00Z", "2026-03-29T01:00:00Z"},
		{"London fall back", london, "2026-10-20T12:00:00Z", "2026-10-28T12:00:00Z", "2026-10-25T01:00:00Z"},
		{"New York spring forward", newYork, "2026-03-05T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-08T07:00:00Z"},
		{"New York fall back", newYork, "2026-10-30T00:00:00Z", "2026-11-07T00:00:00Z", "2026-11-01T06:00:00Z"},
		{"no change in the week", london, "2026-12-02T00:00:00Z", "2026-12-10T00:00:00Z", ""},
		{"UTC never changes", time.UTC, "2026-03-25T00:00:00Z", "2026-04-02T00:00:00Z", ""},
		{"the change at the end counts", london, "2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := curfew.NextOffsetChange(c.loc, instant(c.after), instant(c.until))
			if c.want == "" {
				if ok {
					t.Errorf("got a change at %s, want none", got)
				}
				return
			}
			if !ok || !got.Equal(instant(c.want)) {
				t.Errorf("got %s, %v; want %s", got, ok, c.want)
			}
		})
	}
}

func TestPlanKernelWindows(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	now := instant("2026-10-22T12:00:00Z")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	r := func(a, b string) curfew.TimeRange { return curfew.TimeRange{Start: instant(a), End: instant(b)} }
	in := []curfew.KernelSchedule{{
		ID: "b", Reach: curfew.ReachCutoff, Zone: london, Devices: []curfew.KernelDevice{{MAC: mac}},
		Windows: []curfew.TimeRange{
			r("2026-11-05T21:00:00Z", "2026-11-06T07:00:00Z"), // after the horizon: dropped
			r("2026-10-22T21:00:00Z", "2026-10-23T06:00:00Z"),
			r("2026-10-21T21:00:00Z", "2026-10-22T06:00:00Z"), // over: dropped
			r("2026-10-23T05:00:00Z", "2026-10-23T07:00:00Z"), // overlaps: merged
			r("2026-10-23T07:00:00Z", "2026-10-23T08:00:00Z"), // touches: merged
			r("2026-10-22T11:00:00Z", "2026-10-22T13:00:00Z"), // open now: kept
		},
	}, {ID: "a", Reach: curfew.ReachAllowlist, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}}
	got, err := curfew.PlanKernelWindows(now, curfew.KernelWindowsHorizon, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schedules[0].ID != "a" || got.Schedules[1].ID != "b" {
		t.Errorf("schedules not sorted by ID: %s, %s", got.Schedules[0].ID, got.Schedules[1].ID)
	}
	want := []curfew.TimeRange{r("2026-10-22T11:00:00Z", "2026-10-22T13:00:00Z"), r("2026-10-22T21:00:00Z", "2026-10-23T08:00:00Z")}
	if d := cmp.Diff(want, got.Schedules[1].Windows); d != "" {
		t.Errorf("windows (-want +got):\n%s", d)
	}
	if len(in[0].Windows) != 6 {
		t.Errorf("PlanKernelWindows modified its input")
	}
	// London leaves summer time on 25 October at 01:00 UTC, three days
	// away: the daily recompute comes first; a day before, the change.
	if want := now.Add(24 * time.Hour); !got.Recompute.Equal(want) {
		t.Errorf("Recompute = %s, want %s", got.Recompute, want)
	}
	got, err = curfew.PlanKernelWindows(instant("2026-10-24T12:00:00Z"), curfew.KernelWindowsHorizon, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := instant("2026-10-25T01:00:00Z"); !got.Recompute.Equal(want) {
		t.Errorf("Recompute before London's change = %s, want %s", got.Recompute, want)
	}
	if want := instant("2026-11-01T12:00:00Z"); !got.Until.Equal(want) {
		t.Errorf("Until = %s, want %s (eight days)", got.Until, want)
	}
}

func TestPlanKernelWindowsRefuses(t *testing.T) {
	now := instant("2026-12-02T00:00:00Z")
	ok := func() curfew.KernelSchedule {
		return curfew.KernelSchedule{ID: "s1", Reach: curfew.ReachCutoff,
			Windows: []curfew.TimeRange{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}}}
	}
	for _, c := range []struct {
		name string
		edit func(*curfew.KernelSchedule)
		want string
	}{
		{"empty id", func(s *curfew.KernelSchedule) { s.ID = "" }, `schedule id ""`},
		{"id with a space", func(s *curfew.KernelSchedule) { s.ID = "a b" }, `schedule id "a b"`},
		{"no reach", func(s *curfew.KernelSchedule) { s.Reach = "" }, `reach ""`},
		{"open without a rate", func(s *curfew.KernelSchedule) { s.Reach = curfew.ReachOpen }, "rate 0 with reach open"},
		{"negative rate", func(s *curfew.KernelSchedule) { s.Rate = -1 }, "rate -1 with reach cutoff"},
		{"allow on cutoff", func(s *curfew.KernelSchedule) {
			s.AllowPrefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		}, "allowed prefixes with reach cutoff"},
		{"unmasked prefix", func(s *curfew.KernelSchedule) { s.Prefixes = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")} }, "10.0.0.1/24 is not a masked prefix"},
		{"short MAC", func(s *curfew.KernelSchedule) { s.Devices = []curfew.KernelDevice{{MAC: net.HardwareAddr{1, 2}}} }, "not a 6-byte MAC"},
		{"empty window", func(s *curfew.KernelSchedule) { s.Windows[0].End = s.Windows[0].Start }, "is empty"},
		{"too many windows", func(s *curfew.KernelSchedule) {
			s.Windows = make([]curfew.TimeRange, curfew.MaxKernelWindows+1)
		}, "1025 windows"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := ok()
			c.edit(&s)
			_, err := curfew.PlanKernelWindows(now, curfew.KernelWindowsHorizon, []curfew.KernelSchedule{s})
			if !errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
	_, err := curfew.PlanKernelWindows(now, curfew.KernelWindowsHorizon, []curfew.KernelSchedule{ok(), ok()})
	if !errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), "two schedules with id s1") {
		t.Errorf("two schedules with one ID: %v", err)
	}
}
