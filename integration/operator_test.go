//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
)

// TestOperatorsAndTokens drives the operator and token verbs of the
// curfew binary against a running daemon: a revoked token and a disabled
// operator's token are refused with the next request, a call the role
// does not allow exits 1 and changes nothing, the last admin cannot be
// disabled, and no secret shows in a list or sits in the database.
func TestOperatorsAndTokens(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	as := func(token string, args ...string) (string, string, int) {
		t.Helper()
		return runCurfew(t, g.APIURL(), token, args...)
	}
	oneLine := func(t *testing.T, what, out string) string {
		t.Helper()
		v := strings.TrimSuffix(out, "\n")
		if v == "" || strings.ContainsAny(v, " \n\t") {
			t.Fatalf("%s printed %q, want one secret alone on a line", what, out)
		}
		return v
	}
	statusOf := func(token string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, g.APIURL()+"/api/v1/persons", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	password := oneLine(t, "operator add", g.mustCurfew("operator", "add", "olga", "--role", "operator"))
	olga := oneLine(t, "token create", g.mustCurfew("token", "create", "--name", "olga", "--role", "operator"))
	vic := oneLine(t, "token create", g.mustCurfew("token", "create", "--name", "vic", "--role", "viewer"))
	if _, errOut, code := as(olga, "person", "add", "carol"); code != 0 {
		t.Fatalf("olga adding a person: exit %d: %s", code, errOut)
	}

	// What a role does not allow: exit 1, one line, nothing changed.
	before := g.mustCurfew("operator", "list", "-o", "json") + g.mustCurfew("token", "list", "-o", "json")
	for _, args := range [][]string{
		{"operator", "add", "mallory", "--role", "admin"},
		{"operator", "disable", "admin", "--reason", "coup"},
		{"operator", "password", "admin"},
		{"token", "create", "--name", "mallory", "--role", "admin"},
		{"token", "revoke", "admin"},
	} {
		out, errOut, code := as(olga, args...)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "forbidden") {
			t.Errorf("olga: curfew %s: exit %d, %q %q; want 1 and one line saying forbidden", strings.Join(args, " "), code, out, errOut)
		}
	}
	if after := g.mustCurfew("operator", "list", "-o", "json") + g.mustCurfew("token", "list", "-o", "json"); after != before {
		t.Errorf("refused calls changed operators or tokens:\nbefore %s\nafter  %s", before, after)
	}

	// The lists never show a secret.
	lists := g.mustCurfew("operator", "list") + g.mustCurfew("operator", "list", "-o", "json") +
		g.mustCurfew("token", "list") + g.mustCurfew("token", "list", "-o", "json")
	for what, secret := range map[string]string{"the admin token": g.token, "olga's token": olga, "vic's token": vic, "olga's password": password} {
		if strings.Contains(lists, secret) {
			t.Errorf("a list shows %s", what)
		}
	}
	var ops []api.Operator
	if err := json.Unmarshal([]byte(g.mustCurfew("operator", "list", "-o", "json")), &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 || ops[1].Name != "olga" || ops[1].Role != "operator" || ops[1].PasswordState != "one-time" || ops[2].Name != "vic" || ops[2].PasswordState != "none" {
		t.Errorf("operator list -o json = %+v", ops)
	}

	// Revoking a token and disabling an operator: refused at once.
	if out := g.mustCurfew("token", "revoke", "vic"); out != "token vic revoked\n" {
		t.Errorf("token revoke printed %q", out)
	}
	if status := statusOf(vic); status != http.StatusUnauthorized {
		t.Errorf("the request after revoking vic's token = %d, want 401", status)
	}
	if _, errOut, code := as(vic, "list"); code != 1 || !strings.Contains(errOut, "unauthenticated") {
		t.Errorf("curfew list with a revoked token: exit %d %q, want 1 and unauthenticated", code, errOut)
	}
	g.mustCurfew("operator", "disable", "olga", "--reason", "integration: left")
	if status := statusOf(olga); status != http.StatusUnauthorized {
		t.Errorf("the request after disabling olga = %d, want 401", status)
	}
	var ts []api.Token
	if err := json.Unmarshal([]byte(g.mustCurfew("token", "list", "-o", "json")), &ts); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, tok := range ts {
		status[tok.Name] = tok.Status
	}
	if status["admin"] != "active" || status["olga"] != "disabled" || status["vic"] != "revoked" {
		t.Errorf("token statuses = %v, want admin active, olga disabled, vic revoked", status)
	}

	// The last admin stays.
	out, errOut, code := g.curfew("operator", "disable", "admin", "--reason", "integration: oops")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "last admin") {
		t.Errorf("disabling the last admin: exit %d, %q %q; want 1 and one line naming the last admin", code, out, errOut)
	}
	if status := statusOf(g.token); status != http.StatusOK {
		t.Errorf("the admin after the refusal = %d, want 200", status)
	}

	// What the server rejects as wrong: exit 2, one line.
	for _, args := range [][]string{
		{"operator", "disable", "olga", "--reason", "again"},
		{"operator", "disable", "nobody", "--reason", "x"},
		{"operator", "add", "olga", "--role", "viewer"},
		{"token", "revoke", "vic"},
		{"operator", "add", "curfew", "--role", "viewer"},
	} {
		if out, errOut, code := g.curfew(args...); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("curfew %s: exit %d, %q %q; want 2 and one line", strings.Join(args, " "), code, out, errOut)
		}
	}

	// A forgotten password is reset to a new one-time password.
	ivan := oneLine(t, "operator add", g.mustCurfew("operator", "add", "ivan", "--role", "viewer"))
	if reset := oneLine(t, "operator password", g.mustCurfew("operator", "password", "ivan")); reset == ivan {
		t.Errorf("operator password printed the old password again")
	}

	audit := g.mustCurfew("audit")
	for _, action := range []string{"operator.added", "token.created", "token.revoked", "operator.disabled", "operator.password_changed", "auth.failed"} {
		if !strings.Contains(audit, action) {
			t.Errorf("the audit log lacks %s:\n%s", action, audit)
		}
	}
	if out, errOut, code := g.curfew("audit", "verify"); code != 0 {
		t.Errorf("curfew audit verify: exit %d: %s%s", code, out, errOut)
	}

	// Nor is any secret in the database files the daemon writes.
	files, _ := filepath.Glob(filepath.Join(g.StateDir(), "*.db*"))
	var db []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	if len(db) == 0 {
		t.Fatalf("no database files in %s", g.StateDir())
	}
	for what, secret := range map[string]string{"the admin token": g.token, "olga's token": olga, "vic's token": vic, "olga's password": password, "ivan's password": ivan} {
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("the database holds %s in clear", what)
		}
	}
}
