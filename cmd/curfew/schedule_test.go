package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// TestScheduleUsageErrorsSendNothing checks that each bad `curfew schedule`
// command line exits 2 with one line saying what is wrong, and that no
// request reaches the service (any call panics).
func TestScheduleUsageErrorsSendNothing(t *testing.T) {
	ok := []string{"schedule", "add", "person:bob", "--days", "mon-thu,sun", "--from", "22:00", "--to", "07:00",
		"--until", "2026-06-30", "--reason", "school nights"}
	with := func(flag, value string) []string {
		out := append([]string(nil), ok...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = value
				return out
			}
		}
		return append(out, flag, value)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"schedule"}, "curfew: schedule: want a subcommand: schedule add SUBJECT ... or schedule remove ID --reason TEXT"},
		{with("--days", "mon,funday"), `curfew: schedule add: days "mon,funday": unknown day "funday" (want mon, tue, wed, thu, fri, sat or sun)`},
		{with("--days", "someday"), `curfew: schedule add: days "someday": unknown day "someday" (want mon, tue, wed, thu, fri, sat or sun)`},
		{with("--to", "22:00"), "curfew: schedule add: --from and --to are both 22:00: a window must last"},
		{with("--from", "25:00"), `curfew: schedule add: from: time of day "25:00": want HH:MM from 00:00 to 23:59`},
		{with("--to", "7pm"), `curfew: schedule add: to: time of day "7pm": want HH:MM, such as 22:00`},
		{with("--tz", "Europe/Atlantis"), `curfew: schedule add: --tz: time zone "Europe/Atlantis" does not exist (want an IANA name such as Europe/London)`},
		{with("--until", "2026-02-01"), "curfew: schedule add: --until: 2026-02-01 is in the past"},
		{with("--until", "2027-06-30"), "curfew: schedule add: until 2027-07-01T00:00:00Z is more than 366 days away"},
		{with("--until", "whenever"), `curfew: schedule add: --until: "whenever" is not a time (want RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM") (or "YYYY-MM-DD", the end of that day)`},
		{with("--reason", " "), "curfew: schedule add: missing --reason TEXT: every schedule needs one"},
		{with("--mode", "sometimes"), `curfew: schedule add: --mode: "sometimes" is not cutoff, allowlist, blocklist or throttle`},
		{with("--mode", "allowlist"), "curfew: schedule add: mode allowlist needs at least one allowed domain or prefix"},
		{with("--block", "example.org"), "curfew: schedule add: mode cutoff takes no allow or block list"},
		{with("--mode", "throttle"), "curfew: schedule add: --mode throttle needs --rate R, such as 2mbit"},
		{with("--rate", "2mbit"), "curfew: schedule add: --rate applies to --mode throttle only, not cutoff"},
		{append(with("--mode", "throttle"), "--rate", "0mbit"), `curfew: schedule add: --rate: rate "0mbit" is zero: a throttle needs a rate (to cut access, use mode cutoff)`},
		{append(with("--mode", "throttle"), "--rate", "2"), `curfew: schedule add: --rate: rate "2" has no unit: add bit, kbit, mbit, gbit, byte, kbyte, mbyte or gbyte`},
		{append(with("--mode", "throttle"), "--rate", "2mbit", "--allow", "example.org"), "curfew: schedule add: --mode throttle takes no --allow or --block: restrict again with --mode allowlist or blocklist for those; both apply"},
		{[]string{"schedule", "add", "person:bob", "--from", "22:00", "--to", "07:00", "--until", "2026-06-30", "--reason", "x"}, "curfew: schedule add: missing --days DAYS, such as daily, weekdays or mon-thu,sun"},
		{[]string{"schedule", "add", "person:bob", "--days", "daily", "--from", "22:00", "--until", "2026-06-30", "--reason", "x"}, "curfew: schedule add: missing --from HH:MM or --to HH:MM: a window needs both"},
		{[]string{"schedule", "add", "person:bob", "--days", "daily", "--from", "22:00", "--to", "07:00", "--reason", "x"}, "curfew: schedule add: missing --until DATE: every schedule must end"},
		{[]string{"schedule", "add", "--days", "daily"}, "curfew: schedule add: missing SUBJECT, such as person:NAME, device:02:00:00:00:00:01 or group:NAME"},
		{append(with("--days", "daily"), "extra"), `curfew: schedule add: unexpected argument "extra" after the subject`},
		{[]string{"schedule", "add", "bob", "--days", "daily", "--from", "22:00", "--to", "07:00", "--until", "2026-06-30", "--reason", "x"}, `curfew: schedule add: subject "bob": want device:MAC, person:NAME, group:NAME or ip:ADDR[/PREFIX]`},
		{[]string{"schedule", "remove", "3"}, "curfew: schedule remove: missing --reason TEXT: removing a schedule needs one"},
		{[]string{"schedule", "remove", "x3", "--reason", "r"}, `curfew: schedule remove: schedule id "x3" is not a positive integer`},
		{[]string{"schedule", "remove", "--reason", "r"}, "curfew: schedule remove: want one schedule ID (see curfew schedules)"},
		{[]string{"schedules", "-o", "yaml"}, `curfew: schedules: -o: "yaml" is not text or json`},
	}
	h := newHarness(t, &apitest.FakeService{})
	for _, tt := range tests {
		code, stdout, stderr := h.run(tt.args...)
		if code != 2 || stdout != "" {
			t.Errorf("curfew %s = exit %d, stdout %q; want 2 and nothing", strings.Join(tt.args, " "), code, stdout)
		}
		checkOneLine(t, stderr, tt.want)
	}
}

