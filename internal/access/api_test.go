package access_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

// server is the API on a real HTTP server, authenticating with a real
// Registry over SQLite. Its Service answers only GET /api/v1/persons.
type server struct {
	*fixture
	url string
	hc  *http.Client
}

func newServer(t *testing.T) *server {
	t.Helper()
	f := newFixture(t, cheap)
	svc := &apitest.FakeService{
		PersonsFunc: func(ctx context.Context) ([]*curfew.Person, error) {
			if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
				return nil, err
			}
			return []*curfew.Person{}, nil
		},
	}
	h, err := api.NewHandler(&api.HandlerConfig{Service: svc, Auth: f.reg, Accounts: f.reg,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{fixture: f, url: srv.URL, hc: srv.Client()}
}

// get sends GET path with the bearer token secret (none if empty) and
// returns the status, the Retry-After header and the body.
func (s *server) get(t *testing.T, path, secret string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func (s *server) client(t *testing.T, secret string) *api.Client {
	t.Helper()
	c, err := api.NewClient(s.url, secret, s.hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAPITokens checks, through the HTTP server, that a request needs a
// live token of an enabled operator, and that revoking the token or
// disabling the operator refuses the very next request.
func TestAPITokens(t *testing.T) {
	s := newServer(t)
	ctx := t.Context()
	admin := s.client(t, s.root)
	olga, err := admin.CreateToken(ctx, "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	vic, err := admin.CreateToken(ctx, "vic", curfew.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{s.root, olga, vic} {
		if status, _, body := s.get(t, "/api/v1/persons", secret); status != http.StatusOK {
			t.Fatalf("GET /api/v1/persons with a live token = %d %s", status, body)
		}
	}
	if status, _, _ := s.get(t, "/api/v1/persons", ""); status != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", status)
	}
	if status, _, _ := s.get(t, "/api/v1/persons", "cft_"+strings.Repeat("A", 43)); status != http.StatusUnauthorized {
		t.Errorf("an unknown token = %d, want 401", status)
	}

	if _, err := admin.RevokeToken(ctx, "olga"); err != nil {
		t.Fatal(err)
	}
	if status, _, body := s.get(t, "/api/v1/persons", olga); status != http.StatusUnauthorized || !strings.Contains(body, `"unauthenticated"`) {
		t.Errorf("the request after revoking = %d %s, want 401", status, body)
	}
	if _, err := admin.DisableOperator(ctx, "vic", "left the school"); err != nil {
		t.Fatal(err)
	}
	if status, _, body := s.get(t, "/api/v1/persons", vic); status != http.StatusUnauthorized {
		t.Errorf("the request after disabling its operator = %d %s, want 401", status, body)
	}
	if status, _, _ := s.get(t, "/api/v1/persons", s.root); status != http.StatusOK {
		t.Errorf("root after the others were cut off = %d, want 200", status)
	}

	// The last admin cannot be disabled, nor lose its last way in: 403,
	// and nothing changes.
	_, err = admin.DisableOperator(ctx, "root", "leaving")
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || !strings.Contains(apiErr.Message, "last admin") {
		t.Errorf("disabling the last admin = %v, want 403 naming the last admin", err)
	}
	if _, err := admin.RevokeToken(ctx, "root"); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("revoking the last admin's token = %v, want 403", err)
	}
	if status, _, _ := s.get(t, "/api/v1/persons", s.root); status != http.StatusOK {
		t.Errorf("root after the refused calls = %d, want 200", status)
	}
}

// TestAPIListsNoSecret checks that what the API lists of operators and
// tokens holds no secret, and that a token lists as the operator it acts
// as.
func TestAPIListsNoSecret(t *testing.T) {
	s := newServer(t)
	ctx := t.Context()
	admin := s.client(t, s.root)
	_, password, err := admin.AddOperator(ctx, "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	olga, err := admin.CreateToken(ctx, "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := admin.ResetPassword(ctx, "olga")
	if err != nil {
		t.Fatal(err)
	}
	_, _, tokens := s.get(t, "/api/v1/tokens", olga)
	_, _, operators := s.get(t, "/api/v1/operators", olga)
	for what, secret := range map[string]string{"root's token": s.root, "olga's token": olga, "olga's password": password, "olga's reset password": reset} {
		if strings.Contains(tokens+operators, secret) || strings.Contains(tokens+operators, secret[4:]) {
			t.Errorf("the lists show %s:\n%s\n%s", what, tokens, operators)
		}
	}
	var ts []api.Token
	if err := json.Unmarshal([]byte(tokens), &ts); err != nil || len(ts) != 2 || ts[0].Name != "olga" || ts[0].Status != "active" || ts[0].CreatedBy != "root" {
		t.Errorf("GET /api/v1/tokens = %s (%v)", tokens, err)
	}
	var ops []api.Operator
	if err := json.Unmarshal([]byte(operators), &ops); err != nil || len(ops) != 2 || ops[0].PasswordState != "one-time" || ops[1].PasswordState != "none" {
		t.Errorf("GET /api/v1/operators = %s (%v)", operators, err)
	}
}

// TestAPIRateLimit checks, through the HTTP server, that a source that
// keeps failing gets 429 with Retry-After, even with a valid token, and
// gets in again once it has waited that long.
func TestAPIRateLimit(t *testing.T) {
	s := newServer(t)
	for i := range 10 {
		if status, _, _ := s.get(t, "/api/v1/persons", "cft_guess"+strconv.Itoa(i)); status != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i+1, status)
		}
	}
	status, retry, body := s.get(t, "/api/v1/persons", s.root)
	if status != http.StatusTooManyRequests || retry != "6" || !strings.Contains(body, `"rate_limited"`) {
		t.Fatalf("a valid token after ten guesses = %d, Retry-After %q, %s; want 429 and 6", status, retry, body)
	}
	if status, _, _ := s.get(t, "/api/v1/persons", "cft_guess"); status != http.StatusTooManyRequests {
		t.Errorf("a guess while limited = %d, want 429", status)
	}
	if _, err := s.client(t, s.root).Persons(t.Context()); !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("the client while limited = %v, want ErrRateLimited", err)
	}
	wait, _ := strconv.Atoi(retry)
	s.clock.Advance(time.Duration(wait) * time.Second)
	if status, _, body := s.get(t, "/api/v1/persons", s.root); status != http.StatusOK {
		t.Errorf("after Retry-After = %d %s, want 200", status, body)
	}
	// The refusals are in the audit log too, once written.
	s.reg.Flush(t.Context())
	refused := 0
	for _, e := range s.failureEntries(t) {
		refused += int(e.After.Refused)
	}
	if refused != 3 {
		t.Errorf("audit counts %d refused requests, want 3", refused)
	}
}
