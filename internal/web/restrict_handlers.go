package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// restrictForm is the Restrict form as sent, to fill it in again.
type restrictForm struct {
	Subject, Mode, For, From, Until, Reason, Notice, Allow, Block, Rate string
}

func readRestrictForm(f url.Values) restrictForm {
	return restrictForm{
		Subject: strings.TrimSpace(f.Get("subject")), Mode: f.Get("mode"), For: f.Get("for"),
		From: f.Get("from"), Until: f.Get("until"),
		Reason: f.Get("reason"), Notice: f.Get("notice"), Allow: f.Get("allow"), Block: f.Get("block"),
		Rate: strings.TrimSpace(f.Get("rate")),
	}
}

// request turns the form into the request the service takes.
func (f *restrictForm) request(zone *time.Location) (curfew.RestrictRequest, error) {
	req := curfew.RestrictRequest{
		Subject: f.Subject, Mode: curfew.Mode(f.Mode), Reason: f.Reason, Notice: f.Notice,
		Allow: splitList(f.Allow), Block: splitList(f.Block),
	}
	if req.Subject == "" {
		return req, curfewInvalid("missing subject: pick a person, a device or a group")
	}
	if !strings.Contains(req.Subject, ":") {
		return req, curfewInvalid("subject %q: pick one from the list, or write device:MAC, person:NAME, group:NAME or ip:ADDR", req.Subject)
	}
	var err error
	if req.End, req.For, err = endOrDuration(f.For, f.Until, zone); err != nil {
		return req, err
	}
	if s := strings.TrimSpace(f.From); s != "" {
		if req.Start, err = parseLocal(s, zone); err != nil {
			return req, fmt.Errorf("start: %w", err)
		}
	}
	// Lists and a rate the mode does not use are ignored, as the form
	// hides them.
	switch req.Mode {
	case curfew.ModeAllowlist:
		req.Block = nil
	case curfew.ModeBlocklist:
		req.Allow = nil
	default:
		req.Allow, req.Block = nil, nil
	}
	if req.Mode == curfew.ModeThrottle {
		if f.Rate == "" {
			return req, curfewInvalid("missing rate: a throttle needs one, such as 2mbit")
		}
		if req.Rate, err = curfew.ParseRate(f.Rate); err != nil {
			return req, fmt.Errorf("rate: %w", err)
		}
	}
	return req, nil
}

// splitList splits a list of domains and prefixes written one per line
// or separated by commas or spaces.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// subjectOption is one entry of the subject picker.
type subjectOption struct {
	Value, Label string
}

// coveredDevice is one device a restriction would cover.
type coveredDevice struct {
	MAC    string
	Name   string
	Owner  string
	Addrs  []string
	Random bool
}

// preview is what a restriction would do if applied now.
type preview struct {
	R        *curfew.Restriction
	Devices  []coveredDevice
	Prefixes []string
	// Later says the subject may cover devices registered later (a
	// person or a group).
	Later bool
}

// restrictData is what the Restrict page shows.
type restrictData struct {
	Form     restrictForm
	Find     string          // what the picker was searched for
	Subjects []subjectOption // what it offers: the first of each kind, or those that match Find
	More     bool            // more subjects match than it offers
	Preview  *preview
	Error    string
}

func (con *Console) restrictPage(w http.ResponseWriter, r *http.Request, p *page) {
	v := r.URL.Query()
	d := restrictData{Form: restrictForm{Subject: v.Get("subject"), Mode: "cutoff", For: "1h"}, Find: strings.TrimSpace(v.Get("find"))}
	con.restrictRender(w, r, p, http.StatusOK, &d)
}

func (con *Console) restrictRender(w http.ResponseWriter, r *http.Request, p *page, status int, d *restrictData) {
	var err error
	if d.Subjects, d.More, err = con.subjects(r.Context(), d.Find); err != nil {
		con.pageError(w, r, p, err)
		return
	}
	con.render(w, r, status, "restrict", con.newView(p, "Restrict", "restrict", d))
}

