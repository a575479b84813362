package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

func TestParseFor(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"90m", 90 * time.Minute, ""},
		{"2h30m", 150 * time.Minute, ""},
		{"3d", 72 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"-5m", 0, `--for: "-5m" is negative`},
		{"-1d", 0, `--for: "-1d" is negative`},
		{"0", 0, `--for: "0" is zero; a restriction must last`},
		{"", 0, `--for: "" is not a duration (such as 90m, 2h30m or 3d)`},
		{"5", 0, `--for: "5" is not a duration (such as 90m, 2h30m or 3d)`},
		{"1w", 0, `--for: "1w" is not a duration (such as 90m, 2h30m or 3d)`},
		{"d", 0, `--for: "d" is not a duration (such as 90m, 2h30m or 3d)`},
		{"1d-2h", 0, `--for: "1d-2h" is negative`},
		{"1d+2h", 0, `--for: "1d+2h" is not a duration (such as 90m, 2h30m or 3d)`},
		{"--5m", 0, `--for: "--5m" is not a duration (such as 90m, 2h30m or 3d)`},
	}
	for _, tt := range tests {
		got, err := parseFor(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseFor(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseFor(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUntil(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC) // 22:00 in Paris
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"2026-03-02T08:00:00Z", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), ""},
		{"2026-03-02T08:00:00+01:00", time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), ""},
		{"2026-03-02 08:00", time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), ""},
		{"2026-03-02T08:00", time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), ""},
		{"2026-03-02 08:00:30", time.Date(2026, 3, 2, 7, 0, 30, 0, time.UTC), ""},
		{"23:30", time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC), ""},
		{"07:00", time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), ""},  // already past today
		{"22:00", time.Date(2026, 3, 2, 21, 0, 0, 0, time.UTC), ""}, // now is not the future
		{"2026-03-01 21:00", time.Time{}, "--until: 2026-03-01 21:00:00 CET is not in the future"},
		{"24:00", time.Time{}, `--until: "24:00" is not a time (want RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM")`},
		{"tomorrow", time.Time{}, `--until: "tomorrow" is not a time (want RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM")`},
	}
	for _, tt := range tests {
		got, err := parseUntil(tt.in, now, paris)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseUntil(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseUntil(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

// mustZone loads an IANA zone or skips the test on a machine without the
// time zone database.
func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	return loc
}

// TestParseUntilDST checks clock times on the nights the clocks change, in
// Europe/London (01:00 UTC both ways) and America/New_York (02:00 local):
// a time the clocks skip is refused, one they show twice is the first, and
// "HH:MM" is always that wall-clock time, whatever the offset was when the
// operator typed it.
func TestParseUntilDST(t *testing.T) {
	london, newYork := mustZone(t, "Europe/London"), mustZone(t, "America/New_York")
	utc := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		name    string
		loc     *time.Location
		now     time.Time
		in      string
		want    time.Time
		wantErr string
	}{
		// London goes forward on 29 March 2026: 01:00 GMT becomes 02:00 BST.
		{"London: before the change, in GMT", london, utc(3, 28, 20, 0), "00:30", utc(3, 29, 0, 30), ""},
		{"London: after the change, in BST", london, utc(3, 28, 20, 0), "2026-03-29 18:00", utc(3, 29, 17, 0), ""},
		{"London: tomorrow's 18:00 is BST though today is GMT", london, utc(3, 28, 19, 0), "18:00", utc(3, 29, 17, 0), ""},
		{"London: the skipped hour", london, utc(3, 28, 20, 0), "01:30", time.Time{}, "--until: 2026-03-29 01:30 does not exist in Europe/London: the clocks skip it when they go forward"},
		{"London: the skipped hour, dated", london, utc(3, 28, 20, 0), "2026-03-29T01:00", time.Time{}, "--until: 2026-03-29 01:00 does not exist in Europe/London: the clocks skip it when they go forward"},
		{"London: the first minute after the gap", london, utc(3, 28, 20, 0), "02:00", utc(3, 29, 1, 0), ""},
		// London goes back on 25 October 2026: 02:00 BST becomes 01:00 GMT.
		{"London: the repeated hour is its first time, in BST", london, utc(10, 24, 20, 0), "01:30", utc(10, 25, 0, 30), ""},
		{"London: during the repeat, the second 01:45 is still ahead", london, utc(10, 25, 1, 10), "01:45", utc(10, 25, 1, 45), ""},
		{"London: after the change, in GMT", london, utc(10, 24, 20, 0), "2026-10-25 18:00", utc(10, 25, 18, 0), ""},
		// New York goes forward on 8 March 2026: 02:00 EST becomes 03:00 EDT.
		{"New York: the skipped hour", newYork, utc(3, 8, 5, 0), "02:30", time.Time{}, "--until: 2026-03-08 02:30 does not exist in America/New_York: the clocks skip it when they go forward"},
		{"New York: 18:00 on the day is EDT", newYork, utc(3, 8, 5, 0), "18:00", utc(3, 8, 22, 0), ""},
		{"New York: 18:00 the day before is EST", newYork, utc(3, 7, 5, 0), "18:00", utc(3, 7, 23, 0), ""},
		// New York goes back on 1 November 2026: 02:00 EDT becomes 01:00 EST.
		{"New York: the repeated hour is its first time, in EDT", newYork, utc(11, 1, 4, 0), "01:30", utc(11, 1, 5, 30), ""},
		{"New York: 18:00 on the day is EST", newYork, utc(11, 1, 4, 0), "18:00", utc(11, 1, 23, 0), ""},
		{"New York: a past time is tomorrow's", newYork, utc(11, 1, 23, 30), "18:00", utc(11, 2, 23, 0), ""},
		{"New York: RFC 3339 ignores the zone", newYork, utc(11, 1, 4, 0), "2026-11-01T01:30:00-05:00", utc(11, 1, 6, 30), ""},
		{"New York: now is not the future", newYork, utc(11, 1, 23, 0), "2026-11-01 18:00", time.Time{}, "--until: 2026-11-01 18:00:00 EST is not in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUntil(tt.in, tt.now, tt.loc)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("parseUntil(%q) = %v, %v, want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseUntil(%q) = %v, %v, want %v", tt.in, got, err, tt.want.In(tt.loc))
			}
		})
	}
}

