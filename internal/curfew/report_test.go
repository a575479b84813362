package curfew_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// The period of the report tests: one day, 1 March 2026 UTC.
var (
	day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day1 = day0.Add(24 * time.Hour)
)

// at is hours after day0.
func at(h float64) time.Time { return day0.Add(time.Duration(h * float64(time.Hour))) }

// reportRestriction is a restriction with every identity and internal
// text set, so a test can look for them in a report.
func reportRestriction(t *testing.T, id int64, subject string, start, end float64) *curfew.Restriction {
	t.Helper()
	s, err := curfew.ParseSubject(subject)
	if err != nil {
		t.Fatal(err)
	}
	return &curfew.Restriction{
		ID: curfew.RestrictionID(id), Subject: s, Mode: curfew.ModeCutoff,
		Reason: "secret reason " + subject, Notice: "public notice " + subject, Author: "operator-alice",
		Start: at(start), End: at(end), Created: at(start),
	}
}

func TestReportMembershipAndOutcomes(t *testing.T) {
	now := at(30) // the day after the period
	var rs []*curfew.Restriction
	add := func(r *curfew.Restriction, edit func(r *curfew.Restriction)) {
		edit(r)
		rs = append(rs, r)
	}
	add(reportRestriction(t, 1, "device:02:00:00:00:00:01", 1, 3), func(r *curfew.Restriction) {}) // expired in the period
	add(reportRestriction(t, 2, "person:amira", 4, 10), func(r *curfew.Restriction) {              // lifted early
		r.Lifted, r.LiftedBy, r.LiftReason = at(5), "operator-bob", "secret lift reason"
	})
	add(reportRestriction(t, 3, "ip:198.51.100.7", -5, 2), func(r *curfew.Restriction) {}) // began before, ended in the period
	add(reportRestriction(t, 4, "device:02:00:00:00:00:04", 22, 26), func(r *curfew.Restriction) {
		r.Mode, r.Block = curfew.ModeBlocklist, []string{"example.org"}
	}) // began in, ended after the period
	add(reportRestriction(t, 5, "person:omar", 6, 40), func(r *curfew.Restriction) { // rejected, never applied
		r.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "operator-alice", Decided: at(7), By: "operator-bob", Reason: "secret rejection"}
	})
	add(reportRestriction(t, 6, "person:lena", 8, 12), func(r *curfew.Restriction) { // pending until its end: lapsed
		r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "operator-alice"}
	})
	add(reportRestriction(t, 7, "person:yusuf", 12, 20), func(r *curfew.Restriction) { // approved two hours late
		r.Approval = curfew.Approval{State: curfew.ApprovalApproved, Asker: "operator-alice", Decided: at(14), By: "operator-bob", Reason: "secret approval"}
	})
	add(reportRestriction(t, 8, "group:staff", 13, 20), func(r *curfew.Restriction) { // withdrawn while pending
		r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "operator-alice"}
		r.Lifted, r.LiftedBy = at(13.5), "operator-alice"
	})
	add(reportRestriction(t, 9, "device:02:00:00:00:00:09", -10, -2), func(r *curfew.Restriction) {}) // before the period: out
	add(reportRestriction(t, 10, "device:02:00:00:00:00:0a", 25, 27), func(r *curfew.Restriction) {}) // after the period: out
	add(reportRestriction(t, 11, "person:noor", 30, 50), func(r *curfew.Restriction) {                // created before, rejected in the period: out
		r.Created = at(-3)
		r.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "operator-alice", Decided: at(2), By: "operator-bob"}
	})

	rep, err := curfew.NewReport(now, day0, day1, rs, curfew.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID                          curfew.RestrictionID
		Outcome                     curfew.Outcome
		Enforced, InPeriod, Planned time.Duration
	}
	var got []row
	for _, e := range rep.Entries {
		got = append(got, row{e.ID, e.Outcome, e.Enforced, e.InPeriod, e.Planned})
	}
	h := time.Hour
	want := []row{
		{1, curfew.OutcomeExpired, 2 * h, 2 * h, 2 * h},
		{2, curfew.OutcomeLiftedEarly, 1 * h, 1 * h, 6 * h},
		{3, curfew.OutcomeExpired, 7 * h, 2 * h, 7 * h},
		{4, curfew.OutcomeExpired, 4 * h, 2 * h, 4 * h},
		{5, curfew.OutcomeRejected, 0, 0, 34 * h},
		{6, curfew.OutcomeLapsed, 0, 0, 4 * h},
		{7, curfew.OutcomeExpired, 6 * h, 6 * h, 8 * h},
		{8, curfew.OutcomeWithdrawn, 0, 0, 7 * h},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	wantCounts := curfew.ReportCounts{
		Total:   8,
		ByMode:  map[curfew.Mode]int{curfew.ModeCutoff: 7, curfew.ModeAllowlist: 0, curfew.ModeBlocklist: 1},
		Expired: 4, LiftedEarly: 1, Rejected: 1, Lapsed: 1, Withdrawn: 1,
	}
	if diff := cmp.Diff(wantCounts, rep.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// Enforced spans 1, 2, 4, 6, 7 h; planned 2, 4, 4, 6, 7, 7, 8, 34 h.
	wantDur := curfew.ReportDurations{Enforced: 13 * h, Median: 4 * h, Longest: 7 * h, PlannedMedian: 6*h + 30*time.Minute, PlannedLongest: 34 * h}
	if diff := cmp.Diff(wantDur, rep.Durations); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
	if e := rep.Entries[0]; e.Notice != "public notice device:02:00:00:00:00:01" {
		t.Errorf("entry 1 notice = %q, want its public notice", e.Notice)
	}
}

func TestReportAsOfNow(t *testing.T) {
	r := reportRestriction(t, 1, "person:amira", 2, 10)
	s := reportRestriction(t, 2, "person:omar", 20, 22)
	p := reportRestriction(t, 3, "person:lena", 3, 8)
	p.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "operator-alice"}
	rep, err := curfew.NewReport(at(5), day0, day1, []*curfew.Restriction{r, s, p}, curfew.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[curfew.RestrictionID]curfew.Outcome{}
	for _, e := range rep.Entries {
		got[e.ID] = e.Outcome
	}
	want := map[curfew.RestrictionID]curfew.Outcome{1: curfew.OutcomeActive, 2: curfew.OutcomeScheduled, 3: curfew.OutcomePending}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes at 05:00 (-want +got):\n%s", diff)
	}
	if e := rep.Entries[0]; e.Enforced != 3*time.Hour || e.InPeriod != 3*time.Hour {
		t.Errorf("active entry enforced %s, in period %s; want 3h0m0s each (up to now)", e.Enforced, e.InPeriod)
	}
	if c := rep.Counts; c.Active != 1 || c.Scheduled != 1 || c.Pending != 1 || c.Total != 3 {
		t.Errorf("counts = %+v, want one active, one scheduled, one pending", c)
	}
}

