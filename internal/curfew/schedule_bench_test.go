package curfew_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// BenchmarkIndexSchedules measures loading 10,000 school-night schedules
// into an Index and opening their windows for now, for schedules added a
// day, 100 days and 300 days ago. Each schedule is expanded from the end of
// its last stored window, so the cost stays flat however many windows have
// passed.
func BenchmarkIndexSchedules(b *testing.B) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC) // a Wednesday night
	for _, age := range []int{1, 100, 300} {
		b.Run(fmt.Sprintf("added_%dd_ago", age), func(b *testing.B) {
			schedules := make([]*curfew.Schedule, 10000)
			for i := range schedules {
				schedules[i] = &curfew.Schedule{ID: curfew.ScheduleID(i + 1), Days: curfew.Daily&^curfew.Weekends | 1<<time.Sunday,
					From: 22 * 60, To: 7 * 60, Zone: london, Mode: curfew.ModeCutoff, Reason: "school nights",
					Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}},
					Created: now.Add(-time.Duration(age) * 24 * time.Hour), Until: now.Add(60 * 24 * time.Hour)}
			}
			lastEnd := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) // this morning's window, stored
			for b.Loop() {
				x := curfew.NewIndex(nil, nil)
				for _, s := range schedules {
					x.PutSchedule(s, lastEnd)
				}
				due := x.Due(now)
				if len(due) != len(schedules) {
					b.Fatalf("Due = %d windows, want %d", len(due), len(schedules))
				}
				for i, d := range due {
					r := d.Schedule.Window(d.Window)
					r.ID = curfew.RestrictionID(i + 1)
					x.Put(r)
				}
				if s := x.Snapshot(now); len(s.Devices) != len(schedules) {
					b.Fatalf("Snapshot restricts %d devices, want %d", len(s.Devices), len(schedules))
				}
			}
		})
	}
}
