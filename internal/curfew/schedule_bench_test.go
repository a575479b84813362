package curfew_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// BenchmarkIndexSchedules measures what a daemon start costs for 1,000
// school-night schedules added 1, 100 and 300 days ago: loading them into
// an Index, opening the window each has open now, and computing the
// snapshot. "last_window" expands each schedule from the end of its last
// stored window, as the engine does; "from_creation", the alternative,
// expands it from its creation and skips the windows that have passed.
// The first stays flat however many windows have passed; the second grows
// with them.
func BenchmarkIndexSchedules(b *testing.B) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC) // a Wednesday night
	lastEnd := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	days, _ := curfew.ParseDays("mon-thu,sun")
	for _, from := range []string{"last_window", "from_creation"} {
		for _, age := range []int{1, 100, 300} {
			b.Run(fmt.Sprintf("%s/added_%dd_ago", from, age), func(b *testing.B) {
				schedules := make([]*curfew.Schedule, 1000)
				for i := range schedules {
					schedules[i] = &curfew.Schedule{ID: curfew.ScheduleID(i + 1), Days: days,
						From: 22 * 60, To: 7 * 60, Zone: london, Mode: curfew.ModeCutoff, Reason: "school nights",
						Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}},
						Created: now.Add(-time.Duration(age) * 24 * time.Hour), Until: now.Add(60 * 24 * time.Hour)}
				}
				for b.Loop() {
					x := curfew.NewIndex(nil, nil)
					for _, s := range schedules {
						after := lastEnd
						if from == "from_creation" {
							after = s.Created
						}
						x.PutSchedule(s, after)
					}
					var open int
					for i, d := range x.Due(now) {
						if !d.Window.End.After(now) {
							continue // passed: the alternative skips it
						}
						r := d.Schedule.Window(d.Window)
						r.ID = curfew.RestrictionID(i + 1)
						x.Put(r)
						open++
					}
					if open != len(schedules) {
						b.Fatalf("%d windows open, want %d", open, len(schedules))
					}
					if s := x.Snapshot(now); len(s.Devices) != len(schedules) {
						b.Fatalf("Snapshot restricts %d devices, want %d", len(s.Devices), len(schedules))
					}
				}
			})
		}
	}
}

// BenchmarkScheduleWindows measures expanding 10,000 schedules into their
// windows of the next eight days, as the kernel is handed them at every
// recompute: school nights in Europe/London, and the same in UTC, which
// has no daylight saving to look for.
func BenchmarkScheduleWindows(b *testing.B) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	days, _ := curfew.ParseDays("mon-thu,sun")
	for _, zone := range []*time.Location{london, time.UTC} {
		b.Run(zone.String(), func(b *testing.B) {
			schedules := make([]*curfew.Schedule, 10000)
			for i := range schedules {
				schedules[i] = &curfew.Schedule{ID: curfew.ScheduleID(i + 1), Days: days, From: 22 * 60, To: 7 * 60, Zone: zone,
					Mode: curfew.ModeCutoff, Created: now.Add(-24 * time.Hour), Until: now.Add(90 * 24 * time.Hour)}
			}
			for b.Loop() {
				n := 0
				for _, s := range schedules {
					n += len(s.Windows(now, now.Add(8*24*time.Hour)))
				}
				if n != 6*len(schedules) {
					b.Fatalf("%d windows, want 6 a schedule", n)
				}
			}
		})
	}
}