// Bounds of the picker's list: it offers the first persons, groups and
// devices that match what is typed, and any subject can be found by
// typing part of it (or written out: device:MAC).
const (
	pickPersons = 20
	pickGroups  = 20
	pickDevices = 50
)

// subjects lists what the picker offers for find (empty: the first of
// each kind): persons, groups, then devices, and whether more match. It
// reads no more devices than it offers.
func (con *Console) subjects(ctx context.Context, find string) ([]subjectOption, bool, error) {
	// What is typed into the picker may be a subject already begun.
	for _, kind := range []string{"person:", "device:", "group:"} {
		find = strings.TrimPrefix(find, kind)
	}
	persons, err := con.svc.FindPersons(ctx, curfew.PersonQuery{Search: find, Limit: pickPersons})
	if err != nil {
		return nil, false, err
	}
	devices, err := con.svc.FindDevices(ctx, curfew.DeviceQuery{Search: find, Limit: pickDevices})
	if err != nil {
		return nil, false, err
	}
	groups, err := con.svc.Groups(ctx)
	if err != nil {
		return nil, false, err
	}
	more := persons.Total > len(persons.Persons) || devices.Total > len(devices.Devices)
	out := make([]subjectOption, 0, len(persons.Persons)+pickGroups+len(devices.Devices))
	for _, ps := range persons.Persons {
		out = append(out, subjectOption{"person:" + ps.Name, "person " + ps.Name})
	}
	q, n := strings.ToLower(find), 0
	for _, g := range groups {
		if q != "" && !strings.Contains(strings.ToLower(g.Name), q) {
			continue
		}
		if n++; n > pickGroups {
			more = true
			break
		}
		out = append(out, subjectOption{"group:" + g.Name, fmt.Sprintf("group %s (%d)", g.Name, len(g.Members))})
	}
	for _, dv := range devices.Devices {
		label := "device " + dv.MAC.String()
		if dv.Name != "" {
			label += " " + dv.Name
		}
		if dv.Owner != "" {
			label += " (" + dv.Owner + ")"
		}
		out = append(out, subjectOption{"device:" + dv.MAC.String(), label})
	}
	return out, more, nil
}

