package web

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// FuzzRestrictForm feeds the Restrict form's fields, as a browser (or
// anyone) may send them, through what the console makes of them: it must
// never panic, and what it refuses it refuses as bad input, so the page
// says what is wrong instead of failing.
func FuzzRestrictForm(f *testing.F) {
	f.Add("device:02:00:00:00:00:01", "cutoff", "1h", "", "", "reason", "notice", "", "", "")
	f.Add("person:alice", "allowlist", "until", "2026-03-01T10:00", "2026-03-02T10:00", "r", "", "school.example,198.51.100.0/24", "", "")
	f.Add("group:g", "blocklist", "90m", "", "2026-03-02T10:00:00Z", "r", "", "", "video.example\nads.example", "2mbit")
	f.Add("group:g", "throttle", "1h", "", "", "r", "", "", "", "2mbit")
	f.Add("group:g", "throttle", "1h", "", "", "r", "", "", "", "0")
	f.Add("ip:2001:db8::/64", "", "", "x", "", "", "", "", "", "")
	f.Add("alice", "slow", "-1h", "2026-13-40T99:99", "yesterday", "\x00", "", ",,,", " \t", "-1gbyte")
	zone, _ := time.LoadLocation("Europe/Madrid")
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, subject, mode, forValue, from, until, reason, notice, allow, block, rate string) {
		form := readRestrictForm(url.Values{
			"subject": {subject}, "mode": {mode}, "for": {forValue}, "from": {from}, "until": {until},
			"reason": {reason}, "notice": {notice}, "allow": {allow}, "block": {block}, "rate": {rate},
		})
		req, err := form.request(zone)
		if err == nil {
			_, err = req.Restriction(now, "olga")
		}
		if err != nil && !errors.Is(err, curfew.ErrInvalid) {
			t.Fatalf("form %+v: error %v is not curfew.ErrInvalid", form, err)
		}
	})
}

// TestEndOrDuration checks the choices of the forms' duration fields.
func TestEndOrDuration(t *testing.T) {
	zone, _ := time.LoadLocation("Europe/Madrid")
	for _, tt := range []struct {
		forValue, until string
		end             time.Time
		d               time.Duration
		bad             bool
	}{
		{"1h", "", time.Time{}, time.Hour, false},
		{"1d", "", time.Time{}, 24 * time.Hour, false},
		{"1w", "", time.Time{}, 7 * 24 * time.Hour, false},
		{"until", "2026-03-01T10:00", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 0, false},
		{"", "2026-03-01T10:00", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), 0, false},
		{"until", "", time.Time{}, 0, true},
		{"", "", time.Time{}, 0, true},
		{"-1h", "", time.Time{}, 0, true},
		{"soon", "", time.Time{}, 0, true},
		{"until", "01/03/2026", time.Time{}, 0, true},
	} {
		end, d, err := endOrDuration(tt.forValue, tt.until, zone)
		if tt.bad {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("endOrDuration(%q, %q) = %v, %v, %v; want an ErrInvalid", tt.forValue, tt.until, end, d, err)
			}
			continue
		}
		if err != nil || !end.Equal(tt.end) || d != tt.d {
			t.Errorf("endOrDuration(%q, %q) = %v, %v, %v; want %v, %v", tt.forValue, tt.until, end, d, err, tt.end, tt.d)
		}
	}
}

// TestEventDetail renders events from their typed fields.
func TestEventDetail(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		e    *audit.Event
		want string
	}{
		{&audit.Event{Kind: audit.KindRestrictionExtended, Before: &audit.Fields{End: at}, After: &audit.Fields{End: at.Add(time.Hour)}},
			"end: 2026-03-01 09:00:00 UTC → 2026-03-01 10:00:00 UTC"},
		{&audit.Event{Kind: audit.KindRestrictionLifted, Before: &audit.Fields{End: at}, After: &audit.Fields{Lifted: at, LiftedBy: "olga"}},
			"end: 2026-03-01 09:00:00 UTC; lifted: 2026-03-01 09:00:00 UTC; lifted by: olga"},
		{&audit.Event{Kind: audit.KindGroupMemberAdded, After: &audit.Fields{Member: "person:alice"}}, "member: person:alice"},
		{&audit.Event{Kind: audit.KindDaemonStarted, After: &audit.Fields{ConfigSHA256: "ab"}}, "config sha256: ab"},
		{&audit.Event{Kind: audit.KindLegacy, Legacy: &audit.Legacy{Detail: "old text"}}, "old text"},
	} {
		if got := eventDetail(tt.e, time.UTC); got != tt.want {
			t.Errorf("eventDetail(%s) = %q, want %q", tt.e.Kind, got, tt.want)
		}
	}
}

// TestRestrictFormThrottle checks the form's rate: read for a throttle
// alone, required there, and refused as bad input when it does not parse.
func TestRestrictFormThrottle(t *testing.T) {
	zone := time.UTC
	for _, tt := range []struct {
		mode, rate string
		want       curfew.Rate
		bad        string
	}{
		{"throttle", "2mbit", 2_000_000, ""},
		{"throttle", " 512kbit ", 512_000, ""},
		{"throttle", "", 0, "missing rate"},
		{"throttle", "0mbit", 0, "is zero"},
		{"throttle", "2", 0, "has no unit"},
		{"blocklist", "2mbit", 0, ""}, // hidden by the form for other modes: ignored
	} {
		form := readRestrictForm(url.Values{"subject": {"person:alice"}, "mode": {tt.mode}, "for": {"1h"}, "reason": {"r"}, "rate": {tt.rate}, "block": {"games.example"}})
		req, err := form.request(zone)
		switch {
		case tt.bad != "" && (err == nil || !errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("mode %s rate %q: error %v, want ErrInvalid saying %q", tt.mode, tt.rate, err, tt.bad)
		case tt.bad == "" && (err != nil || req.Rate != tt.want):
			t.Errorf("mode %s rate %q: rate %d, %v; want %d", tt.mode, tt.rate, req.Rate, err, tt.want)
		}
	}
}