// TestScheduleAdd checks that `curfew schedule add` sends what it was
// given and prints the new id alone, and that a server's refusal exits 2.
func TestScheduleAdd(t *testing.T) {
	var got curfew.ScheduleRequest
	svc := &apitest.FakeService{AddScheduleFunc: func(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error) {
		got = req
		s, err := req.Schedule(now, "alice", time.UTC)
		if err != nil {
			return nil, err
		}
		s.ID = 4
		return s, nil
	}}
	h := newHarness(t, svc)
	code, stdout, stderr := h.run("schedule", "add", "person:bob", "--days", "mon-thu,sun", "--from", "22:00", "--to", "07:00",
		"--until", "2026-06-30", "--tz", "Europe/London", "--reason", "school nights", "--notice", "Sleep well.")
	if code != 0 || stdout != "4\n" || stderr != "" {
		t.Fatalf("schedule add = exit %d, stdout %q, stderr %q; want 0 and the id alone", code, stdout, stderr)
	}
	london, _ := time.LoadLocation("Europe/London")
	want := curfew.ScheduleRequest{Subject: "person:bob", Days: "mon-thu,sun", From: "22:00", To: "07:00", Zone: "Europe/London",
		Until: time.Date(2026, 7, 1, 0, 0, 0, 0, london).UTC(), Mode: curfew.ModeCutoff, Reason: "school nights", Notice: "Sleep well."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddSchedule request (-want +got):\n%s", diff)
	}

	svc.AddScheduleFunc = func(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error) {
		return nil, curfew.ErrInvalid
	}
	if code, _, _ := h.run("schedule", "add", "person:bob", "--days", "daily", "--from", "22:00", "--to", "07:00",
		"--until", "2026-06-30", "--reason", "x"); code != 2 {
		t.Errorf("schedule add refused by the server = exit %d, want 2", code)
	}
}

// TestSchedules checks that `curfew schedules` shows the next window in
// the schedule's local time and in UTC, and -o json has it as fields.
func TestSchedules(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	s := &curfew.Schedule{ID: 4, Subject: curfew.Subject{Kind: curfew.SubjectPerson, Name: "bob"}, Days: curfew.Weekdays,
		From: 22 * 60, To: 7 * 60, Zone: london, Until: now.Add(60 * 24 * time.Hour), Mode: curfew.ModeCutoff,
		Reason: "school nights", Author: "alice", Created: now.Add(-time.Hour)}
	h := newHarness(t, &apitest.FakeService{SchedulesFunc: func(ctx context.Context, f curfew.ScheduleFilter) ([]*curfew.Schedule, error) {
		return []*curfew.Schedule{s}, nil
	}})
	// now is Sunday 2026-03-01 21:00 UTC: the next weekday night is Monday's.
	code, stdout, stderr := h.run("schedules")
	if code != 0 || stderr != "" {
		t.Fatalf("schedules = exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"weekdays", "22:00–07:00 Europe/London", "Mon 2026-03-02 22:00 GMT – 07:00 GMT", "2026-03-02 22:00Z – 07:00Z"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("schedules printed\n%s\nwant it to contain %q", stdout, want)
		}
	}
	code, stdout, _ = h.run("schedules", "-o", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); code != 0 || err != nil || len(rows) != 1 {
		t.Fatalf("schedules -o json = exit %d, %q, %v", code, stdout, err)
	}
	next, _ := rows[0]["next_window"].(map[string]any)
	if next["starts_at"] != "2026-03-02T22:00:00Z" || next["starts_local"] != "2026-03-02T22:00:00Z" || next["open"] != false {
		t.Errorf("next_window = %v", next)
	}
}
