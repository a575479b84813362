package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Report is the wire form of a curfew.Report: the public report of the
// restrictions of a period. Durations are whole seconds. The fields an
// entry has only with include_reasons or include_subjects are left out
// of the JSON otherwise.
type Report struct {
	From             time.Time       `json:"from"`
	To               time.Time       `json:"to"`
	ComputedAt       time.Time       `json:"computed_at"`
	IncludesReasons  bool            `json:"includes_reasons"`
	IncludesSubjects bool            `json:"includes_subjects"`
	Checkpoint       Checkpoint      `json:"checkpoint"`
	Counts           ReportCounts    `json:"counts"`
	Durations        ReportDurations `json:"durations"`
	Restrictions     []ReportEntry   `json:"restrictions"`
}

// Checkpoint is the wire form of a curfew.Checkpoint: the audit event a
// report was computed up to, with the gateway's signature over it.
type Checkpoint struct {
	Seq       int64      `json:"seq"`
	Hash      string     `json:"hash"`
	At        *time.Time `json:"at"`
	Signature string     `json:"signature"`
}

// ReportCounts is the wire form of curfew.ReportCounts. ByMode has a key
// for every mode.
type ReportCounts struct {
	Total       int            `json:"total"`
	ByMode      map[string]int `json:"by_mode"`
	Active      int            `json:"active"`
	Scheduled   int            `json:"scheduled"`
	Pending     int            `json:"pending"`
	LiftedEarly int            `json:"lifted_early"`
	Expired     int            `json:"expired"`
	Rejected    int            `json:"rejected"`
	Lapsed      int            `json:"lapsed"`
	Withdrawn   int            `json:"withdrawn"`
}

// ReportDurations is the wire form of curfew.ReportDurations.
type ReportDurations struct {
	EnforcedSeconds       int64 `json:"enforced_seconds"`
	MedianSeconds         int64 `json:"median_seconds"`
	LongestSeconds        int64 `json:"longest_seconds"`
	PlannedMedianSeconds  int64 `json:"planned_median_seconds"`
	PlannedLongestSeconds int64 `json:"planned_longest_seconds"`
}