// TestLocalDaysDST checks that a DATE is the whole local day, 23 or 25
// hours long on the days the clocks change, for --from and for a report's
// --from and --to.
func TestLocalDaysDST(t *testing.T) {
	london, newYork := mustZone(t, "Europe/London"), mustZone(t, "America/New_York")
	tests := []struct {
		loc        *time.Location
		day        string
		start, end time.Time
		hours      float64
	}{
		{london, "2026-03-29", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 23, 0, 0, 0, time.UTC), 23},
		{london, "2026-10-25", time.Date(2026, 10, 24, 23, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC), 25},
		{london, "2026-12-02", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), 24},
		{newYork, "2026-03-08", time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC), 23},
		{newYork, "2026-11-01", time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC), 25},
	}
	before := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		from, err := parseReportDate("--from", tt.day, tt.loc, false)
		if err != nil || !from.Equal(tt.start) {
			t.Errorf("report --from %s in %s = %v, %v, want %v", tt.day, tt.loc, from, err, tt.start)
		}
		to, err := parseReportDate("--to", tt.day, tt.loc, true)
		if err != nil || !to.Equal(tt.end) {
			t.Errorf("report --to %s in %s = %v, %v, want %v", tt.day, tt.loc, to, err, tt.end)
		}
		if h := to.Sub(from).Hours(); h != tt.hours {
			t.Errorf("%s in %s lasts %vh, want %vh", tt.day, tt.loc, h, tt.hours)
		}
		if got, err := parseFrom(tt.day, before, tt.loc); err != nil || !got.Equal(tt.start) {
			t.Errorf("restrict --from %s in %s = %v, %v, want %v", tt.day, tt.loc, got, err, tt.start)
		}
	}
}

// TestStartOfDaySkippedMidnight checks a zone whose clocks skip midnight
// itself (Chile moves from 24:00 to 01:00 in September): the day starts
// at 01:00, the first minute it has.
func TestStartOfDaySkippedMidnight(t *testing.T) {
	santiago := mustZone(t, "America/Santiago")
	got := startOfDay(2026, time.September, 6, santiago)
	if want := time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("startOfDay(2026-09-06, Santiago) = %v, want %v (01:00 -03)", got.In(santiago), want.In(santiago))
	}
}

