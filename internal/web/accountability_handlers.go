package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// auditFilter is the audit view's filter, as the form sends it.
type auditFilter struct {
	Subject  string // the target acted on: a restriction id, a subject, a name
	Operator string
	From, To string // dates or datetime-local values, in the page's zone
}

// accountabilityData is what the Accountability page shows.
type accountabilityData struct {
	Verify     *curfew.AuditReport
	VerifiedAt time.Time
	Checkpoint curfew.Checkpoint // the newest entry of the log

	Filter  auditFilter
	Entries []auditRow // newest first, one page
	Matched int
	Page    int
	Pages   int
	PrevURL string
	NextURL string
	Error   string

	Appeals []*curfew.Appeal // newest first

	ReportFrom, ReportTo string // the default period of the report form

	Operators []*curfew.Operator
	Tokens    []*curfew.Token
}

// dayOrTime parses a date (the start of that day in zone) or a
// datetime-local value; an empty string is the zero time.
func dayOrTime(s string, zone *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, zone); err == nil {
		return t, nil
	}
	return parseLocal(s, zone)
}

// endOfDay is dayOrTime, but a date means the end of that day.
func endOfDay(s string, zone *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation("2006-01-02", s, zone); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return dayOrTime(s, zone)
}

func (con *Console) accountabilityPage(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	q := r.URL.Query()
	d := accountabilityData{Filter: auditFilter{
		Subject: strings.TrimSpace(q.Get("subject")), Operator: strings.TrimSpace(q.Get("operator")),
		From: q.Get("from"), To: q.Get("to"),
	}}
	var err error
	if d.Verify, d.VerifiedAt, err = con.verify(ctx, p.now); err != nil {
		con.internal(w, r, err)
		return
	}
	if d.Checkpoint, err = con.svc.AuditCheckpoint(ctx); err != nil {
		con.internal(w, r, err)
		return
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)
	code := http.StatusOK
	if d.Filter == (auditFilter{}) {
		err = con.auditPage(ctx, p, &d)
	} else {
		err = con.auditFiltered(ctx, p, &d)
	}
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error, code = err.Error(), st
	}
	pageURL := func(n int) string {
		v := url.Values{}
		for k, s := range map[string]string{"subject": d.Filter.Subject, "operator": d.Filter.Operator, "from": d.Filter.From, "to": d.Filter.To} {
			if s != "" {
				v.Set(k, s)
			}
		}
		v.Set("page", strconv.Itoa(n))
		return "/accountability?" + v.Encode() + "#audit"
	}
	if d.Page > 1 {
		d.PrevURL = pageURL(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = pageURL(d.Page + 1)
	}

	appeals, err := con.svc.Appeals(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	slices.Reverse(appeals)
	d.Appeals = appeals[:min(len(appeals), pageSize)]

	today := p.now.In(p.zone)
	d.ReportFrom = today.AddDate(0, 0, -30).Format("2006-01-02")
	d.ReportTo = today.Format("2006-01-02")

	if d.Operators, err = con.acc.Operators(ctx); err != nil {
		con.internal(w, r, err)
		return
	}
	if d.Tokens, err = con.acc.Tokens(ctx); err != nil {
		con.internal(w, r, err)
		return
	}
	con.render(w, r, code, "accountability", con.newView(p, "Accountability", "accountability", d))
}

// verifyEvery is how long the console shows a verification of the audit
// chain that found it intact before it verifies again: verifying reads
// and hashes the whole log.
const verifyEvery = 30 * time.Second

// verify returns a verification of the audit chain at most verifyEvery
// old, and when it ran. A broken chain is verified again on every call.
func (con *Console) verify(ctx context.Context, now time.Time) (*curfew.AuditReport, time.Time, error) {
	con.verifyMu.Lock()
	defer con.verifyMu.Unlock()
	if con.verified != nil && now.Sub(con.verifyAt) < verifyEvery && now.After(con.verifyAt) {
		return con.verified, con.verifyAt, nil
	}
	rep, err := con.svc.VerifyAudit(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	con.verified, con.verifyAt = nil, now
	if rep.OK {
		con.verified = rep
	}
	return rep, now, nil
}

// auditPage fills in page d.Page of the whole log, newest first. It
// reads only the events from that page on: the newest page costs the same
// however long the log is.
func (con *Console) auditPage(ctx context.Context, p *page, d *accountabilityData) error {
	from := max(1, d.Checkpoint.Seq-int64(d.Page)*pageSize+1)
	es, err := con.readAudit(ctx, from)
	if err != nil {
		return err
	}
	total := d.Checkpoint.Seq
	if n := len(es); n > 0 {
		total = max(total, es[n-1].Seq) // events written since the checkpoint was read
	}
	d.Matched = int(total)
	d.Pages = max(1, (d.Matched+pageSize-1)/pageSize)
	d.Page = min(d.Page, d.Pages)
	newest, oldest := total-int64(d.Page-1)*pageSize, total-int64(d.Page)*pageSize
	for i := len(es) - 1; i >= 0; i-- {
		if e := es[i]; e.Seq <= newest && e.Seq > oldest {
			d.Entries = append(d.Entries, auditRowOf(e, p.zone))
		}
	}
	return nil
}

// auditFiltered fills in page d.Page of the events d.Filter selects,
// newest first.
func (con *Console) auditFiltered(ctx context.Context, p *page, d *accountabilityData) error {
	from, err := dayOrTime(d.Filter.From, p.zone)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	to, err := endOfDay(d.Filter.To, p.zone)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	es, err := con.readAudit(ctx, 1)
	if err != nil {
		return err
	}
	var match []*audit.Event
	subject := strings.ToLower(d.Filter.Subject)
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		switch {
		case d.Filter.Operator != "" && !strings.EqualFold(e.Actor, d.Filter.Operator),
			subject != "" && !strings.Contains(strings.ToLower(eventTarget(e)), subject) && !strings.Contains(strings.ToLower(e.Subject), subject),
			!from.IsZero() && e.At.Before(from),
			!to.IsZero() && !e.At.Before(to):
			continue
		}
		match = append(match, e)
	}
	d.Matched = len(match)
	d.Pages = max(1, (len(match)+pageSize-1)/pageSize)
	d.Page = min(d.Page, d.Pages)
	for _, e := range match[min((d.Page-1)*pageSize, len(match)):min(d.Page*pageSize, len(match))] {
		d.Entries = append(d.Entries, auditRowOf(e, p.zone))
	}
	return nil
}

// reportData is what the report page shows.
type reportData struct {
	Report           *curfew.Report
	Rows             []reportRow // Report.Entries, formatted once
	From, To         string      // as asked
	Reasons, Subject bool
	Error            string
}

// reportRow is one entry of the report, formatted: a report lists every
// restriction of its period, so its table is built in Go, not by the
// template calling a method per cell.
type reportRow struct {
	ID                      curfew.RestrictionID
	Mode, Outcome, Enforced string
	Start, End              template.HTML
	Notice                  string
	Subject, Author, Reason string
}

func reportRows(v *view, rep *curfew.Report) []reportRow {
	rows := make([]reportRow, 0, len(rep.Entries))
	for _, e := range rep.Entries {
		rows = append(rows, reportRow{
			ID: e.ID, Mode: v.T(string(e.Mode)), Outcome: v.T(string(e.Outcome)), Enforced: span(e.Enforced),
			Start: v.Time(e.Start), End: v.Time(e.EffectiveEnd), Notice: e.Notice,
			Subject: e.Subject, Author: e.Author, Reason: e.Reason,
		})
	}
	return rows
}

// Outcomes lists the report's outcomes with their counts, in the order
// the page shows them.
func (d *reportData) Outcomes() []struct {
	Name  string
	Count int
} {
	c := d.Report.Counts
	return []struct {
		Name  string
		Count int
	}{
		{"active", c.Active}, {"scheduled", c.Scheduled}, {"pending", c.Pending},
		{"lifted early", c.LiftedEarly}, {"expired", c.Expired}, {"rejected", c.Rejected},
		{"lapsed", c.Lapsed}, {"withdrawn", c.Withdrawn},
	}
}

// Modes lists the counts by mode.
func (d *reportData) Modes() []struct {
	Name  string
	Count int
} {
	var out []struct {
		Name  string
		Count int
	}
	for _, m := range curfew.Modes {
		out = append(out, struct {
			Name  string
			Count int
		}{string(m), d.Report.Counts.ByMode[m]})
	}
	return out
}

// reportPage serves the transparency report of a period, as a page to
// print: by default only what may be published (counts, durations,
// notices), with reasons and subjects on request.
func (con *Console) reportPage(w http.ResponseWriter, r *http.Request, p *page) {
	q := r.URL.Query()
	d := reportData{From: q.Get("from"), To: q.Get("to"), Reasons: q.Get("reasons") == "1", Subject: q.Get("subjects") == "1"}
	today := p.now.In(p.zone)
	if d.From == "" {
		d.From = today.AddDate(0, 0, -30).Format("2006-01-02")
	}
	if d.To == "" {
		d.To = today.Format("2006-01-02")
	}
	from, err := dayOrTime(d.From, p.zone)
	var to time.Time
	if err == nil {
		to, err = endOfDay(d.To, p.zone)
	}
	if err == nil {
		d.Report, err = con.report(r.Context(), p.now, from, to, curfew.ReportOptions{IncludeReasons: d.Reasons, IncludeSubjects: d.Subject})
	}
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error = err.Error()
		con.render(w, r, st, "report", con.newView(p, "Transparency report", "accountability", &d))
		return
	}
	v := con.newView(p, "Transparency report", "accountability", &d)
	d.Rows = reportRows(v, d.Report)
	con.render(w, r, http.StatusOK, "report", v)
}

