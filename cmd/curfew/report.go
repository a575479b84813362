package main

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

// report runs `curfew report --from DATE --to DATE [-o md|json|html]
// [--include-reasons] [--include-subjects]`. The default output is
// Markdown; -o json is the API's report, stable and machine-read; -o html
// a standalone page, fit to publish.
func (c *cli) report(args []string) int {
	cmd := c.newCommand("report", "--from DATE --to DATE [-o md|json|html] [--include-reasons] [--include-subjects]")
	fromS := cmd.fs.String("from", "", "first `DATE` of the period: YYYY-MM-DD (local) or RFC 3339")
	toS := cmd.fs.String("to", "", "last `DATE` of the period, through the end of that day; or an RFC 3339 instant (exclusive)")
	output := cmd.fs.String("o", "md", "output `format`: md, json or html")
	reasons := cmd.fs.Bool("include-reasons", false, "add the internal reasons (not for publication)")
	subjects := cmd.fs.Bool("include-subjects", false, "add the subjects and the operators' names (not for publication)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if *output != "md" && *output != "json" && *output != "html" {
		return cmd.usage(fmt.Errorf("-o: %q is not md, json or html", *output))
	}
	if *fromS == "" || *toS == "" {
		return cmd.usage(fmt.Errorf("--from and --to are required"))
	}
	from, err := parseReportDate("--from", *fromS, cmd.zone(), false)
	if err != nil {
		return cmd.usage(err)
	}
	to, err := parseReportDate("--to", *toS, cmd.zone(), true)
	if err != nil {
		return cmd.usage(err)
	}
	if !from.Before(to) {
		return cmd.usage(fmt.Errorf("--to %s is not after --from %s", *toS, *fromS))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	rep, err := client.Report(context.Background(), from, to, curfew.ReportOptions{IncludeReasons: *reasons, IncludeSubjects: *subjects})
	if err != nil {
		return cmd.fail(err)
	}
	switch *output {
	case "json":
		return cmd.writeJSON(api.ReportToAPI(rep))
	case "html":
		err = c.reportHTML(c.stdout, rep)
	default:
		err = c.reportMarkdown(c.stdout, rep)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, errorLine(cmd.verb, fmt.Errorf("writing report: %w", err)))
		return 1
	}
	return 0
}

// parseReportDate parses a --from or --to DATE: "YYYY-MM-DD", a day in
// loc, or an RFC 3339 instant. As an end, a day means the end of that day
// (the start of the next, which is right across a DST change).
func parseReportDate(flag, s string, loc *time.Location, end bool) (time.Time, error) {
	if d, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return startOfDay(d.Year(), d.Month(), d.Day(), loc), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf(`%s: %q is not a date (want "YYYY-MM-DD" or RFC 3339)`, flag, s)
	}
	return t, nil
}

// reportView is what the Markdown and HTML templates show of a report,
// formatted for people in the CLI's zone.
type reportView struct {
	Title             string
	From, To, At      string
	Checkpoint        curfew.Checkpoint
	CheckpointAt      string
	Summary           [][2]string
	Entries           []reportEntryView
	Reasons, Subjects bool
	Internal          bool // Reasons or Subjects
}

type reportEntryView struct {
	ID                                      int64
	Mode, Outcome, Start, End, EffectiveEnd string
	Planned, Enforced, InPeriod             string
	Notice                                  string
	Reason, LiftReason, DecisionReason      string
	Subject, Author, LiftedBy, DecidedBy    string
}

// outcomeText says an outcome in words.
var outcomeText = map[curfew.Outcome]string{
	curfew.OutcomeActive:      "in force",
	curfew.OutcomeScheduled:   "scheduled",
	curfew.OutcomePending:     "awaiting approval",
	curfew.OutcomeLiftedEarly: "lifted early",
	curfew.OutcomeExpired:     "expired",
	curfew.OutcomeRejected:    "rejected, never enforced",
	curfew.OutcomeLapsed:      "not approved in time, never enforced",
	curfew.OutcomeWithdrawn:   "withdrawn before it was enforced",
}

