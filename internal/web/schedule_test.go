package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// TestSchedulesPage: an operator adds a schedule from the console and
// sees its next window, is told what is wrong with a bad one in the words
// of `curfew schedule add`, and removes it with a reason; a viewer sees
// the schedules and no form, and her forged add is refused.
func TestSchedulesPage(t *testing.T) {
	f := newFixture(t)
	if _, err := f.eng.AddPerson(f.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	last := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
	form := func(change map[string]string) url.Values {
		v := url.Values{"csrf": {b.csrf("/schedules")}, "subject": {"person:alice"}, "days": {"weekdays"}, "from": {"21:00"}, "to": {"07:00"},
			"until": {last}, "zone": {"Europe/Madrid"}, "mode": {"cutoff"}, "reason": {"school nights"}}
		for k, x := range change {
			v.Set(k, x)
		}
		return v
	}
	for _, tt := range []struct {
		change map[string]string
		want   string
	}{
		{map[string]string{"days": ""}, "missing days, such as daily, weekdays or mon-thu,sun"},
		{map[string]string{"days": "mon-xyz"}, `xyz`},
		{map[string]string{"from": "25:00"}, "from: "},
		{map[string]string{"zone": "Mars/Olympus"}, `time zone &#34;Mars/Olympus&#34; does not exist`},
		{map[string]string{"until": "2020-01-01"}, "is in the past"},
		{map[string]string{"until": "next year"}, "want a day, YYYY-MM-DD"},
		{map[string]string{"reason": " "}, "missing reason"},
		{map[string]string{"subject": "person:nobody"}, "nobody"},
	} {
		a := b.post("/schedules", form(tt.change))
		if a.status < 400 || a.status > 499 || !strings.Contains(a.body, tt.want) {
			t.Errorf("POST /schedules with %v = %d, want a 4xx page saying %q", tt.change, a.status, tt.want)
		}
	}
	if ss, err := f.eng.Schedules(f.admin, curfew.ScheduleFilter{}); err != nil || len(ss) != 0 {
		t.Fatalf("refused schedules were stored: %v %v", ss, err)
	}
	if a := b.post("/schedules", form(nil)); a.status != http.StatusSeeOther {
		t.Fatalf("POST /schedules = %d: %s", a.status, a.body)
	}
	ss, err := f.eng.Schedules(f.admin, curfew.ScheduleFilter{})
	if err != nil || len(ss) != 1 || ss[0].Zone.String() != "Europe/Madrid" || ss[0].Author != "olga" {
		t.Fatalf("after adding: %v %v", ss, err)
	}
	w, ok := ss[0].Next(time.Now())
	if !ok {
		t.Fatal("the schedule has no next window")
	}
	page := b.get("/schedules")
	if !strings.Contains(page.body, "Mon-Fri 21:00–07:00") && !strings.Contains(page.body, "weekdays 21:00–07:00") {
		t.Errorf("the Schedules page does not show the days and times:\n%s", page.body)
	}
	// The next window, or the one open now, by when it starts or ends.
	at := w.Start
	if !w.Start.After(time.Now()) {
		at = w.End
	}
	if want := at.UTC().Format("2006-01-02 15:04"); !strings.Contains(page.body, want) {
		t.Errorf("the Schedules page does not show the next window (%v to %v) by %s UTC", w.Start, w.End, want)
	}

	vera := f.browser(t)
	vera.signIn("vera", f.operator(t, "vera", curfew.RoleViewer), password)
	vp := vera.get("/schedules")
	if !strings.Contains(vp.body, "person:alice") || regexp.MustCompile(`action="/schedules[^"]*"`).MatchString(vp.body) {
		t.Errorf("the viewer's Schedules page lacks the schedule or has a form")
	}
	if a := vera.post("/schedules", url.Values{"csrf": {vera.csrf("/schedules")}, "subject": {"person:alice"}}); a.status != http.StatusForbidden {
		t.Errorf("a viewer's POST /schedules = %d, want 403", a.status)
	}

	id := ss[0].ID
	a := b.post("/schedules/"+strconv.FormatInt(int64(id), 10)+"/remove", url.Values{"csrf": {b.csrf("/schedules")}, "reason": {"term ended"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("removing the schedule = %d", a.status)
	}
	if ss, _ := f.eng.Schedules(f.admin, curfew.ScheduleFilter{}); len(ss) != 0 {
		t.Errorf("after removing it, schedules are %v", ss)
	}
}