// subjectList serves the picker's search as the operator types: the
// subjects that match q, as JSON, for console.js to offer.
func (con *Console) subjectList(w http.ResponseWriter, r *http.Request, p *page) {
	opts, more, err := con.subjects(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")))
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		http.Error(w, err.Error(), st)
		return
	}
	type option struct {
		Value string `json:"value"`
		Label string `json:"label"`
	}
	out := struct {
		Subjects []option `json:"subjects"`
		More     bool     `json:"more"`
	}{Subjects: make([]option, 0, len(opts)), More: more}
	for _, o := range opts {
		out.Subjects = append(out.Subjects, option(o))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// restrictPreview shows, before anything is applied, which devices and
// addresses the restriction would cover and what their notice page would
// say. It changes nothing.
func (con *Console) restrictPreview(w http.ResponseWriter, r *http.Request, p *page) {
	d := restrictData{Form: readRestrictForm(r.PostForm)}
	pv, err := con.preview(r.Context(), p, &d.Form)
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error = err.Error()
		con.restrictRender(w, r, p, st, &d)
		return
	}
	d.Preview = pv
	con.restrictRender(w, r, p, http.StatusOK, &d)
}

func (con *Console) preview(ctx context.Context, p *page, f *restrictForm) (*preview, error) {
	req, err := f.request(p.zone)
	if err != nil {
		return nil, err
	}
	res, err := req.Restriction(p.now, p.actor.Name)
	if err != nil {
		return nil, err
	}
	devices, groups, err := con.covered(ctx, res.Subject)
	if err != nil {
		return nil, err
	}
	pv := &preview{R: res, Later: res.Subject.Kind == curfew.SubjectPerson || res.Subject.Kind == curfew.SubjectGroup}
	snap := curfew.Compute(res.Start, []*curfew.Restriction{res}, devices, groups...)
	known := map[string]*curfew.Device{}
	for _, dv := range devices {
		known[dv.MAC.String()] = dv
	}
	for _, rule := range snap.Devices {
		cd := coveredDevice{MAC: rule.MAC.String(), Random: curfew.RandomMAC(rule.MAC)}
		if dv := known[cd.MAC]; dv != nil {
			cd.Name, cd.Owner = dv.Name, dv.Owner
		}
		for _, a := range rule.Addrs {
			cd.Addrs = append(cd.Addrs, a.String())
		}
		pv.Devices = append(pv.Devices, cd)
	}
	for _, pr := range snap.Prefixes {
		pv.Prefixes = append(pv.Prefixes, pr.Prefix.String())
	}
	return pv, nil
}

// covered returns the registered devices s may cover, and its group if
// it is one: what Compute needs to say what a restriction of s covers,
// and no more of the store.
func (con *Console) covered(ctx context.Context, s curfew.Subject) ([]*curfew.Device, []*curfew.Group, error) {
	owned := func(owner string) ([]*curfew.Device, error) {
		page, err := con.svc.FindDevices(ctx, curfew.DeviceQuery{Owner: owner, Limit: curfew.MaxPageSize})
		if err != nil {
			return nil, err
		}
		return page.Devices, nil
	}
	byMAC := func(mac string) ([]*curfew.Device, error) {
		page, err := con.svc.FindDevices(ctx, curfew.DeviceQuery{Search: mac, Limit: curfew.MaxPageSize})
		if err != nil {
			return nil, err
		}
		var out []*curfew.Device
		for _, d := range page.Devices {
			if d.MAC.String() == mac {
				out = append(out, d)
			}
		}
		return out, nil
	}
	switch s.Kind {
	case curfew.SubjectDevice:
		ds, err := byMAC(s.MAC.String())
		return ds, nil, err
	case curfew.SubjectPerson:
		ds, err := owned(s.Name)
		return ds, nil, err
	case curfew.SubjectGroup:
		groups, err := con.svc.Groups(ctx)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(groups, func(g *curfew.Group) bool { return g.Name == s.Name })
		if i < 0 {
			return nil, nil, nil
		}
		var ds []*curfew.Device
		for _, m := range groups[i].Members {
			var more []*curfew.Device
			if m.Kind == curfew.SubjectPerson {
				more, err = owned(m.Name)
			} else {
				more, err = byMAC(m.MAC.String())
			}
			if err != nil {
				return nil, nil, err
			}
			for _, d := range more {
				if !slices.ContainsFunc(ds, func(o *curfew.Device) bool { return string(o.MAC) == string(d.MAC) }) {
					ds = append(ds, d)
				}
			}
		}
		return ds, groups[i : i+1], nil
	}
	return nil, nil, nil
}

// restrictSubmit applies the Restrict form.
func (con *Console) restrictSubmit(w http.ResponseWriter, r *http.Request, p *page) {
	d := restrictData{Form: readRestrictForm(r.PostForm)}
	req, err := d.Form.request(p.zone)
	var res *curfew.Restriction
	if err == nil {
		res, err = con.svc.Restrict(r.Context(), req)
	}
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error = err.Error()
		con.restrictRender(w, r, p, st, &d)
		return
	}
	msg := fmt.Sprintf("%s %d: %s, %s %s", p.lang.T("Restriction"), res.ID, res.Subject, p.lang.T("until"),
		res.End.In(p.zone).Format("2006-01-02 15:04 MST"))
	switch res.StatusAt(p.now) {
	case curfew.StatusPending:
		msg += " — " + p.lang.T("waits for a second operator; not enforced yet")
	case curfew.StatusScheduled:
		msg += " — " + p.lang.T("starts at") + " " + res.Start.In(p.zone).Format("2006-01-02 15:04 MST")
	}
	p.sess.setFlash(&flash{OK: true, Text: msg})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