// TestReportPrivate checks that a default report holds none of the
// internal reasons and identities of its restrictions, wherever they are
// kept, and that the options add exactly them.
func TestReportPrivate(t *testing.T) {
	r := reportRestriction(t, 1, "device:02:00:00:00:00:01", 1, 3)
	l := reportRestriction(t, 2, "person:amira", 4, 10)
	l.Lifted, l.LiftedBy, l.LiftReason = at(5), "operator-bob", "secret lift reason"
	a := reportRestriction(t, 3, "ip:198.51.100.7", 12, 20)
	a.Approval = curfew.Approval{State: curfew.ApprovalApproved, Asker: "operator-alice", Decided: at(12), By: "operator-carol", Reason: "secret approval"}
	rs := []*curfew.Restriction{r, l, a}
	secrets := map[string]bool{ // secret → needs IncludeReasons (true) or IncludeSubjects (false)
		"secret reason": true, "secret lift reason": true, "secret approval": true,
		"02:00:00:00:00:01": false, "amira": false, "198.51.100.7": false,
		"operator-alice": false, "operator-bob": false, "operator-carol": false,
	}
	// Notices and reasons name their subjects here: not for this search.
	for _, r := range rs {
		r.Notice, r.Reason = "You are offline for a while.", "secret reason"
	}
	for _, opts := range []curfew.ReportOptions{{}, {IncludeReasons: true}, {IncludeSubjects: true}, {IncludeReasons: true, IncludeSubjects: true}} {
		rep, err := curfew.NewReport(at(30), day0, day1, rs, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "You are offline for a while.") {
			t.Errorf("%+v: report lacks the public notice: %s", opts, text)
		}
		for secret, isReason := range secrets {
			allowed := isReason && opts.IncludeReasons || !isReason && opts.IncludeSubjects
			if got := strings.Contains(text, secret); got != allowed {
				t.Errorf("%+v: report contains %q = %v, want %v: %s", opts, secret, got, allowed, text)
			}
		}
	}
}

func TestReportPeriod(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to time.Time
	}{
		{"empty", day0, day0},
		{"backwards", day1, day0},
		{"no from", time.Time{}, day1},
		{"no to", day0, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := curfew.NewReport(day1, tt.from, tt.to, nil, curfew.ReportOptions{}); err == nil {
				t.Errorf("NewReport(%v, %v) succeeded, want an error", tt.from, tt.to)
			}
		})
	}
	rep, err := curfew.NewReport(day1, day0, day1, nil, curfew.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Total != 0 || len(rep.Entries) != 0 || rep.Counts.ByMode[curfew.ModeCutoff] != 0 || len(rep.Counts.ByMode) != 3 {
		t.Errorf("empty report = %+v, want zero counts for every mode", rep)
	}
}
