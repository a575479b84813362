package curfew_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; "" for an error
	}{
		{"daily", "daily"},
		{"Weekdays", "weekdays"},
		{"weekends", "weekends"},
		{"mon-thu,sun", "mon-thu,sun"},
		{"sun,mon-thu", "mon-thu,sun"},
		{"fri-mon", "mon,fri-sun"},
		{"monday,Tuesday", "mon-tue"},
		{"mon-sun", "daily"},
		{"sat,sun", "weekends"},
		{"wed", "wed"},
		{"", ""},
		{"mon,,tue", ""},
		{"mon-", ""},
		{"funday", ""},
		{"mon-thu,xyz", ""},
		{"every day", ""},
	}
	for _, tt := range tests {
		d, err := curfew.ParseDays(tt.in)
		if tt.want == "" {
			if !errors.Is(err, curfew.ErrInvalid) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseDays(%q) = %v, %v; want a one-line ErrInvalid", tt.in, d, err)
			}
			continue
		}
		if err != nil || d.String() != tt.want {
			t.Errorf("ParseDays(%q) = %q, %v; want %q", tt.in, d, err, tt.want)
		}
		if back, err := curfew.ParseDays(d.String()); err != nil || back != d {
			t.Errorf("ParseDays(%q) = %v, %v; want it to read back %v", d.String(), back, err, d)
		}
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]curfew.Clock{"00:00": 0, "07:30": 450, "23:59": 1439} {
		if c, err := curfew.ParseClock(in); err != nil || c != want || c.String() != in {
			t.Errorf("ParseClock(%q) = %v, %v; want %v", in, c, err, want)
		}
	}
	for _, in := range []string{"", "24:00", "7:30", "07:60", "07-30", "ab:cd", "-1:00", "07:3x"} {
		if c, err := curfew.ParseClock(in); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("ParseClock(%q) = %v, %v; want ErrInvalid", in, c, err)
		}
	}
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("loading zone %s: %v", name, err)
	}
	return loc
}

// utc parses a time written in RFC 3339.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

