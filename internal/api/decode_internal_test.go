package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// decodeRestrict runs the whole decoding path of POST /api/v1/restrictions
// up to the call of the service.
func decodeRestrict(body string) (curfew.RestrictRequest, error) {
	var w RestrictRequest
	if err := decodeJSON(strings.NewReader(body), &w); err != nil {
		return curfew.RestrictRequest{}, err
	}
	return w.fromAPI()
}

func TestDecodeRestrictErrorsAreInvalid(t *testing.T) {
	for _, body := range []string{"", "{", "[]", `{"x":1}`, `{"for":"x"}`, `{} {}`, `{"ends_at":"now"}`} {
		_, err := decodeRestrict(body)
		if !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("decodeRestrict(%q) = %v, want ErrInvalid", body, err)
		}
	}
}

func FuzzDecodeRestrict(f *testing.F) {
	for _, seed := range []string{
		`{"subject":"device:02:00:00:00:00:01","mode":"cutoff","reason":"r","for":"90m"}`,
		`{"subject":"person:bob","mode":"allowlist","allow":["a.org"],"reason":"r","ends_at":"2026-03-01T21:00:00Z","starts_at":"2026-03-01T20:00:00+01:00"}`,
		`{"subject":"ip:192.0.2.0/24","reason":"r","for":"-1h"}`,
		`{"reason":"r"} {"reason":"r"}`,
		`{"unknown":true}`,
		`{"for":1e400}`,
		`{"allow":[null,1]}`,
		"\xff\xfe",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeRestrict(body)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("decodeRestrict(%q) error %v does not wrap ErrInvalid", body, err)
			}
			return
		}
		if req.For < 0 {
			t.Errorf("decodeRestrict(%q) accepted a negative duration %v", body, req.For)
		}
		if !req.End.IsZero() && req.For != 0 {
			t.Errorf("decodeRestrict(%q) accepted both an end and a duration", body)
		}
		// The domain must cope with whatever the decoder lets through.
		_, _ = req.Restriction(req.Start, "fuzz")
	})
}

// decodeSchedule runs the whole decoding path of POST /api/v1/schedules
// up to the call of the service.
func decodeSchedule(body string) (curfew.ScheduleRequest, error) {
	var w ScheduleRequest
	if err := decodeJSON(strings.NewReader(body), &w); err != nil {
		return curfew.ScheduleRequest{}, err
	}
	return w.fromAPI()
}

// FuzzDecodeSchedule holds the decoding of a schedule sent over the API,
// and the domain's reading of it, to answering ErrInvalid for anything
// wrong, whatever the bytes.
func FuzzDecodeSchedule(f *testing.F) {
	for _, seed := range []string{
		`{"subject":"person:bob","days":"mon-thu,sun","from":"22:00","to":"07:00","zone":"Europe/London","until":"2026-06-30T23:00:00Z","reason":"school nights"}`,
		`{"subject":"device:02:00:00:00:00:01","days":"weekends","from":"09:00","to":"12:00","until":"2026-04-01T00:00:00+02:00","mode":"throttle","rate":1000000,"reason":"r"}`,
		`{"subject":"ip:192.0.2.0/24","days":"fri-mon","from":"24:00","to":"07:00","until":"x","reason":"r"}`,
		`{"days":"funday","zone":"../../etc/passwd"}`,
		`{"zone":"Local","rate":-1}`,
		`{"until":1}`,
		"",
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeSchedule(body)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("decodeSchedule(%q) error %v does not wrap ErrInvalid", body, err)
			}
			return
		}
		s, err := req.Schedule(now, "fuzz", time.UTC)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("Schedule(%q) error %v does not wrap ErrInvalid", body, err)
			}
			return
		}
		if s.From == s.To || s.Zone == nil || !s.Until.After(now) {
			t.Errorf("Schedule(%q) accepted %+v", body, s)
		}
	})
}