func (c *cli) reportView(rep *curfew.Report) *reportView {
	last := rep.To.Add(-time.Nanosecond)
	v := &reportView{
		Title:      fmt.Sprintf("Internet access restrictions, %s to %s", rep.From.In(c.zone()).Format("2006-01-02"), last.In(c.zone()).Format("2006-01-02")),
		From:       c.formatTime(rep.From),
		To:         c.formatTime(rep.To),
		At:         c.formatTime(rep.At),
		Checkpoint: rep.Checkpoint,
		Reasons:    rep.Options.IncludeReasons,
		Subjects:   rep.Options.IncludeSubjects,
	}
	v.Internal = v.Reasons || v.Subjects
	if !rep.Checkpoint.At.IsZero() {
		v.CheckpointAt = c.formatTime(rep.Checkpoint.At)
	}
	n, d := &rep.Counts, &rep.Durations
	v.Summary = [][2]string{
		{"Restrictions", fmt.Sprint(n.Total)},
		{"Full cut-off", fmt.Sprint(n.ByMode[curfew.ModeCutoff])},
		{"Allowlist (walled garden)", fmt.Sprint(n.ByMode[curfew.ModeAllowlist])},
		{"Blocklist", fmt.Sprint(n.ByMode[curfew.ModeBlocklist])},
		{"Throttle (slowed down)", fmt.Sprint(n.ByMode[curfew.ModeThrottle])},
		{"Still in force", fmt.Sprint(n.Active)},
		{"Lifted early", fmt.Sprint(n.LiftedEarly)},
		{"Expired", fmt.Sprint(n.Expired)},
		{"Rejected by a second operator", fmt.Sprint(n.Rejected)},
		{"Not approved in time", fmt.Sprint(n.Lapsed)},
		{"Withdrawn before enforced", fmt.Sprint(n.Withdrawn)},
		{"Awaiting approval", fmt.Sprint(n.Pending)},
		{"Scheduled", fmt.Sprint(n.Scheduled)},
		{"Enforced within the period (sum)", humanDuration(d.Enforced)},
		{"Enforced, median", humanDuration(d.Median)},
		{"Enforced, longest", humanDuration(d.Longest)},
		{"Planned, median", humanDuration(d.PlannedMedian)},
		{"Planned, longest", humanDuration(d.PlannedLongest)},
	}
	for _, e := range rep.Entries {
		o := outcomeText[e.Outcome]
		if o == "" {
			o = string(e.Outcome)
		}
		v.Entries = append(v.Entries, reportEntryView{
			ID: int64(e.ID), Mode: string(e.Mode), Outcome: o,
			Start: c.formatTime(e.Start), End: c.formatTime(e.End), EffectiveEnd: c.formatTime(e.EffectiveEnd),
			Planned: humanDuration(e.Planned), Enforced: humanDuration(e.Enforced), InPeriod: humanDuration(e.InPeriod),
			Notice: e.Notice, Reason: e.Reason, LiftReason: e.LiftReason, DecisionReason: e.DecisionReason,
			Subject: e.Subject, Author: e.Author, LiftedBy: e.LiftedBy, DecidedBy: e.DecidedBy,
		})
	}
	return v
}

// humanDuration prints d for people: "2d 3h", "1h 30m", "45s", "0".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		if d <= 0 {
			return "0"
		}
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	days, h, m := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%dh", h))
	}
	if m > 0 && days == 0 {
		parts = append(parts, fmt.Sprintf("%dm", m))
	}
	return strings.Join(parts, " ")
}

// reportMarkdown writes rep as Markdown. Every text from the report is
// escaped, so a notice cannot add markup, links or table cells.
func (c *cli) reportMarkdown(w io.Writer, rep *curfew.Report) error {
	v := c.reportView(rep)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", md(v.Title))
	fmt.Fprintf(&b, "Period: %s to %s (exclusive). Computed %s", md(v.From), md(v.To), md(v.At))
	if v.Checkpoint.Seq == 0 {
		b.WriteString(" from an empty audit log.\n\n")
	} else {
		fmt.Fprintf(&b, " up to audit entry %d", v.Checkpoint.Seq)
		if v.CheckpointAt != "" {
			fmt.Fprintf(&b, " (%s)", md(v.CheckpointAt))
		}
		fmt.Fprintf(&b, ", hash `%s`", v.Checkpoint.Hash)
		if v.Checkpoint.Signature != "" {
			fmt.Fprintf(&b, ", signature `%s`", v.Checkpoint.Signature)
		}
		b.WriteString("; an export of the audit log holds the same entry.\n\n")
	}
	if v.Internal {
		b.WriteString("**Internal: this report holds internal reasons or identities. Do not publish it.**\n\n")
	}
	b.WriteString("## Summary\n\n| | |\n|---|---:|\n")
	for _, s := range v.Summary {
		fmt.Fprintf(&b, "| %s | %s |\n", md(s[0]), md(s[1]))
	}
	b.WriteString("\n## Restrictions\n\n")
	if len(v.Entries) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| No. | Mode | Start | End | Enforced | Outcome | Notice |\n|---:|---|---|---|---:|---|---|\n")
		for _, e := range v.Entries {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", e.ID, md(e.Mode), md(e.Start), md(e.EffectiveEnd), md(e.Enforced), md(e.Outcome), md(e.Notice))
		}
	}
	if v.Internal {
		b.WriteString("\n## Internal details\n\n")
		for _, e := range v.Entries {
			fmt.Fprintf(&b, "- No. %d:", e.ID)
			for _, f := range e.internal(v) {
				fmt.Fprintf(&b, " %s: %s;", md(f[0]), md(f[1]))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// internal lists the internal fields of e that v includes, as label and
// value, "-" for an empty one.
func (e *reportEntryView) internal(v *reportView) [][2]string {
	var out [][2]string
	add := func(k, s string) {
		if s == "" {
			s = "-"
		}
		out = append(out, [2]string{k, s})
	}
	if v.Subjects {
		add("subject", e.Subject)
		add("author", e.Author)
	}
	if v.Reasons {
		add("reason", e.Reason)
	}
	if v.Subjects {
		add("lifted by", e.LiftedBy)
	}
	if v.Reasons {
		add("lift reason", e.LiftReason)
	}
	if v.Subjects {
		add("decided by", e.DecidedBy)
	}
	if v.Reasons {
		add("decision reason", e.DecisionReason)
	}
	return out
}

// md escapes s for Markdown text and table cells: every ASCII punctuation
// mark that could start markup, an HTML tag, an entity or a cell gets a
// backslash, and line breaks become spaces.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case strings.ContainsRune("\\`*_[]<>|~&#", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

//go:embed report.html
var reportPage string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"internal": func(e reportEntryView, v *reportView) [][2]string { return e.internal(v) },
}).Parse(reportPage))

// reportHTML writes rep as a standalone HTML page: no script, no external
// asset, everything escaped by html/template, fit to print.
func (c *cli) reportHTML(w io.Writer, rep *curfew.Report) error {
	return reportTemplate.Execute(w, c.reportView(rep))
}
