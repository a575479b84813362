package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// reportService serves sampleRestriction, lifted, and an audit log whose
// head is seq 9.
func reportService() *apitest.FakeService {
	r := sampleRestriction()
	r.Lifted, r.LiftedBy, r.LiftReason = now.Add(-30*time.Minute), "bob", "calmed down"
	return &apitest.FakeService{
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			if !f.All {
				return nil, nil
			}
			return []*curfew.Restriction{r}, nil
		},
		CheckpointFunc: func(ctx context.Context) (curfew.Checkpoint, error) {
			return curfew.Checkpoint{Seq: 9, At: now.Add(-30 * time.Minute), Hash: "bb", Signature: "c2ln"}, nil
		},
	}
}

func reportPath(q string) string {
	return "/api/v1/report?from=" + url.QueryEscape(now.Add(-24*time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Format(time.RFC3339)) + q
}

func TestReport(t *testing.T) {
	h := newHandler(t, reportService(), nil)
	status, body := call(t, h, "GET", reportPath(""), "viewer-secret", "")
	if status != http.StatusOK {
		t.Fatalf("status = %d %s", status, body)
	}
	var got api.Report
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-30 * time.Minute)
	want := api.Report{
		From: now.Add(-24 * time.Hour), To: now, ComputedAt: now,
		Checkpoint: api.Checkpoint{Seq: 9, Hash: "bb", At: &at, Signature: "c2ln"},
		Counts:     api.ReportCounts{Total: 1, LiftedEarly: 1, ByMode: map[string]int{"cutoff": 1, "allowlist": 0, "blocklist": 0, "throttle": 0}},
		Durations:  api.ReportDurations{EnforcedSeconds: 1800, MedianSeconds: 1800, LongestSeconds: 1800, PlannedMedianSeconds: 7200, PlannedLongestSeconds: 7200},
		Restrictions: []api.ReportEntry{{
			ID: 7, Mode: "cutoff", Outcome: "lifted_early",
			StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), EffectiveEnd: at,
			PlannedSeconds: 7200, EnforcedSeconds: 1800, InPeriodSeconds: 1800, Notice: "back at nine",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	for _, secret := range []string{"exam week", "calmed down", "02:00:00:00:00:01", "alice", "bob", `"reason"`, `"subject"`} {
		if strings.Contains(body, secret) {
			t.Errorf("default report contains %q: %s", secret, body)
		}
	}

	_, body = call(t, h, "GET", reportPath("&include_reasons=true&include_subjects=1"), "viewer-secret", "")
	var full api.Report
	if err := json.Unmarshal([]byte(body), &full); err != nil || len(full.Restrictions) != 1 {
		t.Fatalf("report with reasons and subjects: %v: %s", err, body)
	}
	e := full.Restrictions[0]
	wantFull := api.ReportEntry{Reason: "exam week", LiftReason: "calmed down", Subject: "device:02:00:00:00:00:01", Author: "alice", LiftedBy: "bob"}
	if gotFull := (api.ReportEntry{Reason: e.Reason, LiftReason: e.LiftReason, Subject: e.Subject, Author: e.Author, LiftedBy: e.LiftedBy}); gotFull != wantFull || !full.IncludesReasons || !full.IncludesSubjects {
		t.Errorf("report with reasons and subjects holds %+v (includes %v, %v), want %+v", gotFull, full.IncludesReasons, full.IncludesSubjects, wantFull)
	}
}

func TestReportBadQuery(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil) // reads nothing: the fake panics
	for _, q := range []string{
		"/api/v1/report",
		"/api/v1/report?from=2026-03-01T00:00:00Z",
		"/api/v1/report?from=yesterday&to=2026-03-01T00:00:00Z",
		"/api/v1/report?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
		reportPath("&include_reasons=perhaps"),
		reportPath("&subject=person:amira"),
	} {
		if status, body := call(t, h, "GET", q, "viewer-secret", ""); status != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s, want 400", q, status, body)
		}
	}
}

// TestReportCheckpointIsConsistent checks that a report is computed from
// restrictions read while the audit log stood still: a log that moves
// under every read gives 409, and one that moves once is read again.
func TestReportCheckpointIsConsistent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		moves  int // how many reads of the log see a new entry
		status int
		seq    int64
	}{
		{"still", 0, http.StatusOK, 9},
		{"moves once", 1, http.StatusOK, 10},
		{"never still", 1000, http.StatusConflict, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := reportService()
			seq, reads := int64(9), 0
			svc.CheckpointFunc = func(ctx context.Context) (curfew.Checkpoint, error) {
				if reads++; reads > 1 && reads <= tt.moves+1 {
					seq++
				}
				return curfew.Checkpoint{Seq: seq, At: now, Hash: "h"}, nil
			}
			status, body := call(t, newHandler(t, svc, nil), "GET", reportPath(""), "viewer-secret", "")
			if status != tt.status {
				t.Fatalf("status = %d %s, want %d", status, body, tt.status)
			}
			var got api.Report
			json.Unmarshal([]byte(body), &got)
			if got.Checkpoint.Seq != tt.seq {
				t.Errorf("checkpoint seq = %d, want %d", got.Checkpoint.Seq, tt.seq)
			}
		})
	}
}

func TestClientReport(t *testing.T) {
	c := newClient(t, reportService(), "viewer-secret")
	rep, err := c.Report(t.Context(), now.Add(-24*time.Hour), now, curfew.ReportOptions{IncludeReasons: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 1 || rep.Entries[0].Reason != "exam week" || rep.Entries[0].Author != "" || rep.Checkpoint.Seq != 9 {
		t.Errorf("Report = %+v, want the one restriction with its reason and without its author, at seq 9", rep)
	}
	if got := api.ReportToAPI(rep); got.Counts.LiftedEarly != 1 || got.Restrictions[0].InPeriodSeconds != 1800 {
		t.Errorf("report does not survive the round trip: %+v", got)
	}
}
