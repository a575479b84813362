package curfew_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)

func TestRestrictionStatusAt(t *testing.T) {
	r := &curfew.Restriction{Start: t0, End: t0.Add(time.Hour)}
	lifted := &curfew.Restriction{Start: t0, End: t0.Add(time.Hour), Lifted: t0.Add(10 * time.Minute)}
	tests := []struct {
		name   string
		r      *curfew.Restriction
		at     time.Time
		want   curfew.Status
		active bool
	}{
		{"before start", r, t0.Add(-time.Second), curfew.StatusScheduled, false},
		{"at start", r, t0, curfew.StatusActive, true},
		{"inside", r, t0.Add(time.Minute), curfew.StatusActive, true},
		{"at end is over", r, t0.Add(time.Hour), curfew.StatusExpired, false},
		{"lifted, before lift", lifted, t0.Add(time.Minute), curfew.StatusLifted, true},
		{"lifted, after lift", lifted, t0.Add(11 * time.Minute), curfew.StatusLifted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.StatusAt(tt.at); got != tt.want {
				t.Errorf("StatusAt(%v) = %v, want %v", tt.at, got, tt.want)
			}
			if got := tt.r.ActiveAt(tt.at); got != tt.active {
				t.Errorf("ActiveAt(%v) = %v, want %v", tt.at, got, tt.active)
			}
		})
	}
}