// TestScheduleNext is the window arithmetic's specification: what each
// kind of schedule opens, and when, written as the instants a user reads
// on the clock.
func TestScheduleNext(t *testing.T) {
	london, newYork := zone(t, "Europe/London"), zone(t, "America/New_York")
	mustDays := func(s string) curfew.Days {
		d, err := curfew.ParseDays(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	clock := func(s string) curfew.Clock {
		c, err := curfew.ParseClock(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type window struct{ start, end string } // RFC 3339
	tests := []struct {
		name     string
		days     string
		from, to string
		zone     *time.Location
		created  string
		until    string
		after    string
		want     []window // the windows Next gives one after another
	}{
		{name: "monday in UTC", days: "mon", from: "09:00", to: "10:00", zone: time.UTC,
			after: "2026-11-30T00:00:00Z", // a Monday
			want:  []window{{"2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z"}, {"2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"}}},
		{name: "tuesday", days: "tue", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"}}},
		{name: "wednesday", days: "wed", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z"}}},
		{name: "thursday", days: "thu", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z"}}},
		{name: "friday", days: "friday", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-04T09:00:00Z", "2026-12-04T10:00:00Z"}}},
		{name: "saturday", days: "sat", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-05T09:00:00Z", "2026-12-05T10:00:00Z"}}},
		{name: "sunday", days: "sun", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-11-30T00:00:00Z",
			want: []window{{"2026-12-06T09:00:00Z", "2026-12-06T10:00:00Z"}}},
		{name: "weekdays skip the weekend", days: "weekdays", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-12-04T10:00:00Z",
			want: []window{{"2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"}, {"2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z"}}},
		{name: "a window open at after is the one given", days: "daily", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-12-02T09:30:00Z",
			want: []window{{"2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z"}, {"2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z"}}},
		{name: "a window's end is not in it", days: "daily", from: "09:00", to: "10:00", zone: time.UTC, after: "2026-12-02T10:00:00Z",
			want: []window{{"2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z"}}},
		{name: "past midnight belongs to the day it starts", days: "mon-thu,sun", from: "22:00", to: "07:00", zone: london,
			after: "2026-12-03T12:00:00Z", // Thursday
			want: []window{
				{"2026-12-03T22:00:00Z", "2026-12-04T07:00:00Z"}, // Thursday night, into Friday
				{"2026-12-06T22:00:00Z", "2026-12-07T07:00:00Z"}, // Sunday night: Friday and Saturday nights are free
			}},
		{name: "past midnight, open since the day before", days: "thu", from: "22:00", to: "07:00", zone: time.UTC, after: "2026-12-04T06:59:00Z",
			want: []window{{"2026-12-03T22:00:00Z", "2026-12-04T07:00:00Z"}}},
		{name: "london spring forward: 22:00 local on both sides", days: "daily", from: "22:00", to: "07:00", zone: london,
			after: "2026-03-28T12:00:00Z",
			want: []window{
				{"2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z"}, // GMT in, BST out: an hour shorter
				{"2026-03-29T21:00:00Z", "2026-03-30T06:00:00Z"}, // 22:00 BST
			}},
		{name: "london fall back: 22:00 local on both sides", days: "daily", from: "22:00", to: "07:00", zone: london,
			after: "2026-10-24T12:00:00Z",
			want: []window{
				{"2026-10-24T21:00:00Z", "2026-10-25T07:00:00Z"}, // BST in, GMT out: an hour longer
				{"2026-10-25T22:00:00Z", "2026-10-26T07:00:00Z"},
			}},
		{name: "new york spring forward", days: "daily", from: "22:00", to: "07:00", zone: newYork,
			after: "2026-03-07T12:00:00Z",
			want: []window{
				{"2026-03-08T03:00:00Z", "2026-03-08T11:00:00Z"}, // 22:00 EST to 07:00 EDT
				{"2026-03-09T02:00:00Z", "2026-03-09T11:00:00Z"}, // 22:00 EDT
			}},
		{name: "new york fall back", days: "daily", from: "22:00", to: "07:00", zone: newYork,
			after: "2026-10-31T12:00:00Z",
			want: []window{
				{"2026-11-01T02:00:00Z", "2026-11-01T12:00:00Z"}, // 22:00 EDT to 07:00 EST
				{"2026-11-02T03:00:00Z", "2026-11-02T12:00:00Z"},
			}},
		{name: "start in the skipped hour starts at the change", days: "sun", from: "02:30", to: "04:00", zone: newYork,
			after: "2026-03-07T12:00:00Z",
			want: []window{
				{"2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}, // 03:00 EDT, the first valid time after 02:30
				{"2026-03-15T06:30:00Z", "2026-03-15T08:00:00Z"}, // 02:30 EDT a week later
			}},
		{name: "end in the skipped hour ends at the change", days: "sun", from: "00:30", to: "01:30", zone: london,
			after: "2026-03-28T12:00:00Z",
			want:  []window{{"2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"}}},
		{name: "start in the repeated hour takes its first occurrence", days: "sun", from: "01:30", to: "03:00", zone: newYork,
			after: "2026-10-31T12:00:00Z",
			want:  []window{{"2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z"}}}, // 01:30 EDT to 03:00 EST
		{name: "end in the repeated hour takes its first occurrence", days: "sat", from: "23:00", to: "01:30", zone: london,
			after: "2026-10-24T12:00:00Z",
			want:  []window{{"2026-10-24T22:00:00Z", "2026-10-25T00:30:00Z"}}}, // 01:30 BST
		{name: "until inside a window cuts it", days: "daily", from: "22:00", to: "07:00", zone: time.UTC,
			until: "2026-12-05T03:00:00Z", after: "2026-12-03T12:00:00Z",
			want: []window{{"2026-12-03T22:00:00Z", "2026-12-04T07:00:00Z"}, {"2026-12-04T22:00:00Z", "2026-12-05T03:00:00Z"}}},
		{name: "until before a window's start: no window", days: "daily", from: "22:00", to: "07:00", zone: time.UTC,
			until: "2026-12-03T22:00:00Z", after: "2026-12-03T12:00:00Z"},
		{name: "created inside a window opens it at once", days: "daily", from: "22:00", to: "07:00", zone: time.UTC,
			created: "2026-12-03T23:15:00Z", after: "2026-12-03T23:15:00Z",
			want: []window{{"2026-12-03T23:15:00Z", "2026-12-04T07:00:00Z"}, {"2026-12-04T22:00:00Z", "2026-12-05T07:00:00Z"}}},
		{name: "leap day", days: "tue", from: "20:00", to: "06:00", zone: london,
			created: "2028-02-20T00:00:00Z", until: "2028-03-31T00:00:00Z", after: "2028-02-23T12:00:00Z",
			want: []window{
				{"2028-02-29T20:00:00Z", "2028-03-01T06:00:00Z"}, // Tuesday 29 February, into 1 March
				{"2028-03-07T20:00:00Z", "2028-03-08T06:00:00Z"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &curfew.Schedule{Days: mustDays(tt.days), From: clock(tt.from), To: clock(tt.to), Zone: tt.zone,
				Created: utc(t, "2026-01-01T00:00:00Z"), Until: utc(t, "2027-01-01T00:00:00Z")}
			if tt.created != "" {
				s.Created = utc(t, tt.created)
			}
			if tt.until != "" {
				s.Until = utc(t, tt.until)
			}
			var got []window
			after := utc(t, tt.after)
			for range max(len(tt.want), 1) {
				w, ok := s.Next(after)
				if !ok {
					break
				}
				got = append(got, window{w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339)})
				after = w.End
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(window{})); diff != "" {
				t.Errorf("windows after %s (-want +got):\n%s", tt.after, diff)
			}
		})
	}
}

// TestScheduleWindows checks that Windows lists what Next gives, one week
// of a school-night schedule, and nothing after the schedule's removal.
func TestScheduleWindows(t *testing.T) {
	days, _ := curfew.ParseDays("mon-thu,sun")
	s := &curfew.Schedule{Days: days, From: 22 * 60, To: 7 * 60, Zone: zone(t, "Europe/London"),
		Created: utc(t, "2026-11-01T00:00:00Z"), Until: utc(t, "2027-06-01T00:00:00Z")}
	ws := s.Windows(utc(t, "2026-12-06T00:00:00Z"), utc(t, "2026-12-13T00:00:00Z")) // Sunday to Sunday
	if len(ws) != 5 {
		t.Fatalf("Windows over a week = %d windows, want 5 (Sunday to Thursday nights): %v", len(ws), ws)
	}
	for i, w := range ws {
		if got := w.Start.Weekday(); got != []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday}[i] {
			t.Errorf("window %d starts on %s", i, got)
		}
	}
	s.Removed = utc(t, "2026-12-08T23:00:00Z") // during Tuesday night
	ws = s.Windows(utc(t, "2026-12-06T00:00:00Z"), utc(t, "2026-12-13T00:00:00Z"))
	if len(ws) != 3 || !ws[2].End.Equal(s.Removed) {
		t.Errorf("Windows after removal = %v, want 3, the last cut at the removal", ws)
	}
}

// TestScheduleRequest checks what `curfew schedule add` refuses, each with
// one line that says what is wrong.
func TestScheduleRequest(t *testing.T) {
	now := utc(t, "2026-12-02T12:00:00Z")
	ok := curfew.ScheduleRequest{Subject: "person:alice", Days: "mon-thu,sun", From: "22:00", To: "07:00",
		Zone: "Europe/London", Until: now.Add(90 * 24 * time.Hour), Reason: "school nights"}
	s, err := ok.Schedule(now, "op", time.UTC)
	if err != nil {
		t.Fatalf("Schedule(%+v) = %v", ok, err)
	}
	if s.Mode != curfew.ModeCutoff || s.Zone.String() != "Europe/London" || s.Days.String() != "mon-thu,sun" {
		t.Errorf("Schedule = %+v", s)
	}
	slow := ok
	slow.Mode, slow.Rate = curfew.ModeThrottle, 1_000_000
	if s, err := slow.Schedule(now, "op", time.UTC); err != nil || s.Rate != 1_000_000 || s.Window(curfew.Window{Start: now, End: now.Add(time.Hour)}).Rate != 1_000_000 {
		t.Errorf("a throttle schedule = %+v, %v; want its rate on it and on its windows", s, err)
	}
	noZone := ok
	noZone.Zone = ""
	if s, err := noZone.Schedule(now, "op", time.UTC); err != nil || s.Zone != time.UTC {
		t.Errorf("without --tz: zone = %v, %v; want the default", s, err)
	}
	tests := []struct {
		name   string
		change func(r *curfew.ScheduleRequest)
		want   string
	}{
		{"unknown day", func(r *curfew.ScheduleRequest) { r.Days = "mon,funday" }, `unknown day "funday"`},
		{"from == to", func(r *curfew.ScheduleRequest) { r.To = "22:00" }, "a window must last"},
		{"bad from", func(r *curfew.ScheduleRequest) { r.From = "25:00" }, "from: invalid: time of day"},
		{"zone that does not exist", func(r *curfew.ScheduleRequest) { r.Zone = "Europe/Atlantis" }, `time zone "Europe/Atlantis" does not exist`},
		{"until in the past", func(r *curfew.ScheduleRequest) { r.Until = now.Add(-time.Hour) }, "is not in the future"},
		{"until over 366 days", func(r *curfew.ScheduleRequest) { r.Until = now.Add(367 * 24 * time.Hour) }, "more than 366 days away"},
		{"no until", func(r *curfew.ScheduleRequest) { r.Until = time.Time{} }, "every schedule must end"},
		{"no reason", func(r *curfew.ScheduleRequest) { r.Reason = " " }, "missing reason"},
		{"bad subject", func(r *curfew.ScheduleRequest) { r.Subject = "alice" }, "subject"},
		{"allowlist without a list", func(r *curfew.ScheduleRequest) { r.Mode = curfew.ModeAllowlist }, "needs at least one"},
		{"cutoff with a list", func(r *curfew.ScheduleRequest) { r.Block = []string{"example.org"} }, "takes no allow or block list"},
		{"unknown mode", func(r *curfew.ScheduleRequest) { r.Mode = "sometimes" }, `mode "sometimes"`},
		{"throttle without a rate", func(r *curfew.ScheduleRequest) { r.Mode = curfew.ModeThrottle }, "mode throttle needs a rate"},
		{"throttle with an allow list", func(r *curfew.ScheduleRequest) {
			r.Mode, r.Rate, r.Allow = curfew.ModeThrottle, 2_000_000, []string{"example.org"}
		}, "mode throttle takes no allow or block list"},
		{"a rate without throttle", func(r *curfew.ScheduleRequest) { r.Rate = 2_000_000 }, "a rate applies to mode throttle only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.change(&req)
			s, err := req.Schedule(now, "op", time.UTC)
			if !errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Schedule = %v, %v; want one line of ErrInvalid containing %q", s, err, tt.want)
			}
		})
	}
}

// FuzzParseDays holds ParseDays, which reads what the API is sent, to its
// contract: an error is one line of ErrInvalid, and days that parse read
// back as themselves from their written form.
func FuzzParseDays(f *testing.F) {
	for _, s := range []string{"daily", "weekdays", "weekends", "mon-thu,sun", "fri-mon", "Monday,TUE", "sun-sun", "mon,,tue", "-", ",", "mon-", "ſun", "mon\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := curfew.ParseDays(s)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseDays(%q) = %v; want one line of ErrInvalid", s, err)
			}
			return
		}
		if d == 0 || d&^curfew.Daily != 0 {
			t.Fatalf("ParseDays(%q) = %b, want a non-empty set of weekdays", s, d)
		}
		if back, err := curfew.ParseDays(d.String()); err != nil || back != d {
			t.Fatalf("ParseDays(%q) = %v; its form %q reads back as %v, %v", s, d, d.String(), back, err)
		}
	})
}

// FuzzParseClock holds ParseClock to its contract: only HH:MM from 00:00
// to 23:59 parses, and reads back as itself.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"00:00", "23:59", "24:00", "7:30", "07:3x", "+1:00", " 7:00", "07:00 ", "٠٧:٠٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := curfew.ParseClock(s)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Fatalf("ParseClock(%q) = %v; want ErrInvalid", s, err)
			}
			return
		}
		if c < 0 || c >= 24*60 || c.String() != s {
			t.Fatalf("ParseClock(%q) = %d, which reads as %q", s, c, c.String())
		}
	})
}