// reportAttempts bounds how often report reads again because the audit
// log moved while it read.
const reportAttempts = 5

// report computes the report of [from, to) from what the service says,
// as the API does: with the audit log's signed head before and after the
// restrictions, used only when both are the same, so that the report's
// checkpoint is exactly the state it was computed from.
func (con *Console) report(ctx context.Context, now, from, to time.Time, opts curfew.ReportOptions) (*curfew.Report, error) {
	if _, err := curfew.NewReport(now, from, to, nil, opts); err != nil {
		return nil, err
	}
	for range reportAttempts {
		before, err := con.svc.AuditCheckpoint(ctx)
		if err != nil {
			return nil, err
		}
		rs, err := con.svc.Restrictions(ctx, curfew.RestrictionFilter{All: true})
		if err != nil {
			return nil, err
		}
		after, err := con.svc.AuditCheckpoint(ctx)
		if err != nil {
			return nil, err
		}
		if before.Seq != after.Seq || before.Hash != after.Hash {
			continue
		}
		rep, err := curfew.NewReport(now, from, to, rs, opts)
		if err != nil {
			return nil, err
		}
		rep.Checkpoint = after
		return rep, nil
	}
	return nil, fmt.Errorf("%w: the audit log kept changing while the report was computed; try again", curfew.ErrConflict)
}

