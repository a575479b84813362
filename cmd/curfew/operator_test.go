package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

func fakeOperators() []*curfew.Operator {
	return []*curfew.Operator{
		{Name: "olga", Role: curfew.RoleOperator, Created: now, CreatedBy: "root", Password: curfew.PasswordOneTime},
		{Name: "root", Role: curfew.RoleAdmin, Created: now, CreatedBy: "curfew", Password: curfew.PasswordNone},
		{Name: "vic", Role: curfew.RoleViewer, Created: now, CreatedBy: "root", Password: curfew.PasswordSet,
			Disabled: now.Add(time.Hour), DisabledBy: "root", DisableReason: "left the school"},
	}
}

func TestOperatorVerbs(t *testing.T) {
	var calls []string
	acc := &apitest.FakeAccounts{
		AddOperatorFunc: func(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
			calls = append(calls, fmt.Sprintf("add %s %s", name, role))
			return &curfew.Operator{Name: name, Role: role}, "ONETIMEPASSWORD", nil
		},
		OperatorsFunc: func(ctx context.Context) ([]*curfew.Operator, error) { return fakeOperators(), nil },
		DisableOperatorFunc: func(ctx context.Context, name, reason string) (*curfew.Operator, error) {
			calls = append(calls, fmt.Sprintf("disable %s %q", name, reason))
			if name == "root" {
				return nil, fmt.Errorf("%w: root is the last admin who can sign in; add another admin first", curfew.ErrForbidden)
			}
			return fakeOperators()[2], nil
		},
		ResetPasswordFunc: func(ctx context.Context, name string) (string, error) {
			calls = append(calls, "password "+name)
			return "NEWPASSWORD", nil
		},
	}
	h := newHarnessWith(t, &apitest.FakeService{}, acc)
	h.env["CURFEW_TOKEN"] = "admin-secret"

	if code, stdout, stderr := h.run("operator", "add", "dave", "--role", "viewer"); code != 0 || stdout != "ONETIMEPASSWORD\n" || stderr != "" {
		t.Errorf("operator add = %d %q %q, want the password alone", code, stdout, stderr)
	}
	code, stdout, stderr := h.run("operator", "list")
	want := `NAME  ROLE      STATUS    PASSWORD  CREATED               BY      DISABLED              REASON
olga  operator  active    one-time  2026-03-01 21:00 UTC  root    -                     -
root  admin     active    none      2026-03-01 21:00 UTC  curfew  -                     -
vic   viewer    disabled  set       2026-03-01 21:00 UTC  root    2026-03-01 22:00 UTC  left the school
`
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("operator list = %d %q\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	code, stdout, _ = h.run("operator", "list", "-o", "json")
	wantJSON := `[{"name":"olga","role":"operator","status":"active","password_state":"one-time","created_at":"2026-03-01T21:00:00Z","created_by":"root","disabled_at":null,"disabled_by":"","disable_reason":""},` +
		`{"name":"root","role":"admin","status":"active","password_state":"none","created_at":"2026-03-01T21:00:00Z","created_by":"curfew","disabled_at":null,"disabled_by":"","disable_reason":""},` +
		`{"name":"vic","role":"viewer","status":"disabled","password_state":"set","created_at":"2026-03-01T21:00:00Z","created_by":"root","disabled_at":"2026-03-01T22:00:00Z","disabled_by":"root","disable_reason":"left the school"}]`
	if code != 0 || compactJSON(t, stdout) != wantJSON {
		t.Errorf("operator list -o json = %d\n%s\nwant %s", code, stdout, wantJSON)
	}
	if code, stdout, stderr := h.run("operator", "disable", "vic", "--reason", "left the school"); code != 0 || stdout != "operator vic disabled; its token and sessions no longer work\n" || stderr != "" {
		t.Errorf("operator disable = %d %q %q", code, stdout, stderr)
	}
	// The last admin: refused whoever asks, a runtime failure, one line.
	code, stdout, stderr = h.run("operator", "disable", "root", "--reason", "oops")
	if code != 1 || stdout != "" {
		t.Errorf("operator disable root = %d %q, want 1 and nothing on stdout", code, stdout)
	}
	checkOneLine(t, stderr, "curfew: operator disable: forbidden: root is the last admin who can sign in; add another admin first")
	if code, stdout, stderr := h.run("operator", "password", "olga"); code != 0 || stdout != "NEWPASSWORD\n" || stderr != "" {
		t.Errorf("operator password = %d %q %q, want the password alone", code, stdout, stderr)
	}
	wantCalls := []string{"add dave viewer", `disable vic "left the school"`, `disable root "oops"`, "password olga"}
	if fmt.Sprint(calls) != fmt.Sprint(wantCalls) {
		t.Errorf("calls = %q, want %q", calls, wantCalls)
	}
}

func TestTokenListAndRevoke(t *testing.T) {
	acc := &apitest.FakeAccounts{
		TokensFunc: func(ctx context.Context) ([]*curfew.Token, error) {
			return []*curfew.Token{
				{Name: "olga", Role: curfew.RoleOperator, Created: now, CreatedBy: "root", Revoked: now.Add(time.Minute), RevokedBy: "root"},
				{Name: "olga", Role: curfew.RoleOperator, Created: now.Add(time.Minute), CreatedBy: "root"},
				{Name: "vic", Role: curfew.RoleViewer, Created: now, CreatedBy: "root", OperatorDisabled: true},
			}, nil
		},
		RevokeTokenFunc: func(ctx context.Context, name string) (*curfew.Token, error) {
			if name != "olga" {
				return nil, fmt.Errorf("%w: no token %q", curfew.ErrNotFound, name)
			}
			return &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: now, Revoked: now, RevokedBy: "root"}, nil
		},
	}
	h := newHarnessWith(t, &apitest.FakeService{}, acc)
	h.env["CURFEW_TOKEN"] = "admin-secret"
	code, stdout, stderr := h.run("token", "list")
	want := `NAME  ROLE      STATUS    CREATED               BY    REVOKED               BY
olga  operator  revoked   2026-03-01 21:00 UTC  root  2026-03-01 21:01 UTC  root
olga  operator  active    2026-03-01 21:01 UTC  root  -                     -
vic   viewer    disabled  2026-03-01 21:00 UTC  root  -                     -
`
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("token list = %d %q\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	code, stdout, _ = h.run("token", "list", "-o", "json")
	wantJSON := `[{"name":"olga","role":"operator","status":"revoked","created_at":"2026-03-01T21:00:00Z","created_by":"root","revoked_at":"2026-03-01T21:01:00Z","revoked_by":"root"},` +
		`{"name":"olga","role":"operator","status":"active","created_at":"2026-03-01T21:01:00Z","created_by":"root","revoked_at":null,"revoked_by":""},` +
		`{"name":"vic","role":"viewer","status":"disabled","created_at":"2026-03-01T21:00:00Z","created_by":"root","revoked_at":null,"revoked_by":""}]`
	if code != 0 || compactJSON(t, stdout) != wantJSON {
		t.Errorf("token list -o json = %d\n%s\nwant %s", code, stdout, wantJSON)
	}
	if code, stdout, stderr := h.run("token", "revoke", "olga"); code != 0 || stdout != "token olga revoked\n" || stderr != "" {
		t.Errorf("token revoke = %d %q %q", code, stdout, stderr)
	}
	code, _, stderr = h.run("token", "revoke", "zed")
	if code != 2 {
		t.Errorf("token revoke zed = %d, want 2", code)
	}
	checkOneLine(t, stderr, `curfew: token revoke: not found: no token "zed"`)
}
