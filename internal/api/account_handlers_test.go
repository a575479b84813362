package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

func sampleOperators() []*curfew.Operator {
	return []*curfew.Operator{
		{Name: "olga", Role: curfew.RoleOperator, Created: now, CreatedBy: "root", Password: curfew.PasswordOneTime},
		{Name: "vic", Role: curfew.RoleViewer, Created: now, CreatedBy: "root", Password: curfew.PasswordSet,
			Disabled: now.Add(time.Hour), DisabledBy: "root", DisableReason: "left"},
	}
}

func sampleTokens() []*curfew.Token {
	return []*curfew.Token{
		{Name: "olga", Role: curfew.RoleOperator, Created: now, CreatedBy: "root"},
		{Name: "root", Role: curfew.RoleAdmin, Created: now, CreatedBy: "curfew", Revoked: now.Add(time.Minute), RevokedBy: "root"},
		{Name: "vic", Role: curfew.RoleViewer, Created: now, CreatedBy: "root", OperatorDisabled: true},
	}
}

func TestOperatorRoutes(t *testing.T) {
	var got []string
	acc := &apitest.FakeAccounts{
		OperatorsFunc: func(ctx context.Context) ([]*curfew.Operator, error) { return sampleOperators(), nil },
		AddOperatorFunc: func(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
			got = append(got, "add "+name+" "+string(role))
			return &curfew.Operator{Name: name, Role: role, Created: now, CreatedBy: "root", Password: curfew.PasswordOneTime}, "one-time-pw", nil
		},
		DisableOperatorFunc: func(ctx context.Context, name, reason string) (*curfew.Operator, error) {
			got = append(got, "disable "+name+" "+reason)
			return sampleOperators()[1], nil
		},
		ResetPasswordFunc: func(ctx context.Context, name string) (string, error) {
			got = append(got, "reset "+name)
			return "new-pw", nil
		},
	}
	h := newAccountsHandler(t, acc)

	status, body := call(t, h, "GET", "/api/v1/operators", "viewer-secret", "")
	want := `[{"name":"olga","role":"operator","status":"active","password_state":"one-time","created_at":"2026-03-01T21:00:00Z","created_by":"root","disabled_at":null,"disabled_by":"","disable_reason":""},` +
		`{"name":"vic","role":"viewer","status":"disabled","password_state":"set","created_at":"2026-03-01T21:00:00Z","created_by":"root","disabled_at":"2026-03-01T22:00:00Z","disabled_by":"root","disable_reason":"left"}]`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/operators = %d %s\nwant %s", status, body, want)
	}
	status, body = call(t, h, "POST", "/api/v1/operators", "admin-secret", `{"name":"dave","role":"viewer"}`)
	want = `{"operator":{"name":"dave","role":"viewer","status":"active","password_state":"one-time","created_at":"2026-03-01T21:00:00Z","created_by":"root","disabled_at":null,"disabled_by":"","disable_reason":""},"password":"one-time-pw"}`
	if status != http.StatusCreated || compact(t, body) != want {
		t.Errorf("POST /api/v1/operators = %d %s\nwant %s", status, body, want)
	}
	if status, body := call(t, h, "POST", "/api/v1/operators", "admin-secret", `{"name":"dave","role":"king"}`); status != 400 || !strings.Contains(body, "king") {
		t.Errorf("POST /api/v1/operators with an unknown role = %d %s, want 400 naming it", status, body)
	}
	if status, body := call(t, h, "POST", "/api/v1/operators/vic/disable", "admin-secret", `{"reason":"left"}`); status != 200 || !strings.Contains(body, `"status": "disabled"`) {
		t.Errorf("POST /api/v1/operators/vic/disable = %d %s", status, body)
	}
	status, body = call(t, h, "POST", "/api/v1/operators/olga/password", "admin-secret", "")
	if want := `{"name":"olga","password":"new-pw"}`; status != 200 || compact(t, body) != want {
		t.Errorf("POST /api/v1/operators/olga/password = %d %s, want %s", status, body, want)
	}
	if diff := cmp.Diff([]string{"add dave viewer", "disable vic left", "reset olga"}, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestTokenRoutes(t *testing.T) {
	var revoked string
	acc := &apitest.FakeAccounts{
		TokensFunc: func(ctx context.Context) ([]*curfew.Token, error) { return sampleTokens(), nil },
		RevokeTokenFunc: func(ctx context.Context, name string) (*curfew.Token, error) {
			revoked = name
			return sampleTokens()[1], nil
		},
	}
	h := newAccountsHandler(t, acc)
	status, body := call(t, h, "GET", "/api/v1/tokens", "viewer-secret", "")
	want := `[{"name":"olga","role":"operator","status":"active","created_at":"2026-03-01T21:00:00Z","created_by":"root","revoked_at":null,"revoked_by":""},` +
		`{"name":"root","role":"admin","status":"revoked","created_at":"2026-03-01T21:00:00Z","created_by":"curfew","revoked_at":"2026-03-01T21:01:00Z","revoked_by":"root"},` +
		`{"name":"vic","role":"viewer","status":"disabled","created_at":"2026-03-01T21:00:00Z","created_by":"root","revoked_at":null,"revoked_by":""}]`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/tokens = %d %s\nwant %s", status, body, want)
	}
	if status, body := call(t, h, "POST", "/api/v1/tokens/root/revoke", "admin-secret", ""); status != 200 || revoked != "root" || !strings.Contains(body, `"revoked"`) {
		t.Errorf("POST /api/v1/tokens/root/revoke = %d %s (revoked %q)", status, body, revoked)
	}
}

