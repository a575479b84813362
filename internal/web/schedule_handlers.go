package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// scheduleForm is the Add schedule form as sent, to fill it in again.
type scheduleForm struct {
	Subject, Days, From, To, Until, Zone, Mode, Allow, Block, Rate, Reason, Notice string
}

// scheduleLine is one schedule with its next window.
type scheduleLine struct {
	*curfew.Schedule
	Next, Open bool // Next: it has a window to come or open; Open: it is open now
	Window     curfew.Window
}

// schedulesData is what the Schedules page shows.
type schedulesData struct {
	Rows  []scheduleLine
	Form  scheduleForm
	Error string
}

// schedulesPage lists the schedules that are not over, each with its
// next window in the operator's zone, and the form to add one.
func (con *Console) schedulesPage(w http.ResponseWriter, r *http.Request, p *page) {
	con.schedulesRender(w, r, p, http.StatusOK, &schedulesData{Form: scheduleForm{Mode: "cutoff", Days: "daily"}})
}

func (con *Console) schedulesRender(w http.ResponseWriter, r *http.Request, p *page, status int, d *schedulesData) {
	ss, err := con.svc.Schedules(r.Context(), curfew.ScheduleFilter{})
	if err != nil {
		con.internal(w, r, err)
		return
	}
	for _, s := range ss {
		row := scheduleLine{Schedule: s}
		row.Window, row.Next = s.Next(p.now)
		row.Open = row.Next && !row.Window.Start.After(p.now)
		d.Rows = append(d.Rows, row)
	}
	con.render(w, r, status, "schedules", con.newView(p, "Schedules", "schedules", d))
}

// request turns the form into the request the service takes, refusing
// what `curfew schedule add` refuses, with the same words.
func (f *scheduleForm) request(now time.Time, zone *time.Location) (curfew.ScheduleRequest, error) {
	req := curfew.ScheduleRequest{
		Subject: f.Subject, Days: f.Days, From: f.From, To: f.To, Zone: f.Zone,
		Mode: curfew.Mode(f.Mode), Reason: f.Reason, Notice: f.Notice,
	}
	switch {
	case f.Subject == "":
		return req, curfewInvalid("missing subject, such as person:NAME, device:02:00:00:00:00:01 or group:NAME")
	case f.Days == "":
		return req, curfewInvalid("missing days, such as daily, weekdays or mon-thu,sun")
	case f.From == "" || f.To == "":
		return req, curfewInvalid("missing from or to (HH:MM): a window needs both")
	case f.Until == "":
		return req, curfewInvalid("missing until: every schedule must end")
	case strings.TrimSpace(f.Reason) == "":
		return req, curfewInvalid("missing reason: every schedule needs one")
	}
	loc := zone
	if f.Zone != "" {
		var err error
		if loc, err = curfew.LoadZone(f.Zone); err != nil {
			return req, fmt.Errorf("time zone: %w", err)
		}
	}
	// Until is a local day, as `--until YYYY-MM-DD`: the schedule ends at
	// the end of it, in the schedule's zone.
	d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(f.Until), loc)
	if err != nil {
		return req, curfewInvalid("until %q: want a day, YYYY-MM-DD", f.Until)
	}
	req.Until = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
	if !req.Until.After(now) {
		return req, curfewInvalid("until: %s is in the past", f.Until)
	}
	switch req.Mode {
	case curfew.ModeAllowlist:
		req.Allow = splitList(f.Allow)
	case curfew.ModeBlocklist:
		req.Block = splitList(f.Block)
	case curfew.ModeThrottle:
		if f.Rate == "" {
			return req, curfewInvalid("missing rate: a throttle needs one, such as 2mbit")
		}
		var err error
		if req.Rate, err = curfew.ParseRate(f.Rate); err != nil {
			return req, fmt.Errorf("rate: %w", err)
		}
	}
	return req, nil
}

// addSchedule applies the Add schedule form.
func (con *Console) addSchedule(w http.ResponseWriter, r *http.Request, p *page) {
	v := r.PostForm
	d := schedulesData{Form: scheduleForm{
		Subject: strings.TrimSpace(v.Get("subject")), Days: strings.TrimSpace(v.Get("days")),
		From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")),
		Until: v.Get("until"), Zone: strings.TrimSpace(v.Get("zone")), Mode: v.Get("mode"),
		Allow: v.Get("allow"), Block: v.Get("block"), Rate: strings.TrimSpace(v.Get("rate")), Reason: v.Get("reason"), Notice: v.Get("notice"),
	}}
	req, err := d.Form.request(p.now, p.zone)
	if err == nil && req.Zone == "" {
		// The form's zone is the operator's, which the page shows.
		req.Zone = p.zone.String()
	}
	var s *curfew.Schedule
	if err == nil {
		s, err = con.svc.AddSchedule(r.Context(), req)
	}
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error = err.Error()
		con.schedulesRender(w, r, p, st, &d)
		return
	}
	p.sess.setFlash(&flash{OK: true, Text: fmt.Sprintf("%s %d: %s, %s %s–%s", p.lang.T("Schedule"), s.ID, s.Subject, s.Days, s.From, s.To)})
	http.Redirect(w, r, "/schedules", http.StatusSeeOther)
}

// removeSchedule removes a schedule, with a reason.
func (con *Console) removeSchedule(w http.ResponseWriter, r *http.Request, p *page) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		con.done(w, r, p, "/schedules", curfewInvalid("schedule id %q is not a number", r.PathValue("id")), "")
		return
	}
	_, err = con.svc.RemoveSchedule(r.Context(), curfew.ScheduleID(id), r.PostForm.Get("reason"))
	con.done(w, r, p, "/schedules", err, fmt.Sprintf("%s %d %s", p.lang.T("Schedule"), id, p.lang.T("removed")))
}
