package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

func TestReportUsageErrorsSendNothing(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "curfew: report: --from and --to are required"},
		{[]string{"report", "--from", "2026-03-01"}, "curfew: report: --from and --to are required"},
		{[]string{"report", "--from", "March", "--to", "2026-03-01"}, `curfew: report: --from: "March" is not a date (want "YYYY-MM-DD" or RFC 3339)`},
		{[]string{"report", "--from", "2026-03-01", "--to", "2026-02-30"}, `curfew: report: --to: "2026-02-30" is not a date (want "YYYY-MM-DD" or RFC 3339)`},
		{[]string{"report", "--from", "2026-03-02", "--to", "2026-03-01"}, "curfew: report: --to 2026-03-01 is not after --from 2026-03-02"},
		{[]string{"report", "--from", "2026-03-01T10:00:00Z", "--to", "2026-03-01T10:00:00Z"}, "curfew: report: --to 2026-03-01T10:00:00Z is not after --from 2026-03-01T10:00:00Z"},
		{[]string{"report", "--from", "2026-03-01", "--to", "2026-03-01", "-o", "pdf"}, `curfew: report: -o: "pdf" is not md, json or html`},
		{[]string{"report", "--from", "2026-03-01", "--to", "2026-03-01", "march"}, `curfew: report: unexpected argument "march"`},
		{[]string{"report", "--from", "2026-03-01", "--to", "2026-03-01", "--include-names"}, "curfew: report: flag provided but not defined: -include-names"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			svc := &apitest.FakeService{} // every method panics: nothing may be called
			h := newHarness(t, svc)
			code, stdout, stderr := h.run(tt.args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit code = %d, stdout %q; want 2 and nothing", code, stdout)
			}
			checkOneLine(t, stderr, tt.want)
			if calls := svc.Calls(); len(calls) > 0 {
				t.Errorf("service calls = %v, want none", calls)
			}
		})
	}
}

func TestParseReportDate(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	tests := []struct {
		s    string
		end  bool
		want time.Time
	}{
		{"2026-03-01", false, time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)},
		{"2026-03-01", true, time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)},
		{"2026-03-29", true, time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)}, // a 23-hour day: summer time starts
		{"2026-03-01T12:00:00+01:00", true, time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseReportDate("--to", tt.s, berlin, tt.end)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseReportDate(%q, end %v) = %v, %v; want %v", tt.s, tt.end, got, err, tt.want)
		}
	}
}

// reportFake serves one lifted restriction whose notice tries markup, and
// an audit log whose head is seq 4.
func reportFake() *apitest.FakeService {
	r := sampleRestriction()
	r.Notice = "<script>alert(1)</script> | **bold** [x](http://evil.example)"
	r.Lifted, r.LiftedBy, r.LiftReason = now.Add(-30*time.Minute), "bob", "calmed down"
	return &apitest.FakeService{
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			return []*curfew.Restriction{r}, nil
		},
		CheckpointFunc: func(ctx context.Context) (curfew.Checkpoint, error) {
			return curfew.Checkpoint{Seq: 4, At: now.Add(-30 * time.Minute), Hash: "c0ffee", Signature: "c2ln"}, nil
		},
	}
}

func TestReportFormats(t *testing.T) {
	secrets := []string{"exam week", "calmed down", "02:00:00:00:00:01", "alice", "bob"}
	period := []string{"report", "--from", "2026-03-01", "--to", "2026-03-01"}

	t.Run("json", func(t *testing.T) {
		h := newHarness(t, reportFake())
		code, stdout, stderr := h.run(append(period, "-o", "json")...)
		if code != 0 {
			t.Fatalf("exit code = %d: %s", code, stderr)
		}
		var rep api.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("output is not a report: %v\n%s", err, stdout)
		}
		wantFrom, wantTo := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
		if !rep.From.Equal(wantFrom) || !rep.To.Equal(wantTo) {
			t.Errorf("period = %v to %v, want the whole day %v to %v", rep.From, rep.To, wantFrom, wantTo)
		}
		if rep.Counts.Total != 1 || rep.Counts.LiftedEarly != 1 || rep.Checkpoint.Seq != 4 || rep.Checkpoint.Hash != "c0ffee" {
			t.Errorf("report = %+v, want one restriction lifted early, at checkpoint 4 c0ffee", rep)
		}
		for _, s := range secrets {
			if strings.Contains(stdout, s) {
				t.Errorf("json report contains %q:\n%s", s, stdout)
			}
		}
	})
	t.Run("md", func(t *testing.T) {
		h := newHarness(t, reportFake())
		code, stdout, stderr := h.run(period...)
		if code != 0 {
			t.Fatalf("exit code = %d: %s", code, stderr)
		}
		for _, want := range []string{
			"# Internet access restrictions, 2026-03-01 to 2026-03-01",
			"up to audit entry 4 (2026-03-01 20:30 UTC), hash `c0ffee`",
			"| Lifted early | 1 |",
			"| 12 | cutoff | 2026-03-01 20:00 UTC | 2026-03-01 20:30 UTC | 30m | lifted early | \\<script\\>alert(1)\\</script\\> \\| \\*\\*bold\\*\\* \\[x\\](http://evil.example) |",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("markdown lacks %q:\n%s", want, stdout)
			}
		}
		for _, s := range append(secrets, "Internal") {
			if strings.Contains(stdout, s) {
				t.Errorf("markdown report contains %q:\n%s", s, stdout)
			}
		}
	})
	t.Run("html", func(t *testing.T) {
		h := newHarness(t, reportFake())
		code, stdout, stderr := h.run(append(period, "-o", "html")...)
		if code != 0 {
			t.Fatalf("exit code = %d: %s", code, stderr)
		}
		for _, want := range []string{"<!DOCTYPE html>", "<title>Internet access restrictions, 2026-03-01 to 2026-03-01</title>", "&lt;script&gt;alert(1)&lt;/script&gt;", "<code>c0ffee</code>", "@media print"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("html lacks %q:\n%s", want, stdout)
			}
		}
		for _, bad := range append(secrets, "<script>", "src=", "href=", "@import", "Internal") {
			if strings.Contains(stdout, bad) {
				t.Errorf("html report contains %q:\n%s", bad, stdout)
			}
		}
	})
	t.Run("include", func(t *testing.T) {
		for _, o := range []string{"md", "html", "json"} {
			h := newHarness(t, reportFake())
			code, stdout, stderr := h.run(append(period, "-o", o, "--include-reasons", "--include-subjects")...)
			if code != 0 {
				t.Fatalf("-o %s: exit code = %d: %s", o, code, stderr)
			}
			for _, s := range secrets {
				if !strings.Contains(stdout, s) {
					t.Errorf("-o %s report with reasons and subjects lacks %q:\n%s", o, s, stdout)
				}
			}
		}
	})
}