// limitedAuth refuses every request as a rate-limited source would be,
// and records the source addresses it is given.
type limitedAuth struct {
	mu   sync.Mutex
	srcs []netip.Addr
}

func (a *limitedAuth) Authenticate(_ context.Context, src netip.Addr, _ string) (curfew.Actor, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.srcs = append(a.srcs, src)
	return curfew.Actor{}, &curfew.LimitError{Source: src.String(), Wait: 6200 * time.Millisecond}
}

// TestRateLimitedAnswer checks that a refusal for too many failures is a
// 429 with Retry-After in whole seconds, rounded up, and that the
// authenticator is told the connection's peer, not a header the client
// sets.
func TestRateLimitedAnswer(t *testing.T) {
	auth := &limitedAuth{}
	h, err := api.NewHandler(&api.HandlerConfig{Service: &apitest.FakeService{}, Auth: auth, Accounts: &apitest.FakeAccounts{},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/v1/devices", nil)
	req.RemoteAddr = "[::ffff:192.0.2.7]:40000"
	req.Header.Set("Authorization", "Bearer cft_x")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "7" {
		t.Errorf("limited request = %d, Retry-After %q; want 429 and 7", rec.Code, rec.Header().Get("Retry-After"))
	}
	if e := decodeError(t, rec.Body.String()); e.Code != "rate_limited" || !strings.Contains(e.Detail, "try again in 6s") {
		t.Errorf("limited request answered %+v", e)
	}
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.7")}; !cmp.Equal(want, auth.srcs, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
		t.Errorf("authenticator saw sources %v, want %v", auth.srcs, want)
	}
	_, err = newLimitedClient(t, h).Devices(t.Context())
	if !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("client error = %v, want ErrRateLimited", err)
	}
}

func newLimitedClient(t *testing.T, h http.Handler) *api.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(srv.URL, "cft_x", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAccountsClientRoundTrip(t *testing.T) {
	acc := &apitest.FakeAccounts{
		OperatorsFunc: func(ctx context.Context) ([]*curfew.Operator, error) { return sampleOperators(), nil },
		AddOperatorFunc: func(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
			return sampleOperators()[0], "one-time-pw", nil
		},
		DisableOperatorFunc: func(ctx context.Context, name, reason string) (*curfew.Operator, error) {
			return sampleOperators()[1], nil
		},
		ResetPasswordFunc: func(ctx context.Context, name string) (string, error) { return "new-pw", nil },
		CreateTokenFunc: func(ctx context.Context, name string, role curfew.Role) (string, error) {
			return "s3cret-" + name + "-" + string(role), nil
		},
		TokensFunc:      func(ctx context.Context) ([]*curfew.Token, error) { return sampleTokens(), nil },
		RevokeTokenFunc: func(ctx context.Context, name string) (*curfew.Token, error) { return sampleTokens()[1], nil },
	}
	srv := httptest.NewServer(newAccountsHandler(t, acc))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(srv.URL, "admin-secret", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if ops, err := c.Operators(ctx); err != nil || !cmp.Equal(sampleOperators(), ops) {
		t.Errorf("Operators() (-want +got):\n%s%v", cmp.Diff(sampleOperators(), ops), err)
	}
	if op, pw, err := c.AddOperator(ctx, "olga", curfew.RoleOperator); err != nil || pw != "one-time-pw" || !cmp.Equal(sampleOperators()[0], op) {
		t.Errorf("AddOperator() = %+v, %q, %v", op, pw, err)
	}
	if op, err := c.DisableOperator(ctx, "vic", "left"); err != nil || !cmp.Equal(sampleOperators()[1], op) {
		t.Errorf("DisableOperator() = %+v, %v", op, err)
	}
	if pw, err := c.ResetPassword(ctx, "olga"); err != nil || pw != "new-pw" {
		t.Errorf("ResetPassword() = %q, %v", pw, err)
	}
	if s, err := c.CreateToken(ctx, "dave", curfew.RoleViewer); err != nil || s != "s3cret-dave-viewer" {
		t.Errorf("CreateToken() = %q, %v", s, err)
	}
	if ts, err := c.Tokens(ctx); err != nil || !cmp.Equal(sampleTokens(), ts) {
		t.Errorf("Tokens() (-want +got):\n%s%v", cmp.Diff(sampleTokens(), ts), err)
	}
	if tok, err := c.RevokeToken(ctx, "root"); err != nil || !cmp.Equal(sampleTokens()[1], tok) {
		t.Errorf("RevokeToken() = %+v, %v", tok, err)
	}
}