// TestCLIUsesGatewayZone checks that the CLI reads "--until 18:00" and
// prints times in the zone the daemon reports (its config's timezone),
// not in the zone of the machine the CLI runs on, which here is UTC.
func TestCLIUsesGatewayZone(t *testing.T) {
	t.Setenv("TZ", "UTC")
	newYork := mustZone(t, "America/New_York")
	var got []curfew.RestrictRequest
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			got = append(got, req)
			return sampleRestriction(), nil
		},
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			return sampleRestriction(), nil
		},
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			return []*curfew.Restriction{sampleRestriction()}, nil
		},
	}
	h, err := api.NewHandler(&api.HandlerConfig{
		Service: svc, Auth: tokens, Accounts: &apitest.FakeAccounts{},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: func() time.Time { return now },
		TimeZone: newYork,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: func() time.Time { return now },
			env: func(k string) string {
				return map[string]string{"CURFEW_SERVER": srv.URL, "CURFEW_TOKEN": "op-secret"}[k]
			}}
		code := c.main(args)
		return code, out.String(), errb.String()
	}

	// now is 21:00 UTC, 16:00 in New York: 18:00 there is today, 23:00 UTC.
	if code, _, stderr := run("restrict", "person:bob", "--until", "18:00", "--reason", "homework"); code != 0 {
		t.Fatalf("restrict = %d, stderr %q", code, stderr)
	}
	if want := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC); len(got) != 1 || !got[0].End.Equal(want) {
		t.Errorf("restrict --until 18:00 sent %+v, want End %v (18:00 EST)", got, want)
	}
	// A local day in the gateway's zone: 2 March starts at 05:00 UTC.
	got = nil
	if code, _, stderr := run("restrict", "person:bob", "--from", "2026-03-02", "--for", "1h", "--reason", "r"); code != 0 {
		t.Fatalf("restrict --from = %d, stderr %q", code, stderr)
	}
	if want := time.Date(2026, 3, 2, 5, 0, 0, 0, time.UTC); len(got) != 1 || !got[0].Start.Equal(want) {
		t.Errorf("restrict --from 2026-03-02 sent %+v, want Start %v", got, want)
	}

	_, stdout, _ := run("list")
	if !strings.Contains(stdout, "2026-03-01 17:30 EST") {
		t.Errorf("list prints\n%s\nwant the end 22:30 UTC as 2026-03-01 17:30 EST", stdout)
	}
	_, stdout, _ = run("show", "12")
	if !strings.Contains(stdout, "ends:     2026-03-01 17:30 EST (22:30 UTC)") {
		t.Errorf("show prints\n%s\nwant the end in the gateway's zone and UTC", stdout)
	}
}

// FuzzParseUntil checks what every accepted --until promises, in zones
// with daylight saving on both sides of the equator: it is in the future,
// and an "HH:MM" is that reading of the zone's clocks within a day and a
// half (today or tomorrow, a 25-hour day included).
func FuzzParseUntil(f *testing.F) {
	zones := []string{"Europe/London", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "UTC"}
	for _, s := range []string{"18:00", "01:30", "02:30:15", "2026-03-29 01:30", "2026-10-25T01:30", "2026-11-01T01:30:00-05:00", "24:00", ""} {
		f.Add(s, int64(1774735200), uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, unix int64, zone uint8) {
		loc, err := time.LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Skip(err)
		}
		now := time.Unix(unix%(100*365*86400), 0)
		got, err := parseUntil(s, now, loc)
		if err != nil {
			return
		}
		if !got.After(now) {
			t.Errorf("parseUntil(%q) at %v = %v, not in the future", s, now, got)
		}
		for _, layout := range []string{"15:04", "15:04:05"} {
			clock, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			h, m, sec := got.In(loc).Clock()
			if h != clock.Hour() || m != clock.Minute() || sec != clock.Second() {
				t.Errorf("parseUntil(%q) in %s = %v, whose clock reads otherwise", s, loc, got.In(loc))
			}
			if got.Sub(now) > 50*time.Hour {
				t.Errorf("parseUntil(%q) at %v = %v, more than tomorrow", s, now.In(loc), got.In(loc))
			}
		}
	})
}
