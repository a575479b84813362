package main

import (
	"testing"
	"time"
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
