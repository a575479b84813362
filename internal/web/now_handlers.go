package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// pageSize bounds the rows of one list on a page; the rest are a link
// away.
const pageSize = 100

// restrictionRow is one restriction as the pages list it.
type restrictionRow struct {
	*curfew.Restriction
	Status curfew.Status
	Ends   time.Time // when it stops applying: its end, or earlier if lifted
	Asker  bool      // the viewing operator asked for what it waits for
}

// Until is the end a decision waits on: the end asked for by an
// extension, else the restriction's end.
func (r *restrictionRow) Until() time.Time {
	if r.Approval.Extension() {
		return r.Approval.ExtendTo
	}
	return r.End
}

// Waiting says what the restriction waits for, if anything.
func (r *restrictionRow) Waiting() string { return r.Approval.Waiting() }

// scheduleRow is one recurring schedule on the Now page.
type scheduleRow struct {
	ID      string
	Subject string
	Mode    curfew.Mode
	When    string // days and hours, as the schedule says
	Open    bool   // a window is open now
	Until   time.Time
	Author  string
	Notice  string
}

// nowData is what the Now page shows.
type nowData struct {
	Waiting      []*restrictionRow // pending decisions another operator asked for
	Restrictions []*restrictionRow // active, scheduled and pending, soonest end first
	Hidden       int               // restrictions beyond the page
	All          bool              // every restriction is shown
	Schedules    []scheduleRow
	Appeals      []*curfew.Appeal // not answered yet, newest first
	Answered     int
}

func rowOf(now time.Time, me string, r *curfew.Restriction) *restrictionRow {
	return &restrictionRow{Restriction: r, Status: r.StatusAt(now), Ends: r.EffectiveEnd(), Asker: r.Approval.Asker == me}
}

// nowPage serves the Now page: what is restricted at this moment, what
// waits for a second operator, and the appeals nobody answered yet.
func (con *Console) nowPage(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	rs, err := con.svc.Restrictions(ctx, curfew.RestrictionFilter{})
	if err != nil {
		con.internal(w, r, err)
		return
	}
	appeals, err := con.svc.Appeals(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	d := nowData{All: r.URL.Query().Get("all") == "1"}
	for _, res := range rs {
		row := rowOf(p.now, p.actor.Name, res)
		if res.Approval.Pending() && !row.Asker {
			d.Waiting = append(d.Waiting, row)
		}
		d.Restrictions = append(d.Restrictions, row)
	}
	slices.SortStableFunc(d.Restrictions, func(a, b *restrictionRow) int { return a.Ends.Compare(b.Ends) })
	if !d.All && len(d.Restrictions) > pageSize {
		d.Hidden = len(d.Restrictions) - pageSize
		d.Restrictions = d.Restrictions[:pageSize]
	}
	if len(d.Waiting) > pageSize {
		d.Waiting = d.Waiting[:pageSize]
	}
	for i := len(appeals) - 1; i >= 0; i-- {
		if appeals[i].Answered.IsZero() {
			if len(d.Appeals) < pageSize {
				d.Appeals = append(d.Appeals, appeals[i])
			}
		} else {
			d.Answered++
		}
	}
	con.render(w, r, http.StatusOK, "now", con.newView(p, "Now", "now", d))
}

// restrictionID parses the {id} of a route.
func restrictionID(r *http.Request) (curfew.RestrictionID, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, curfewInvalid("restriction id %q: want a positive number", r.PathValue("id"))
	}
	return curfew.RestrictionID(id), nil
}

// back returns the page a form came from, if it names one of the
// console's, else fallback.
func back(r *http.Request, fallback string) string {
	if b := r.PostForm.Get("back"); b != "" {
		return safeNext(b)
	}
	return fallback
}

func (con *Console) lift(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := restrictionID(r)
	if err == nil {
		_, err = con.svc.Lift(r.Context(), id, r.PostForm.Get("reason"))
	}
	con.done(w, r, p, back(r, "/"), err, p.lang.T("Lifted restriction")+" "+r.PathValue("id"))
}

// extend moves a restriction's end: later by the chosen duration, or to
// the chosen time.
func (con *Console) extend(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := restrictionID(r)
	var end time.Time
	var d time.Duration
	if err == nil {
		end, d, err = endOrDuration(r.PostForm.Get("for"), r.PostForm.Get("until"), p.zone)
	}
	var res *curfew.Restriction
	if err == nil {
		res, err = con.svc.Extend(r.Context(), id, end, d, r.PostForm.Get("reason"))
	}
	msg := ""
	if err == nil {
		msg = fmt.Sprintf("%s %d: %s", p.lang.T("Extended restriction"), id, res.End.In(p.zone).Format("2006-01-02 15:04 MST"))
		if res.Approval.Pending() {
			msg = fmt.Sprintf("%s %d: %s", p.lang.T("The extension waits for a second operator"), id, res.Approval.ExtendTo.In(p.zone).Format("2006-01-02 15:04 MST"))
		}
	}
	con.done(w, r, p, back(r, "/"), err, msg)
}

func (con *Console) approve(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := restrictionID(r)
	if err == nil {
		_, err = con.svc.Approve(r.Context(), id, r.PostForm.Get("reason"))
	}
	con.done(w, r, p, back(r, "/"), err, p.lang.T("Approved restriction")+" "+r.PathValue("id"))
}

func (con *Console) reject(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := restrictionID(r)
	if err == nil {
		_, err = con.svc.Reject(r.Context(), id, r.PostForm.Get("reason"))
	}
	con.done(w, r, p, back(r, "/"), err, p.lang.T("Rejected restriction")+" "+r.PathValue("id"))
}

func (con *Console) answerAppeal(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		err = curfewInvalid("appeal id %q: want a positive number", r.PathValue("id"))
	} else {
		_, err = con.svc.AnswerAppeal(r.Context(), curfew.AppealID(id), r.PostForm.Get("text"))
	}
	con.done(w, r, p, back(r, "/"), err, p.lang.T("Answered appeal")+" "+r.PathValue("id"))
}

// presets are the durations the forms offer, by their form value.
var presets = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour}

// endOrDuration reads a form's choice of a preset duration (forValue) or
// an end time (until, a datetime-local value in zone).
func endOrDuration(forValue, until string, zone *time.Location) (time.Time, time.Duration, error) {
	until = strings.TrimSpace(until)
	if forValue == "until" || forValue == "" && until != "" {
		if until == "" {
			return time.Time{}, 0, curfewInvalid("missing end time: pick a duration or give the time it ends")
		}
		t, err := parseLocal(until, zone)
		return t, 0, err
	}
	if d, ok := presets[forValue]; ok {
		return time.Time{}, d, nil
	}
	if forValue == "" {
		return time.Time{}, 0, curfewInvalid("missing duration or end time: every restriction must end")
	}
	d, err := time.ParseDuration(forValue)
	if err != nil || d <= 0 {
		return time.Time{}, 0, curfewInvalid("duration %q: pick 1 hour, 1 day, 1 week or an end time", forValue)
	}
	return time.Time{}, d, nil
}

// parseLocal parses a datetime-local value (2006-01-02T15:04) in zone, or
// an RFC 3339 time.
func parseLocal(s string, zone *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, curfewInvalid("time %q: want YYYY-MM-DDTHH:MM", s)
}