func TestRestrictRequest(t *testing.T) {
	ok := curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "abuse report", For: time.Hour}
	tests := []struct {
		name    string
		edit    func(r *curfew.RestrictRequest)
		wantErr string // substring; empty means success
	}{
		{"valid", func(r *curfew.RestrictRequest) {}, ""},
		{"until", func(r *curfew.RestrictRequest) { r.For = 0; r.End = t0.Add(2 * time.Hour) }, ""},
		{"missing reason", func(r *curfew.RestrictRequest) { r.Reason = "  " }, "missing reason"},
		{"missing duration", func(r *curfew.RestrictRequest) { r.For = 0 }, "must end"},
		{"negative duration", func(r *curfew.RestrictRequest) { r.For = -time.Minute }, "negative"},
		{"both", func(r *curfew.RestrictRequest) { r.End = t0.Add(time.Hour) }, "not both"},
		{"end in the past", func(r *curfew.RestrictRequest) { r.For = 0; r.End = t0.Add(-time.Hour) }, "not in the future"},
		{"too long", func(r *curfew.RestrictRequest) { r.For = 400 * 24 * time.Hour }, "longer than the maximum"},
		{"unknown mode", func(r *curfew.RestrictRequest) { r.Mode = "slow" }, "mode \"slow\""},
		{"throttle without rate", func(r *curfew.RestrictRequest) { r.Mode = curfew.ModeThrottle }, "needs a rate"},
		{"throttle with allow", func(r *curfew.RestrictRequest) {
			r.Mode, r.Rate, r.Allow = curfew.ModeThrottle, 2_000_000, []string{"example.org"}
		}, "takes no allow or block"},
		{"throttle with block", func(r *curfew.RestrictRequest) {
			r.Mode, r.Rate, r.Block = curfew.ModeThrottle, 2_000_000, []string{"example.org"}
		}, "takes no allow or block"},
		{"throttle below the minimum rate", func(r *curfew.RestrictRequest) { r.Mode, r.Rate = curfew.ModeThrottle, 100 }, "want between"},
		{"rate without throttle", func(r *curfew.RestrictRequest) { r.Rate = 2_000_000 }, "applies to mode throttle only"},
		{"blocklist with rate", func(r *curfew.RestrictRequest) {
			r.Mode, r.Rate, r.Block = curfew.ModeBlocklist, 2_000_000, []string{"example.org"}
		}, "applies to mode throttle only"},
		{"bad subject", func(r *curfew.RestrictRequest) { r.Subject = "device:nope" }, "MAC address"},
		{"cutoff with allow", func(r *curfew.RestrictRequest) { r.Allow = []string{"example.org"} }, "takes no allow"},
		{"allowlist without allow", func(r *curfew.RestrictRequest) { r.Mode = curfew.ModeAllowlist }, "at least one"},
		{"control character", func(r *curfew.RestrictRequest) { r.Notice = "a\x00b" }, "control character"},
		{"long notice", func(r *curfew.RestrictRequest) { r.Notice = strings.Repeat("x", 2001) }, "more than 2000"},
		{"ip prefix", func(r *curfew.RestrictRequest) { r.Subject = "ip:10.9.0.0/16" }, ""},
		{"wide ip prefix", func(r *curfew.RestrictRequest) { r.Subject = "ip:128.0.0.0/1" }, "holds"},
		{"wide ip prefix forced", func(r *curfew.RestrictRequest) { r.Subject = "ip:10.0.0.0/8"; r.Force = true }, ""},
		{"wide ip prefix not forced", func(r *curfew.RestrictRequest) { r.Subject = "ip:10.0.0.0/8" }, "needs --force"},
		{"loopback forced", func(r *curfew.RestrictRequest) { r.Subject = "ip:127.0.0.1"; r.Force = true }, "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.edit(&req)
			r, err := req.Restriction(t0, "op")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Restriction() = %v", err)
				}
				if !r.Start.Equal(t0) || r.Author != "op" || r.Mode != curfew.ModeCutoff {
					t.Errorf("Restriction() = %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("Restriction() error = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestExtendedEnd(t *testing.T) {
	r := &curfew.Restriction{ID: 7, Start: t0, End: t0.Add(time.Hour)}
	now := t0.Add(30 * time.Minute)
	tests := []struct {
		name    string
		r       *curfew.Restriction
		end     time.Time
		d       time.Duration
		want    time.Time
		wantErr error
	}{
		{"for adds to the end", r, time.Time{}, time.Hour, t0.Add(2 * time.Hour), nil},
		{"until later", r, t0.Add(3 * time.Hour), 0, t0.Add(3 * time.Hour), nil},
		{"until earlier but future", r, t0.Add(45 * time.Minute), 0, t0.Add(45 * time.Minute), nil},
		{"until in the past", r, t0.Add(10 * time.Minute), 0, time.Time{}, curfew.ErrInvalid},
		{"neither", r, time.Time{}, 0, time.Time{}, curfew.ErrInvalid},
		{"negative", r, time.Time{}, -time.Hour, time.Time{}, curfew.ErrInvalid},
		{"lifted", &curfew.Restriction{Start: t0, End: t0.Add(time.Hour), Lifted: t0}, time.Time{}, time.Hour, time.Time{}, curfew.ErrConflict},
		{"expired", &curfew.Restriction{Start: t0, End: t0.Add(time.Minute)}, time.Time{}, time.Hour, time.Time{}, curfew.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.ExtendedEnd(now, tt.end, tt.d)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ExtendedEnd() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ExtendedEnd() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestEndErrors checks that an end before the start is reported as such,
// and "not in the future" only for an end that really is in the past.
func TestEndErrors(t *testing.T) {
	now := t0 // 2026-03-01T21:00:00Z
	later := &curfew.Restriction{ID: 7, Reason: "r", Start: now.Add(2 * time.Hour), End: now.Add(3 * time.Hour)}
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"restrict: end before a future start", func() error {
			_, err := (&curfew.RestrictRequest{Subject: "person:bob", Reason: "r", Start: now.Add(2 * time.Hour), End: now.Add(time.Hour)}).Restriction(now, "op")
			return err
		}, "invalid: ends_at 2026-03-01T22:00:00Z is before starts_at 2026-03-01T23:00:00Z"},
		{"restrict: end at a future start", func() error {
			_, err := (&curfew.RestrictRequest{Subject: "person:bob", Reason: "r", Start: now.Add(2 * time.Hour), End: now.Add(2 * time.Hour)}).Restriction(now, "op")
			return err
		}, "invalid: ends_at 2026-03-01T23:00:00Z is the same instant as starts_at: a restriction must last"},
		{"restrict: end in the past", func() error {
			_, err := (&curfew.RestrictRequest{Subject: "person:bob", Reason: "r", End: now.Add(-time.Hour)}).Restriction(now, "op")
			return err
		}, "invalid: end time 2026-03-01T20:00:00Z is not in the future"},
		{"restrict: end in the past, future start", func() error {
			_, err := (&curfew.RestrictRequest{Subject: "person:bob", Reason: "r", Start: now.Add(time.Hour), End: now.Add(-time.Hour)}).Restriction(now, "op")
			return err
		}, "invalid: end time 2026-03-01T20:00:00Z is not in the future"},
		{"restrict: end now", func() error {
			_, err := (&curfew.RestrictRequest{Subject: "person:bob", Reason: "r", End: now}).Restriction(now, "op")
			return err
		}, "invalid: end time 2026-03-01T21:00:00Z is not in the future"},
		{"extend: scheduled, new end before its start", func() error {
			_, err := later.ExtendedEnd(now, now.Add(time.Hour), 0)
			return err
		}, "invalid: ends_at 2026-03-01T22:00:00Z is before starts_at 2026-03-01T23:00:00Z"},
		{"extend: new end in the past", func() error {
			_, err := later.ExtendedEnd(now, now.Add(-time.Minute), 0)
			return err
		}, "invalid: new end 2026-03-01T20:59:00Z is not in the future"},
		{"validate: end before start", func() error {
			return (&curfew.Restriction{Subject: curfew.Subject{Kind: curfew.SubjectPerson, Name: "bob"}, Mode: curfew.ModeCutoff, Reason: "r",
				Start: now, End: now.Add(-time.Minute)}).Validate()
		}, "invalid: ends_at 2026-03-01T20:59:00Z is before starts_at 2026-03-01T21:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || err.Error() != tt.want || !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("error = %v, want ErrInvalid %q", err, tt.want)
			}
		})
	}
}

func TestRestrictRequestLists(t *testing.T) {
	tests := []struct {
		name      string
		mode      curfew.Mode
		allow     []string
		block     []string
		wantAllow []string
		wantBlock []string
		wantErr   string
	}{
		{"allow names and prefixes", curfew.ModeAllowlist, []string{"News.Example.org.", "198.51.100.7", "2001:db8::/48", "news.example.org"}, nil,
			[]string{"news.example.org", "198.51.100.7/32", "2001:db8::/48"}, nil, ""},
		{"block names", curfew.ModeBlocklist, nil, []string{"social.example", "video.example"}, nil, []string{"social.example", "video.example"}, ""},
		{"block takes no address", curfew.ModeBlocklist, nil, []string{"10.0.0.1"}, nil, nil, "block list takes domain names"},
		{"bad name", curfew.ModeAllowlist, []string{"exa mple.org"}, nil, nil, nil, "not allowed in a name"},
		{"single label", curfew.ModeAllowlist, []string{"localhost"}, nil, nil, nil, "at least two labels"},
		{"bad prefix", curfew.ModeAllowlist, []string{"10.0.0.0/40"}, nil, nil, nil, "want ADDR or ADDR/BITS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "r", For: time.Hour, Mode: tt.mode, Allow: tt.allow, Block: tt.block}
			r, err := req.Restriction(t0, "op")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Restriction() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantAllow, r.Allow); diff != "" {
				t.Errorf("Allow (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBlock, r.Block); diff != "" {
				t.Errorf("Block (-want +got):\n%s", diff)
			}
		})
	}
}
