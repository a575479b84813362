package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/curfew/curfew/internal/browsertest"
	"github.com/curfew/curfew/internal/curfew"
)

// tab is one operator's Chromium tab on the console.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newTabs starts one headless Chromium for t and returns a function that
// opens a tab with cookies of its own, as another person's browser has.
func newTabs(t *testing.T, base string) func() *tab {
	t.Helper()
	alloc := browsertest.Allocator(t, browsertest.Path(t), 1100, 900)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return func() *tab {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
		t.Cleanup(cancelTimeout)
		return &tab{t: t, ctx: ctx, base: base}
	}
}

func (c *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

func (c *tab) open(path string) {
	c.t.Helper()
	c.do("opening "+path, chromedp.Navigate(c.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
}

func (c *tab) text(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func eval[T any](c *tab, expr string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// submit clicks sel, a form's button, and returns the next page's
// message and whether it says success.
func (c *tab) submit(sel string) (string, bool) {
	c.t.Helper()
	// The old page's body is marked, so that only the next page's
	// message is read.
	c.do("clicking "+sel,
		discard(chromedp.Evaluate[any](`document.body.dataset.old = "1", null`)),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-old]) .flash")))
	return c.text("body:not([data-old]) .flash"), eval[bool](c, `document.querySelector(".flash").classList.contains("ok")`)
}

// signIn signs in with the one-time password and chooses password.
func (c *tab) signIn(name, oneTime string) {
	c.t.Helper()
	c.open("/login")
	c.do("signing in as "+name,
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), oneTime),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="confirm"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="current"]`), oneTime),
		chromedp.SendKeys(chromedp.CSS(`input[name="new"]`), password),
		chromedp.SendKeys(chromedp.CSS(`input[name="confirm"]`), password))
	if msg, ok := c.submit(`form[action="/password"] button`); !ok {
		c.t.Fatalf("choosing a password: %s", msg)
	}
}

// TestConsoleDevicesInChromium drives the console in headless Chromium
// over a store of 10,000 devices: olga finds one of them by typing part
// of its name into the Restrict form's picker, and by the People page's
// search; she approves a device seen on the LAN to its owner, after the
// console told her what was wrong with her first try; vera, a viewer, sees
// the seen devices but no Approve, and her forged approval gets 403 and
// registers nothing.
func TestConsoleDevicesInChromium(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 10_000)
	tablet, laptop := net.HardwareAddr{0x06, 0x0a, 0, 0, 0, 7}, net.HardwareAddr{0x00, 0x1b, 0x63, 0, 0, 8}
	now := time.Now()
	if _, err := f.db.RecordSeen(f.admin, []curfew.Sighting{
		{MAC: tablet, At: now, Hostname: "bobs-tablet"},
		{MAC: laptop, At: now.Add(-time.Hour), Hostname: "guest-laptop"},
	}, curfew.SeenLimits{MaxUnregistered: 100, MaxAge: 24 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	newTab := newTabs(t, f.srv.URL)
	olga := newTab()
	olga.signIn("olga", f.operator(t, "olga", curfew.RoleOperator))

	// Device 7777 is far beyond the first entries the picker offers; typing
	// part of its name brings it.
	const wanted = "device:02:00:00:00:1e:61" // device 7777
	olga.open("/restrict")
	options := `Array.from(document.querySelectorAll("#subjects option")).map(o => o.value)`
	if first := eval[[]string](olga, options); len(first) == 0 || len(first) > 100 || contains(first, wanted) {
		t.Fatalf("the picker offers %d subjects at first, want 1 to 100 without %s", len(first), wanted)
	}
	olga.do("typing into the picker", chromedp.SendKeys(chromedp.CSS(`input[name="subject"]`), "device 7777"))
	found := eval[[]string](olga, `new Promise((resolve, reject) => {
		const until = Date.now() + 10000;
		(function poll() {
			const got = `+options+`;
			if (document.querySelector("#subjects").dataset.for === "device 7777") return resolve(got);
			if (Date.now() > until) return reject(new Error("the picker never answered: " + got));
			setTimeout(poll, 50);
		})();
	})`)
	if !contains(found, wanted) || len(found) != 1 {
		t.Errorf("after typing \"device 7777\" the picker offers %v, want only %s", found, wanted)
	}
	// She throttles it from the form: a rate without a unit is refused
	// with the reason, and nothing applied; 2mbit is applied.
	olga.do("picking device 7777 and a throttle without a unit",
		chromedp.SetValue(chromedp.CSS(`input[name="subject"]`), wanted),
		chromedp.Click(chromedp.CSS(`input[name="mode"][value="throttle"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="rate"]`), "2"),
		chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "console: streaming all night"),
		discard(chromedp.Evaluate[any](`document.body.dataset.old = "1", null`)),
		chromedp.Click(chromedp.CSS(`.restrict-form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`body:not([data-old]) .problem`)))
	if got := olga.text(".problem"); !strings.Contains(got, "rate") || !strings.Contains(got, "has no unit") {
		t.Errorf("a throttle at rate 2 says %q, want why the rate is refused", got)
	}
	if rs, err := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{Subject: ptr(mustSubject(t, wanted))}); err != nil || len(rs) != 0 {
		t.Fatalf("a refused throttle applied %v (%v)", rs, err)
	}
	olga.do("giving the rate a unit",
		chromedp.Clear(chromedp.CSS(`input[name="rate"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="rate"]`), "2mbit"))
	if msg, ok := olga.submit(`.restrict-form button.primary`); !ok || !strings.Contains(msg, wanted[len("device:"):]) {
		t.Fatalf("throttling device 7777 says %q (ok %v)", msg, ok)
	}
	if rs, err := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{Subject: ptr(mustSubject(t, wanted))}); err != nil || len(rs) != 1 || rs[0].Mode != curfew.ModeThrottle || rs[0].Rate != 2_000_000 {
		t.Errorf("after the throttle from the form: %v (%v), want one throttle at 2 Mbit/s", rs, err)
	}

	// Without JavaScript, the Find form does the same.
	olga.open("/restrict?find=" + url.QueryEscape("device 7777"))
	if got := olga.text(".found"); !strings.Contains(got, "device 02:00:00:00:1e:61 device 7777 (person0777)") {
		t.Errorf("Find device 7777 shows:\n%s", got)
	}
	olga.open("/people?q=" + url.QueryEscape("02:00:00:00:1E:61"))
	if got, n := olga.text("#devices"), eval[int](olga, `document.querySelectorAll("#devices tbody tr").length`); !strings.Contains(got, "device 7777") || n != 1 {
		t.Errorf("the People page's search for 02:00:00:00:1E:61 shows %d devices:\n%s", n, got)
	}
	if n := eval[int](olga, `document.querySelectorAll("table.grid tbody tr").length`); n > 2*100+1 {
		t.Errorf("the People page shows %d rows, more than two pages", n)
	}

	// The seen devices, newest first; approving the tablet for a person
	// who does not exist says so and registers nothing.
	olga.open("/seen")
	if got := olga.text("#seen-" + strings.ReplaceAll(tablet.String(), ":", `\:`)); !strings.Contains(got, "bobs-tablet") || !strings.Contains(got, "random MAC") {
		t.Errorf("the seen tablet's row shows:\n%s", got)
	}
	row := `#seen-` + strings.ReplaceAll(tablet.String(), ":", `\:`)
	olga.do("naming an unknown owner", chromedp.SendKeys(chromedp.CSS(row+` input[name="owner"]`), "nobody"))
	if msg, ok := olga.submit(row + ` button`); ok || !strings.Contains(msg, `owner "nobody": no such person`) {
		t.Errorf("approving for an unknown person says %q (ok %v), want why it is refused", msg, ok)
	}
	if _, err := f.db.Device(f.admin, tablet); err == nil {
		t.Fatal("a refused approval registered the tablet")
	}
	olga.do("naming its owner", chromedp.SendKeys(chromedp.CSS(row+` input[name="owner"]`), "person0001"))
	if msg, ok := olga.submit(row + ` button`); !ok || !strings.Contains(msg, "Approved device "+tablet.String()) {
		t.Fatalf("approving the tablet says %q (ok %v)", msg, ok)
	}
	d, err := f.db.Device(f.admin, tablet)
	if err != nil || d.Owner != "person0001" || d.Name != "bobs-tablet" {
		t.Fatalf("the approved tablet is %+v, %v; want person0001's bobs-tablet", d, err)
	}
	var log bytes.Buffer
	if err := f.eng.ExportAudit(f.admin, 1, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `"device.approved"`) || !strings.Contains(log.String(), `"actor":"olga"`) {
		t.Errorf("the audit log has no device.approved by olga")
	}
	if eval[int](olga, `document.querySelectorAll("#seen tbody tr, table.seen tbody tr").length`) != 1 {
		t.Errorf("after the approval the seen list shows:\n%s", olga.text("main"))
	}

	// A viewer sees the laptop, but no form to approve it; a forged
	// approval with her own CSRF token is refused.
	vera := newTab()
	vera.signIn("vera", f.operator(t, "vera", curfew.RoleViewer))
	vera.open("/seen")
	if got := vera.text("main"); !strings.Contains(got, "guest-laptop") {
		t.Errorf("the viewer's seen page lacks the laptop:\n%s", got)
	}
	if n := eval[int](vera, `document.querySelectorAll("form[action$='/approve'], input[name=owner]").length`); n != 0 {
		t.Errorf("the viewer's seen page has %d approval controls", n)
	}
	status := eval[int](vera, fmt.Sprintf(`fetch("/devices/%s/approve", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "owner=person0002&csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`, laptop))
	if status != 403 {
		t.Errorf("a viewer's approval = %d, want 403", status)
	}
	if _, err := f.db.Device(f.admin, laptop); err == nil {
		t.Error("a viewer's approval registered the laptop")
	}
}

// discard runs a and drops its result.
func discard[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

func ptr[T any](v T) *T { return &v }

func mustSubject(t *testing.T, s string) curfew.Subject {
	t.Helper()
	subj, err := curfew.ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return subj
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