func (con *Console) addOperator(w http.ResponseWriter, r *http.Request, p *page) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	op, password, err := con.acc.AddOperator(r.Context(), name, curfew.Role(r.PostForm.Get("role")))
	if err != nil {
		con.done(w, r, p, "/accountability#operators", err, "")
		return
	}
	p.sess.setFlash(&flash{OK: true, Text: fmt.Sprintf("%s %s (%s). %s", p.lang.T("Added operator"), op.Name, op.Role,
		p.lang.T("Their one-time password, shown only now; they choose their own at first sign-in:")), Secret: password})
	http.Redirect(w, r, "/accountability#operators", http.StatusSeeOther)
}

func (con *Console) disableOperator(w http.ResponseWriter, r *http.Request, p *page) {
	name := r.PathValue("name")
	_, err := con.acc.DisableOperator(r.Context(), name, r.PostForm.Get("reason"))
	if err == nil {
		con.sessions.dropOperator(name)
	}
	con.done(w, r, p, "/accountability#operators", err, p.lang.T("Disabled operator")+" "+name)
}

func (con *Console) resetPassword(w http.ResponseWriter, r *http.Request, p *page) {
	name := r.PathValue("name")
	password, err := con.acc.ResetPassword(r.Context(), name)
	if err != nil {
		con.done(w, r, p, "/accountability#operators", err, "")
		return
	}
	con.sessions.dropOperator(name)
	p.sess.setFlash(&flash{OK: true, Text: fmt.Sprintf("%s %s:", p.lang.T("New one-time password of"), name), Secret: password})
	http.Redirect(w, r, "/accountability#operators", http.StatusSeeOther)
}

func (con *Console) createToken(w http.ResponseWriter, r *http.Request, p *page) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	secret, err := con.acc.CreateToken(r.Context(), name, curfew.Role(r.PostForm.Get("role")))
	if err != nil {
		con.done(w, r, p, "/accountability#tokens", err, "")
		return
	}
	p.sess.setFlash(&flash{OK: true, Text: fmt.Sprintf("%s %s. %s", p.lang.T("Created the API token of"), name,
		p.lang.T("Copy it now: curfew keeps only its hash.")), Secret: secret})
	http.Redirect(w, r, "/accountability#tokens", http.StatusSeeOther)
}

func (con *Console) revokeToken(w http.ResponseWriter, r *http.Request, p *page) {
	name := r.PathValue("name")
	_, err := con.acc.RevokeToken(r.Context(), name)
	con.done(w, r, p, "/accountability#tokens", err, p.lang.T("Revoked the token of")+" "+name)
}
