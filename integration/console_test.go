//go:build integration

package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/curfew/curfew/internal/browsertest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/lab"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console's screenshots into ../docs/console from TestConsole")

// chromium starts one headless Chromium for the test and returns a
// function that opens a tab in a browser context of its own: its own
// cookies, as another person's browser has.
func chromium(t *testing.T, path string) func() context.Context {
	t.Helper()
	allocCtx := browsertest.Allocator(t, path, 1100, 900)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return func() context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
		t.Cleanup(cancelTimeout)
		return ctx
	}
}

// consoleTab is one operator's browser on the console.
type consoleTab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// do runs steps, failing the test with what on error.
func (c *consoleTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// open goes to the console's page at path.
func (c *consoleTab) open(path string) {
	c.t.Helper()
	c.do("opening "+path, chromedp.Navigate(c.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
}

// text returns the visible text of the element sel.
func (c *consoleTab) text(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// submit clicks sel, a form's button, and waits for the next page's
// message (.flash), which it returns with whether it says success.
func (c *consoleTab) submit(sel string) (string, bool) {
	c.t.Helper()
	c.do("clicking "+sel,
		discard(chromedp.Evaluate[any](`document.querySelectorAll(".flash").forEach(e => e.remove()), null`)),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	text := c.text(".flash")
	ok, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`document.querySelector(".flash").classList.contains("ok")`))
	if err != nil {
		c.t.Fatal(err)
	}
	return text, ok
}

// discard runs a and drops its result.
func discard[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// evalIn evaluates a JavaScript expression in the page, awaiting a promise.
func evalIn[T any](c *consoleTab, expr string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// signIn signs in as name with its one-time password, as an operator
// does the first time, and chooses a password of its own.
func (c *consoleTab) signIn(name, oneTime string) {
	c.t.Helper()
	c.open("/")
	c.do("signing in as "+name,
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), oneTime),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="confirm"]`)))
	mine := "console password of " + name
	c.do("choosing a password",
		chromedp.SendKeys(chromedp.CSS(`input[name="current"]`), oneTime),
		chromedp.SendKeys(chromedp.CSS(`input[name="new"]`), mine),
		chromedp.SendKeys(chromedp.CSS(`input[name="confirm"]`), mine))
	if msg, ok := c.submit(`form[action="/password"] button`); !ok {
		c.t.Fatalf("choosing a password: %s", msg)
	}
}

// shoot checks that the page fits a phone's width and, with
// -update-screenshots, writes it at desktop and phone widths.
func (c *consoleTab) shoot(name string) {
	c.t.Helper()
	c.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	if w := evalIn[int](c, `document.documentElement.scrollWidth`); w > 390 {
		c.t.Errorf("page %s is %d px wide on a 390 px phone", name, w)
	}
	if *updateScreenshots {
		c.writePNG(name + "-phone.png")
	}
	c.do("desktop width", chromedp.EmulateViewport(1100, 800, chromedp.EmulateScale(1)))
	if w := evalIn[int](c, `document.documentElement.scrollWidth`); w > 1100 {
		c.t.Errorf("page %s is %d px wide on a 1100 px screen", name, w)
	}
	if *updateScreenshots {
		c.writePNG(name + "-desktop.png")
	}
}

func (c *consoleTab) writePNG(file string) {
	c.t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", file, err)
	}
	if err := os.MkdirAll("../docs/console", 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("../docs/console", file), shrinkPNG(c.t, png), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// shrinkPNG re-encodes a screenshot with a palette of its 256 most
// frequent colours, which a page of flat colours and text loses nothing
// to, so the PNGs committed with the docs stay small.
func shrinkPNG(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding screenshot: %v", err)
	}
	counts := map[color.RGBA]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		colors = append(colors, c)
	}
	slices.SortFunc(colors, func(a, b color.RGBA) int { return counts[b] - counts[a] })
	pal := make(color.Palette, 0, 256)
	for _, c := range colors[:min(256, len(colors))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(bounds, pal)
	draw.Draw(out, bounds, img, bounds.Min, draw.Src)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, out); err != nil {
		t.Fatalf("encoding screenshot: %v", err)
	}
	return buf.Bytes()
}

var restrictionMsg = regexp.MustCompile(`Restriction (\d+): `)

// TestConsole drives the web console in headless Chromium against the lab
// gateway, as operators would: olga restricts client 1 from the form,
// after a preview, and client 1 loses access; she extends and lifts it,
// and both show in the audit view; her week-long restriction of client 2
// waits until bob approves it; she answers client 2's appeal and the
// answer shows on its notice page; vera, a viewer, finds no control that
// changes anything; and a post without the CSRF token gets 403 and changes
// nothing.
func TestConsole(t *testing.T) {
	t.Parallel()
	path := browsertest.Path(t)
	g := newGatewayWith(t, lab.Config{Approvals: lab.Approvals{RequiredOver: "24h"}})
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	online(t, c1, c2, c3)
	g.mustCurfew("person", "add", "alice")
	g.mustCurfew("device", "add", c3.MAC.String(), "--name", "alice laptop", "--owner", "alice")
	g.mustCurfew("group", "add", "residents")
	g.mustCurfew("group", "member", "add", "residents", "person:alice")
	// A schedule whose windows are hours away, so that nothing of it is
	// enforced while the test runs.
	later := time.Now().UTC().Add(3 * time.Hour)
	g.mustCurfew("schedule", "add", "person:alice", "--days", "daily", "--from", later.Format("15:04"), "--to", later.Add(time.Hour).Format("15:04"),
		"--until", later.AddDate(0, 2, 0).Format("2006-01-02"), "--tz", "UTC", "--reason", "console: homework hours", "--notice", "Homework first.")
	pw := map[string]string{}
	for _, op := range []struct{ name, role string }{{"olga", "operator"}, {"bob", "operator"}, {"vera", "viewer"}} {
		pw[op.name] = strings.TrimSpace(g.mustCurfew("operator", "add", op.name, "--role", op.role))
	}
	newTab := chromium(t, path)
	olga := &consoleTab{t: t, ctx: newTab(), base: g.APIURL()}
	olga.open("/login")
	olga.shoot("login")
	olga.signIn("olga", pw["olga"])

	// Restrict client 1 from the form, after a preview.
	olga.open("/restrict")
	olga.do("filling the Restrict form",
		chromedp.SendKeys(chromedp.CSS(`input[name="subject"]`), device(c1)),
		chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "console: noise complaint"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="notice"]`), "Paused until the meeting."),
		chromedp.Click(chromedp.CSS(`button[formaction="/restrict/preview"]`)),
		chromedp.WaitVisible(chromedp.CSS(".preview")))
	if pv := olga.text(".preview"); !strings.Contains(pv, c1.MAC.String()) || !strings.Contains(pv, "Paused until the meeting.") {
		t.Errorf("the preview does not name the device and the notice:\n%s", pv)
	}
	if rs := g.restrictions(true); len(rs) != 0 {
		t.Fatalf("the preview applied something: %+v", rs)
	}
	olga.shoot("restrict")
	msg, ok := olga.submit(`.restrict-form button.primary`)
	m := restrictionMsg.FindStringSubmatch(msg)
	if !ok || m == nil {
		t.Fatalf("restricting from the form: %q", msg)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if took, ok := waitUntil(5*time.Second, 50*time.Millisecond, func() bool {
		return refused(t.Context(), c1, lab.UpstreamV4) && refused(t.Context(), c1, lab.UpstreamV6)
	}); !ok {
		t.Fatalf("client 1 still connects %v after the console restricted it", took)
	}
	checkReach(t, false, c1)
	checkReach(t, true, c2)
	olga.open("/")
	if now := olga.text(fmt.Sprintf("#r%d", id)); !strings.Contains(now, device(c1)) || !strings.Contains(now, "olga") || !strings.Contains(now, "left") {
		t.Errorf("the Now page shows restriction %d as:\n%s", id, now)
	}

	// Extend it by an hour, then lift it, each with a reason.
	before, err := g.api.Restriction(t.Context(), restrictionID(id))
	if err != nil {
		t.Fatal(err)
	}
	olga.do("opening the extend form",
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#r%d details.extend summary", id))),
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#r%d details.extend input[name="reason"]`, id)), "console: second complaint"))
	if msg, ok := olga.submit(fmt.Sprintf("#r%d details.extend button", id)); !ok {
		t.Fatalf("extending: %s", msg)
	}
	after, err := g.api.Restriction(t.Context(), restrictionID(id))
	if err != nil || after.End.Sub(before.End) != time.Hour {
		t.Fatalf("after extending by 1 hour: end %v → %v (%v)", before.End, after.End, err)
	}
	olga.shoot("now")
	olga.do("opening the lift form",
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#r%d details.lift summary", id))),
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#r%d details.lift input[name="reason"]`, id)), "console: resolved"))
	if msg, ok := olga.submit(fmt.Sprintf("#r%d details.lift button", id)); !ok {
		t.Fatalf("lifting: %s", msg)
	}
	if took, ok := waitUntil(5*time.Second, 50*time.Millisecond, func() bool {
		return reaches(t.Context(), c1, lab.UpstreamV4) && reaches(t.Context(), c1, lab.UpstreamV6)
	}); !ok {
		t.Fatalf("client 1 still cut off %v after the console lifted its restriction", took)
	}
	olga.open("/accountability?operator=olga#audit")
	audit := olga.text("#audit")
	for _, want := range []string{"restriction.created", "restriction.extended", "console: second complaint", "restriction.lifted", "console: resolved"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit view of olga's actions lacks %q:\n%s", want, audit)
		}
	}
	if chain := olga.text(".chain"); !strings.Contains(chain, "Audit log intact") {
		t.Errorf("the audit view's chain status says:\n%s", chain)
	}
	olga.open("/accountability")
	olga.shoot("accountability")

	// A week needs a second operator: pending, not enforced, until bob
	// approves it.
	olga.open("/restrict")
	olga.do("filling the Restrict form for a week",
		chromedp.SendKeys(chromedp.CSS(`input[name="subject"]`), device(c2)),
		chromedp.Click(chromedp.CSS(`input[name="for"][value="1w"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "console: repeated abuse"))
	msg, ok = olga.submit(`.restrict-form button.primary`)
	if m = restrictionMsg.FindStringSubmatch(msg); !ok || m == nil || !strings.Contains(msg, "waits for a second operator") {
		t.Fatalf("restricting for a week: %q, want it to wait for a second operator", msg)
	}
	pending, _ := strconv.ParseInt(m[1], 10, 64)
	checkReach(t, true, c2)
	bob := &consoleTab{t: t, ctx: newTab(), base: g.APIURL()}
	bob.signIn("bob", pw["bob"])
	bob.open("/")
	bob.do("filling the approval",
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#a%d form[action$="/approve"] input[name="reason"]`, pending)), "console: reviewed"))
	if msg, ok := bob.submit(fmt.Sprintf(`#a%d form[action$="/approve"] button`, pending)); !ok {
		t.Fatalf("bob approving: %s", msg)
	}
	if took, ok := waitUntil(5*time.Second, 50*time.Millisecond, func() bool {
		return refused(t.Context(), c2, lab.UpstreamV4) && refused(t.Context(), c2, lab.UpstreamV6)
	}); !ok {
		t.Fatalf("client 2 still connects %v after bob approved", took)
	}

	// Client 2 asks from its notice page; olga answers from the console;
	// the answer shows on the client's page.
	if p := postAppeal(t, c2, noticeURL(lab.LANV4, "/appeal"), "Why a whole week?", nil); p.err != nil || p.status != 303 {
		t.Fatalf("client 2 appealing: %s", p)
	}
	olga.open("/")
	_, as := g.appeals()
	if len(as) != 1 {
		t.Fatalf("appeals: %+v", as)
	}
	olga.do("filling the answer",
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#appeal%d textarea[name="text"]`, as[0].ID)), "Until the review on Friday."))
	if msg, ok := olga.submit(fmt.Sprintf(`#appeal%d button`, as[0].ID)); !ok {
		t.Fatalf("answering: %s", msg)
	}
	if page := get(t, c2, noticeURL(lab.LANV4, "/")); !strings.Contains(page.body, "Until the review on Friday.") {
		t.Errorf("client 2's notice page lacks the answer: %s", page)
	}

	// A post without the page's CSRF token, from olga's own signed-in
	// browser, is refused and lifts nothing; the API ignores the session.
	forged := fmt.Sprintf(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = "/restrictions/%d/lift";
		const i = document.createElement("input"); i.name = "reason"; i.value = "forged"; f.append(i);
		document.body.dataset.old = "1"; document.body.append(f); f.submit(); return null })()`, pending)
	olga.do("posting a form without the CSRF token",
		discard(chromedp.Evaluate[any](forged)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-old]) main")))
	if h1, body := olga.text("h1"), olga.text("main"); h1 != "403 Forbidden" || !strings.Contains(body, "CSRF token") {
		t.Errorf("a lift without the CSRF token shows %q: %q, want 403 saying why", h1, body)
	}
	if r, err := g.api.Restriction(t.Context(), restrictionID(pending)); err != nil || !r.Lifted.IsZero() || r.StatusAt(time.Now()) != curfew.StatusActive {
		t.Errorf("after the forged lift: %+v, %v; want it active", r, err)
	}
	checkReach(t, false, c2)
	resp, err := chromedp.RunResponse(olga.ctx, chromedp.Navigate(g.APIURL()+"/api/v1/restrictions"))
	if err != nil || resp.Status != 401 {
		t.Errorf("GET /api/v1/restrictions with a console session = %v (%v), want 401: the API takes bearer tokens only", resp, err)
	}

	// Every page, as a viewer: everything shows, nothing changes.
	vera := &consoleTab{t: t, ctx: newTab(), base: g.APIURL()}
	vera.signIn("vera", pw["vera"])
	controls := `Array.from(document.querySelectorAll("form[method=post]")).map(f => f.getAttribute("action"))` +
		`.filter(a => a != "/logout" && a != "/prefs").length + document.querySelectorAll("details.act, button.danger").length`
	for _, p := range []struct{ path, name, want string }{
		{"/", "", device(c2)},
		{"/restrict", "", "see everything but change nothing"},
		{"/people", "people", "alice laptop"},
		{"/schedules", "schedules", "Next window"},
		{"/accountability", "", "Until the review on Friday."},
		{"/report", "report", "Transparency report"},
		{"/health", "health", "in sync with the store"},
	} {
		vera.open(p.path)
		if n := evalIn[int](vera, controls); n != 0 {
			t.Errorf("viewer: %s has %d controls that change something", p.path, n)
		}
		if body := vera.text("main"); !strings.Contains(body, p.want) {
			t.Errorf("viewer: %s lacks %q:\n%s", p.path, p.want, body)
		}
		if p.name != "" {
			vera.shoot(p.name)
		}
	}
}

// TestConsoleQuarantine drives the Seen page in headless Chromium against
// a lab gateway that quarantines unknown devices: client 1, unregistered,
// is held and listed as quarantined; vera, a viewer, finds no Approve; olga
// approves it to alice from the console, and client 1 reaches the
// internet over IPv4 and IPv6, with device.approved in the audit view.
func TestConsoleQuarantine(t *testing.T) {
	t.Parallel()
	path := browsertest.Path(t)
	g := newQuarantined(t)
	c1 := g.Clients[0]
	g.mustCurfew("person", "add", "alice")
	checkHeld(t, c1, c1.MAC.String())
	pw := map[string]string{}
	for _, op := range []struct{ name, role string }{{"olga", "operator"}, {"vera", "viewer"}} {
		pw[op.name] = strings.TrimSpace(g.mustCurfew("operator", "add", op.name, "--role", op.role))
	}
	newTab := chromium(t, path)
	row := "#seen-" + strings.ReplaceAll(c1.MAC.String(), ":", `\:`)

	vera := &consoleTab{t: t, ctx: newTab(), base: g.APIURL()}
	vera.signIn("vera", pw["vera"])
	if _, ok := waitUntil(10*time.Second, 200*time.Millisecond, func() bool {
		vera.open("/seen")
		return evalIn[int](vera, fmt.Sprintf("document.querySelectorAll(%q).length", row)) == 1
	}); !ok {
		t.Fatalf("the Seen page never lists client 1 (%s):\n%s", c1.MAC, vera.text("main"))
	}
	if got := vera.text(row); !strings.Contains(got, "quarantined") {
		t.Errorf("client 1's row on the Seen page does not say it is quarantined:\n%s", got)
	}
	if n := evalIn[int](vera, `document.querySelectorAll("form[action$='/approve']").length`); n != 0 {
		t.Errorf("the viewer's Seen page has %d Approve forms", n)
	}

	olga := &consoleTab{t: t, ctx: newTab(), base: g.APIURL()}
	olga.signIn("olga", pw["olga"])
	olga.open("/seen")
	olga.shoot("seen")
	olga.do("naming the owner", chromedp.SendKeys(chromedp.CSS(row+` input[name="owner"]`), "alice"))
	if msg, ok := olga.submit(row + " button"); !ok || !strings.Contains(msg, "Approved device "+c1.MAC.String()) {
		t.Fatalf("approving client 1 from the console: %q", msg)
	}
	waitCut(t, c1, false, 5*time.Second, "approval in the console")
	olga.open("/accountability?operator=olga#audit")
	if audit := olga.text("#audit"); !strings.Contains(audit, "device.approved") {
		t.Errorf("the audit view of olga's actions lacks device.approved:\n%s", audit)
	}
}
