package web_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
	"github.com/curfew/curfew/internal/web"
)

// fixture is a console over a real engine, store and registry: SQLite in
// memory, the Memory enforcer, cheap password hashes.
type fixture struct {
	eng   *engine.Engine
	db    *sqlite.DB
	acc   *access.Registry
	mem   *enforce.Memory
	srv   *httptest.Server
	admin context.Context // acts as the admin "root"
}

var cheap = access.Argon2Params{Time: 1, Memory: 64, Threads: 1}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem := &enforce.Memory{}
	eng, err := engine.New(&engine.Config{
		Store: db, Backends: []enforce.Backend{mem}, Logger: logger, VerifyInterval: -1,
		GatewayAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.50.1")}, nil },
		AuditKey:     ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)),
	})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := access.New(&access.Config{Store: db, Logger: logger, Argon2: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Bootstrap(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	con, err := web.New(&web.Config{Service: eng, Accounts: acc, Login: acc, Logger: logger, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con)
	t.Cleanup(func() {
		srv.Close()
		acc.Close()
		eng.Close()
		db.Close()
	})
	return &fixture{eng: eng, db: db, acc: acc, mem: mem, srv: srv,
		admin: curfew.WithActor(ctx, curfew.Actor{Name: "root", Role: curfew.RoleAdmin})}
}

// operator adds an operator with role and returns its one-time password.
func (f *fixture) operator(t testing.TB, name string, role curfew.Role) string {
	t.Helper()
	_, pw, err := f.acc.AddOperator(f.admin, name, role)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// browser is an HTTP client with its own cookies, as one browser is; it
// follows no redirect, so tests see them.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: f.srv.URL, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is one response, read.
type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header http.Header) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(raw)}
}

func (b *browser) get(path string) answer { return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) answer {
	return b.do(http.MethodPost, path, form, nil)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	a := b.get(path)
	m := csrfField.FindStringSubmatch(a.body)
	if m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token in the page", path, a.status)
	}
	return m[1]
}

// signIn signs in as name with its one-time password and chooses
// password instead, as an operator does at first sign-in.
func (b *browser) signIn(name, oneTime, password string) {
	b.t.Helper()
	a := b.post("/login", url.Values{"name": {name}, "password": {oneTime}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/password" {
		b.t.Fatalf("POST /login as %s = %d to %q, want 303 to /password", name, a.status, a.header.Get("Location"))
	}
	a = b.post("/password", url.Values{"csrf": {b.csrf("/password")}, "current": {oneTime}, "new": {password}, "confirm": {password}})
	if a.status != http.StatusSeeOther {
		b.t.Fatalf("POST /password as %s = %d: %s", name, a.status, a.body)
	}
}