// ReportEntry is the wire form of a curfew.ReportEntry.
type ReportEntry struct {
	ID              int64     `json:"id"`
	Mode            string    `json:"mode"`
	Outcome         string    `json:"outcome"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
	EffectiveEnd    time.Time `json:"effective_end"`
	PlannedSeconds  int64     `json:"planned_seconds"`
	EnforcedSeconds int64     `json:"enforced_seconds"`
	InPeriodSeconds int64     `json:"in_period_seconds"`
	Notice          string    `json:"notice"`

	Reason         string `json:"reason,omitempty"`
	LiftReason     string `json:"lift_reason,omitempty"`
	DecisionReason string `json:"decision_reason,omitempty"`
	Subject        string `json:"subject,omitempty"`
	Author         string `json:"author,omitempty"`
	LiftedBy       string `json:"lifted_by,omitempty"`
	DecidedBy      string `json:"decided_by,omitempty"`
}

// reportAttempts bounds how often getReport reads the restrictions again
// because the audit log moved while it read them.
const reportAttempts = 5

// getReport serves GET /api/v1/report?from=T&to=T[&include_reasons=B]
// [&include_subjects=B], T in RFC 3339. It reads the head of the audit
// log before and after the restrictions and computes the report only
// when both are the same entry, so that the report's checkpoint is
// exactly the state it was computed from.
func (h *handler) getReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "from", "to", "include_reasons", "include_subjects":
		default:
			h.error(w, r, fmt.Errorf("%w: unknown query parameter %q (want from, to, include_reasons or include_subjects)", curfew.ErrInvalid, key))
			return
		}
	}
	var from, to time.Time
	var opts curfew.ReportOptions
	for _, p := range []struct {
		key string
		t   *time.Time
		b   *bool
	}{{"from", &from, nil}, {"to", &to, nil}, {"include_reasons", nil, &opts.IncludeReasons}, {"include_subjects", nil, &opts.IncludeSubjects}} {
		s := q.Get(p.key)
		var err error
		switch {
		case p.t != nil && s == "":
			err = fmt.Errorf("%w: missing query parameter %s", curfew.ErrInvalid, p.key)
		case p.t != nil:
			*p.t, err = parseTime("query parameter "+p.key, s)
		case s != "":
			if *p.b, err = strconv.ParseBool(s); err != nil {
				err = fmt.Errorf("%w: query parameter %s: %q is not a boolean", curfew.ErrInvalid, p.key, s)
			}
		}
		if err != nil {
			h.error(w, r, err)
			return
		}
	}
	rep, err := h.report(r.Context(), from, to, opts)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, ReportToAPI(rep))
}

// report computes the report of [from, to) from the service.
func (h *handler) report(ctx context.Context, from, to time.Time, opts curfew.ReportOptions) (*curfew.Report, error) {
	// Check the period before reading anything.
	if _, err := curfew.NewReport(h.now(), from, to, nil, opts); err != nil {
		return nil, err
	}
	for range reportAttempts {
		before, err := h.auditHead(ctx)
		if err != nil {
			return nil, err
		}
		rs, err := h.svc.Restrictions(ctx, curfew.RestrictionFilter{All: true})
		if err != nil {
			return nil, err
		}
		after, err := h.auditHead(ctx)
		if err != nil {
			return nil, err
		}
		if before != after {
			continue
		}
		rep, err := curfew.NewReport(h.now(), from, to, rs, opts)
		if err != nil {
			return nil, err
		}
		rep.Checkpoint = after
		return rep, nil
	}
	return nil, fmt.Errorf("%w: the audit log kept changing while the report was computed; try again", curfew.ErrConflict)
}

// auditHead returns the signed checkpoint of the head of the audit log;
// the zero Checkpoint for an empty log.
func (h *handler) auditHead(ctx context.Context) (curfew.Checkpoint, error) {
	c, err := h.svc.AuditCheckpoint(ctx)
	if err != nil {
		return curfew.Checkpoint{}, fmt.Errorf("reading the head of the audit log: %w", err)
	}
	return c, nil
}

// getAuditCheckpoint serves GET /api/v1/audit/checkpoint: the signed
// checkpoint of the head of the log.
func (h *handler) getAuditCheckpoint(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.AuditCheckpoint(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, CheckpointToAPI(c))
}

// CheckpointToAPI converts c to its wire form.
func CheckpointToAPI(c curfew.Checkpoint) Checkpoint {
	return Checkpoint{Seq: c.Seq, Hash: c.Hash, At: optTime(c.At), Signature: c.Signature}
}

// CheckpointFromAPI converts a wire checkpoint to the domain's.
func CheckpointFromAPI(w *Checkpoint) curfew.Checkpoint {
	c := curfew.Checkpoint{Seq: w.Seq, Hash: w.Hash, Signature: w.Signature}
	if w.At != nil {
		c.At = w.At.UTC()
	}
	return c
}

// Report returns the report of the restrictions of [from, to), computed
// by the server.
func (c *Client) Report(ctx context.Context, from, to time.Time, opts curfew.ReportOptions) (*curfew.Report, error) {
	q := url.Values{}
	q.Set("from", formatTime(from))
	q.Set("to", formatTime(to))
	if opts.IncludeReasons {
		q.Set("include_reasons", "true")
	}
	if opts.IncludeSubjects {
		q.Set("include_subjects", "true")
	}
	var out Report
	if err := c.do(ctx, http.MethodGet, "/api/v1/report", q, nil, &out); err != nil {
		return nil, err
	}
	return ReportFromAPI(&out), nil
}

// ReportToAPI converts a report to its wire form.
func ReportToAPI(r *curfew.Report) Report {
	c, d := &r.Counts, &r.Durations
	out := Report{
		From: r.From.UTC(), To: r.To.UTC(), ComputedAt: r.At.UTC(),
		IncludesReasons: r.Options.IncludeReasons, IncludesSubjects: r.Options.IncludeSubjects,
		Checkpoint: CheckpointToAPI(r.Checkpoint),
		Counts: ReportCounts{
			Total: c.Total, ByMode: map[string]int{},
			Active: c.Active, Scheduled: c.Scheduled, Pending: c.Pending,
			LiftedEarly: c.LiftedEarly, Expired: c.Expired,
			Rejected: c.Rejected, Lapsed: c.Lapsed, Withdrawn: c.Withdrawn,
		},
		Durations: ReportDurations{
			EnforcedSeconds: seconds(d.Enforced), MedianSeconds: seconds(d.Median), LongestSeconds: seconds(d.Longest),
			PlannedMedianSeconds: seconds(d.PlannedMedian), PlannedLongestSeconds: seconds(d.PlannedLongest),
		},
		Restrictions: make([]ReportEntry, 0, len(r.Entries)),
	}
	for _, m := range curfew.Modes {
		out.Counts.ByMode[string(m)] = c.ByMode[m]
	}
	for _, e := range r.Entries {
		out.Restrictions = append(out.Restrictions, ReportEntry{
			ID: int64(e.ID), Mode: string(e.Mode), Outcome: string(e.Outcome),
			StartsAt: e.Start.UTC(), EndsAt: e.End.UTC(), EffectiveEnd: e.EffectiveEnd.UTC(),
			PlannedSeconds: seconds(e.Planned), EnforcedSeconds: seconds(e.Enforced), InPeriodSeconds: seconds(e.InPeriod),
			Notice: e.Notice,
			Reason: e.Reason, LiftReason: e.LiftReason, DecisionReason: e.DecisionReason,
			Subject: e.Subject, Author: e.Author, LiftedBy: e.LiftedBy, DecidedBy: e.DecidedBy,
		})
	}
	return out
}

// ReportFromAPI converts a report from its wire form.
func ReportFromAPI(w *Report) *curfew.Report {
	c, d := &w.Counts, &w.Durations
	r := &curfew.Report{
		From: w.From.UTC(), To: w.To.UTC(), At: w.ComputedAt.UTC(),
		Options:    curfew.ReportOptions{IncludeReasons: w.IncludesReasons, IncludeSubjects: w.IncludesSubjects},
		Checkpoint: CheckpointFromAPI(&w.Checkpoint),
		Counts: curfew.ReportCounts{
			Total: c.Total, ByMode: map[curfew.Mode]int{},
			Active: c.Active, Scheduled: c.Scheduled, Pending: c.Pending,
			LiftedEarly: c.LiftedEarly, Expired: c.Expired,
			Rejected: c.Rejected, Lapsed: c.Lapsed, Withdrawn: c.Withdrawn,
		},
		Durations: curfew.ReportDurations{
			Enforced: duration(d.EnforcedSeconds), Median: duration(d.MedianSeconds), Longest: duration(d.LongestSeconds),
			PlannedMedian: duration(d.PlannedMedianSeconds), PlannedLongest: duration(d.PlannedLongestSeconds),
		},
		Entries: make([]curfew.ReportEntry, 0, len(w.Restrictions)),
	}
	if w.Checkpoint.At != nil {
		r.Checkpoint.At = w.Checkpoint.At.UTC()
	}
	for m, n := range c.ByMode {
		r.Counts.ByMode[curfew.Mode(m)] = n
	}
	for _, e := range w.Restrictions {
		r.Entries = append(r.Entries, curfew.ReportEntry{
			ID: curfew.RestrictionID(e.ID), Mode: curfew.Mode(e.Mode), Outcome: curfew.Outcome(e.Outcome),
			Start: e.StartsAt.UTC(), End: e.EndsAt.UTC(), EffectiveEnd: e.EffectiveEnd.UTC(),
			Planned: duration(e.PlannedSeconds), Enforced: duration(e.EnforcedSeconds), InPeriod: duration(e.InPeriodSeconds),
			Notice: e.Notice,
			Reason: e.Reason, LiftReason: e.LiftReason, DecisionReason: e.DecisionReason,
			Subject: e.Subject, Author: e.Author, LiftedBy: e.LiftedBy, DecidedBy: e.DecidedBy,
		})
	}
	return r
}

// seconds is d in whole seconds, rounded down.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// duration is n seconds.
func duration(n int64) time.Duration { return time.Duration(n) * time.Second }
