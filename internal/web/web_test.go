package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

const password = "correct horse battery"

// TestLogin checks the contract of POST /login: a right name and password
// get a session cookie that is HttpOnly, SameSite=Strict and expires; a
// wrong one gets 401 and no cookie; a one-time password leads to choosing
// one before any other page.
func TestLogin(t *testing.T) {
	f := newFixture(t)
	pw := f.operator(t, "olga", curfew.RoleOperator)
	b := f.browser(t)

	if a := b.get("/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/login" {
		t.Errorf("GET / without a session = %d to %q, want 303 to /login", a.status, a.header.Get("Location"))
	}
	a := b.post("/login", url.Values{"name": {"olga"}, "password": {"wrong password!"}})
	if a.status != http.StatusUnauthorized || a.header.Get("Set-Cookie") != "" || !strings.Contains(a.body, "Wrong name or password.") {
		t.Errorf("POST /login with a wrong password = %d, Set-Cookie %q; want 401, no cookie, and why", a.status, a.header.Get("Set-Cookie"))
	}

	a = b.post("/login", url.Values{"name": {"olga"}, "password": {pw}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/password" {
		t.Fatalf("POST /login with the one-time password = %d to %q, want 303 to /password", a.status, a.header.Get("Location"))
	}
	cookie := a.header.Get("Set-Cookie")
	for _, want := range []string{"curfew_session=", "HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if a := b.get("/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/password" {
		t.Errorf("GET / before choosing a password = %d to %q, want 303 to /password", a.status, a.header.Get("Location"))
	}
	a = b.post("/password", url.Values{"csrf": {b.csrf("/password")}, "current": {pw}, "new": {"short"}, "confirm": {"short"}})
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "at least 12 characters") {
		t.Errorf("POST /password with a short one = %d, want 400 saying why", a.status)
	}
	a = b.post("/password", url.Values{"csrf": {b.csrf("/password")}, "current": {pw}, "new": {password}, "confirm": {password}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("POST /password = %d: %s", a.status, a.body)
	}
	if a := b.get("/"); a.status != http.StatusOK || !strings.Contains(a.body, "Password changed.") {
		t.Errorf("GET / after choosing a password = %d, want the Now page saying the password changed", a.status)
	}

	// A new browser signs in with the chosen password, straight to the
	// page it asked for.
	b2 := f.browser(t)
	a = b2.post("/login", url.Values{"name": {"olga"}, "password": {password}, "next": {"/people"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/people" {
		t.Errorf("POST /login = %d to %q, want 303 to /people", a.status, a.header.Get("Location"))
	}
	a = b2.post("/login", url.Values{"name": {"olga"}, "password": {password}, "next": {"//evil.example/"}})
	if a.header.Get("Location") != "/" {
		t.Errorf("POST /login with next //evil.example/ goes to %q, want /", a.header.Get("Location"))
	}
}

// TestCSRF checks that a state-changing request without the page's CSRF
// token, or with another session's, gets 403 and changes nothing, and
// that a cross-origin one is refused even with the token.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	other := f.browser(t)
	other.signIn("bob", f.operator(t, "bob", curfew.RoleOperator), password)

	form := url.Values{"subject": {"device:02:00:00:00:00:01"}, "mode": {"cutoff"}, "for": {"1h"}, "reason": {"forged"}}
	for _, tt := range []struct {
		name   string
		csrf   string
		header http.Header
	}{
		{"no token", "", nil},
		{"wrong token", "not-the-token", nil},
		{"another session's token", other.csrf("/restrict"), nil},
		{"cross-origin with the token", b.csrf("/restrict"), http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://evil.example"}}},
	} {
		fm := url.Values{}
		for k, v := range form {
			fm[k] = v
		}
		if tt.csrf != "" {
			fm.Set("csrf", tt.csrf)
		}
		a := b.do(http.MethodPost, "/restrict", fm, tt.header)
		if a.status != http.StatusForbidden {
			t.Errorf("%s: POST /restrict = %d, want 403", tt.name, a.status)
		}
	}
	rs, err := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{All: true})
	if err != nil || len(rs) != 0 {
		t.Fatalf("after forged posts: %d restrictions (%v), want none", len(rs), err)
	}
	if got := f.mem.String(); got != "" {
		t.Errorf("after forged posts the enforcer holds:\n%s", got)
	}

	form.Set("csrf", b.csrf("/restrict"))
	form.Set("reason", "from the console")
	if a := b.post("/restrict", form); a.status != http.StatusSeeOther {
		t.Fatalf("POST /restrict with the token = %d: %s", a.status, a.body)
	}
	rs, _ = f.eng.Restrictions(f.admin, curfew.RestrictionFilter{})
	if len(rs) != 1 || rs[0].Author != "olga" || rs[0].Reason != "from the console" {
		t.Fatalf("after the real post: %+v, want one restriction by olga", rs)
	}
	if !strings.Contains(f.mem.String(), "02:00:00:00:00:01") {
		t.Errorf("the enforcer does not hold the device:\n%s", f.mem.String())
	}
}

var postForm = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// TestViewerChangesNothing signs in as a viewer: every page shows, none
// has a form that changes anything (signing out and the language are the
// viewer's own), and a post with a valid token is refused.
func TestViewerChangesNothing(t *testing.T) {
	f := newFixture(t)
	if _, err := f.eng.Restrict(f.admin, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "r", For: 3600e9}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.AddPerson(f.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn("vera", f.operator(t, "vera", curfew.RoleViewer), password)
	for _, path := range []string{"/", "/restrict", "/people", "/accountability", "/report", "/health"} {
		a := b.get(path)
		if a.status != http.StatusOK {
			t.Errorf("viewer: GET %s = %d, want 200", path, a.status)
			continue
		}
		for _, m := range postForm.FindAllStringSubmatch(a.body, -1) {
			if m[1] != "/logout" && m[1] != "/prefs" {
				t.Errorf("viewer: %s has a form posting to %s", path, m[1])
			}
		}
	}
	if a := b.get("/"); !strings.Contains(a.body, "device:02:00:00:00:00:01") {
		t.Errorf("viewer: the Now page does not show the restriction")
	}
	csrf := b.csrf("/")
	a := b.post("/restrictions/1/lift", url.Values{"csrf": {csrf}, "reason": {"viewer tries"}})
	if a.status != http.StatusForbidden {
		t.Errorf("viewer: POST lift = %d, want 403", a.status)
	}
	if r, _ := f.eng.Restriction(f.admin, 1); !r.Lifted.IsZero() {
		t.Errorf("viewer lifted restriction 1")
	}
}

// TestDisabledOperatorSignedOut disables an operator while signed in: its
// next request ends the session.
func TestDisabledOperatorSignedOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	if a := b.get("/"); a.status != http.StatusOK {
		t.Fatalf("GET / = %d", a.status)
	}
	if _, err := f.acc.DisableOperator(f.admin, "olga", "left"); err != nil {
		t.Fatal(err)
	}
	a := b.get("/")
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/login") {
		t.Errorf("GET / after disabling = %d to %q, want 303 to /login", a.status, a.header.Get("Location"))
	}
	if a := b.post("/login", url.Values{"name": {"olga"}, "password": {password}}); a.status != http.StatusUnauthorized {
		t.Errorf("POST /login as a disabled operator = %d, want 401", a.status)
	}
}

// TestPages renders every page for an admin with something on each, in
// English and in Spanish, with the security headers.
func TestPages(t *testing.T) {
	f := newFixture(t)
	for _, s := range []string{"device:02:00:00:00:00:01", "ip:198.51.100.7"} {
		if _, err := f.eng.Restrict(f.admin, curfew.RestrictRequest{Subject: s, Reason: "r", Notice: "Back soon.", For: 3600e9}); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser(t)
	b.signIn("ada", f.operator(t, "ada", curfew.RoleAdmin), password)
	for _, tt := range []struct{ path, en, es string }{
		{"/", "Restrictions in force, scheduled and pending", "Restricciones en vigor, programadas y pendientes"},
		{"/restrict", "Public notice (shown to the person, optional)", "Aviso público"},
		{"/people", "Registered devices", "Dispositivos registrados"},
		{"/accountability", "Audit log intact", "Registro de auditoría íntegro"},
		{"/report?from=2020-01-01&to=2099-12-31", "Transparency report", "Informe de transparencia"},
		{"/health", "This console runs without a gateway", "Esta consola"},
	} {
		a := b.get(tt.path)
		if a.status != http.StatusOK || !strings.Contains(a.body, tt.en) {
			t.Errorf("GET %s = %d, want 200 with %q", tt.path, a.status, tt.en)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
		a = b.do(http.MethodGet, tt.path, nil, http.Header{"Accept-Language": {"es-MX,es;q=0.9"}})
		if a.status != http.StatusOK || !strings.Contains(a.body, tt.es) || !strings.Contains(a.body, `<html lang="es">`) {
			t.Errorf("GET %s in Spanish = %d, want 200 with %q", tt.path, a.status, tt.es)
		}
	}
}

// TestRestrictPreview previews a person's restriction: the page names the
// person's devices and what the notice page will say, and nothing is
// applied.
func TestRestrictPreview(t *testing.T) {
	f := newFixture(t)
	if _, err := f.eng.AddPerson(f.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	mac, _ := curfew.ParseMAC("02:00:00:00:00:0a")
	if _, err := f.eng.AddDevice(f.admin, &curfew.Device{MAC: mac, Name: "alice phone", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	form := url.Values{"csrf": {b.csrf("/restrict")}, "subject": {"person:alice"}, "mode": {"cutoff"}, "for": {"1d"},
		"reason": {"abuse report"}, "notice": {"Back on Friday."}}
	a := b.post("/restrict/preview", form)
	for _, want := range []string{"Preview: nothing is applied yet", "02:00:00:00:00:0a", "alice phone", "Back on Friday.", "Devices registered later"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if rs, _ := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{All: true}); len(rs) != 0 {
		t.Errorf("preview created %d restrictions", len(rs))
	}
	form.Set("for", "")
	form.Set("reason", "")
	a = b.post("/restrict/preview", form)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "missing duration or end time") {
		t.Errorf("preview without a duration = %d, want 400 saying what is missing", a.status)
	}
}

// TestAuditView pages through the audit log, newest first, and filters
// it by operator and subject.
func TestAuditView(t *testing.T) {
	f := newFixture(t)
	for i := range 150 {
		if _, err := f.eng.AddPerson(f.admin, fmt.Sprintf("p%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	rows := regexp.MustCompile(`<tr><td data-label="#">(\d+)</td>`)
	seqs := func(path string) []string {
		t.Helper()
		a := b.get(path)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, a.status)
		}
		var out []string
		for _, m := range rows.FindAllStringSubmatch(a.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	first, second := seqs("/accountability"), seqs("/accountability?page=2")
	cp, err := f.eng.AuditCheckpoint(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 100 || first[0] != strconv.FormatInt(cp.Seq, 10) || first[99] != strconv.FormatInt(cp.Seq-99, 10) {
		t.Errorf("page 1 = %d events, %v … %v; want 100, newest (%d) first", len(first), first[:1], first[len(first)-1:], cp.Seq)
	}
	if len(second) != int(cp.Seq)-100 || second[len(second)-1] != "1" {
		t.Errorf("page 2 = %d events ending %v, want %d ending with event 1", len(second), second[len(second)-1:], cp.Seq-100)
	}
	mine := seqs("/accountability?operator=olga")
	if len(mine) != 1 {
		t.Errorf("olga's events = %v, want her password change alone", mine)
	}
	if a := b.get("/accountability?subject=p007"); !strings.Contains(a.body, "p007") || strings.Contains(a.body, "p008") {
		t.Errorf("filtering by subject p007 shows other events")
	}
	if a := b.get("/accountability?from=yesterday"); a.status != http.StatusBadRequest || !strings.Contains(a.body, "from: ") {
		t.Errorf("a malformed from = %d, want 400 saying what is wrong", a.status)
	}
}

// TestRestrictThrottle restricts a device to a rate from the console: the
// restriction is made with the rate and the Now page shows it; a form
// without a rate is refused with what is missing, and makes nothing.
func TestRestrictThrottle(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)
	form := url.Values{"csrf": {b.csrf("/restrict")}, "subject": {"device:02:00:00:00:00:0b"}, "mode": {"throttle"}, "for": {"1h"},
		"reason": {"slow lane"}}
	a := b.post("/restrict", form)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "missing rate") {
		t.Errorf("throttle without a rate = %d, want 400 saying the rate is missing", a.status)
	}
	if rs, _ := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{All: true}); len(rs) != 0 {
		t.Fatalf("a refused form made %d restrictions", len(rs))
	}
	form.Set("csrf", b.csrf("/restrict"))
	form.Set("rate", "2mbit")
	b.post("/restrict", form)
	rs, _ := f.eng.Restrictions(f.admin, curfew.RestrictionFilter{All: true})
	if len(rs) != 1 || rs[0].Mode != curfew.ModeThrottle || rs[0].Rate != 2_000_000 {
		t.Fatalf("restrictions = %v, want one throttle at 2mbit", rs)
	}
	if a := b.get("/"); !strings.Contains(a.body, "throttle 2mbit</span>") {
		t.Errorf("Now page lacks the throttle and its rate")
	}
}
