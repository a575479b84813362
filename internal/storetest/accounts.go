package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

// hash returns the SHA-256 of secret, as access.HashToken stores it.
func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// phc is a console password hash in the PHC string form the access
// component stores; the store treats it as opaque text.
const phc = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

func addOperator(t *testing.T, s Store, name string, role curfew.Role, password string) *curfew.Operator {
	t.Helper()
	op := &curfew.Operator{Name: name, Role: role, Created: t0, CreatedBy: curfew.SystemActor}
	if err := s.CreateOperator(t.Context(), op, password, entry("admin", curfew.ActionOperator, name)); err != nil {
		t.Fatalf("CreateOperator(%q) = %v", name, err)
	}
	return op
}

func testOperators(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("operators read back sorted by name", func(t *testing.T) {
		s := newStore(t)
		olga := addOperator(t, s, "olga", curfew.RoleOperator, phc)
		admin := addOperator(t, s, "admin", curfew.RoleAdmin, "")
		vic := addOperator(t, s, "vic", curfew.RoleViewer, "")
		if olga.Password != curfew.PasswordOneTime || admin.Password != curfew.PasswordNone {
			t.Errorf("CreateOperator set Password to %q (with a password) and %q (without), want %q and %q",
				olga.Password, admin.Password, curfew.PasswordOneTime, curfew.PasswordNone)
		}
		want := []*curfew.Operator{
			{Name: "admin", Role: curfew.RoleAdmin, Created: t0, CreatedBy: curfew.SystemActor, Password: curfew.PasswordNone},
			{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: curfew.SystemActor, Password: curfew.PasswordOneTime},
			{Name: "vic", Role: curfew.RoleViewer, Created: t0, CreatedBy: curfew.SystemActor, Password: curfew.PasswordNone},
		}
		got, err := s.Operators(t.Context())
		if err != nil {
			t.Fatalf("Operators() = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Operators() (-want +got):\n%s", diff)
		}
		for _, w := range []*curfew.Operator{admin, olga, vic} {
			one, err := s.Operator(t.Context(), w.Name)
			if err != nil {
				t.Fatalf("Operator(%q) = %v", w.Name, err)
			}
			if diff := cmp.Diff(w, one, cmpOpts); diff != "" {
				t.Errorf("Operator(%q) (-want +got):\n%s", w.Name, diff)
			}
		}
	})

	t.Run("an unknown operator is not found", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		if _, err := s.Operator(t.Context(), "ghost"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Operator(ghost) = %v, want ErrNotFound", err)
		}
		if _, err := s.Password(t.Context(), "ghost"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Password(ghost) = %v, want ErrNotFound", err)
		}
		n := auditLen(t, s)
		if err := s.SetPassword(t.Context(), "ghost", phc, false, entry("ghost", curfew.ActionPassword, "ghost")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("SetPassword(ghost) = %v, want ErrNotFound", err)
		}
		ghost := &curfew.Operator{Name: "ghost", Disabled: t0, DisabledBy: "admin", DisableReason: "x"}
		if err := s.DisableOperator(t.Context(), ghost, entry("admin", curfew.ActionDisableOperator, "ghost")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("DisableOperator(ghost) = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, n, "changes to an unknown operator")
	})

	t.Run("a duplicate operator is a conflict and writes nothing", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		n := auditLen(t, s)
		err := s.CreateOperator(t.Context(), &curfew.Operator{Name: "olga", Role: curfew.RoleAdmin, Created: t0}, phc, entry("admin", curfew.ActionOperator, "olga"))
		if !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateOperator(duplicate) = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "a duplicate operator")
		if op, err := s.Operator(t.Context(), "olga"); err != nil || op.Role != curfew.RoleOperator || op.Password != curfew.PasswordNone {
			t.Errorf("Operator(olga) = %+v, %v; want the first one, unchanged", op, err)
		}
	})

	t.Run("console passwords: none, one-time, then set", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		if got, err := s.Password(t.Context(), "olga"); err != nil || got != "" {
			t.Errorf("Password(olga) without one = %q, %v; want \"\"", got, err)
		}
		steps := []struct {
			hash    string
			oneTime bool
			want    curfew.PasswordState
		}{
			{phc, true, curfew.PasswordOneTime},
			{phc + "2", false, curfew.PasswordSet},
			{phc + "3", true, curfew.PasswordOneTime},
		}
		for _, st := range steps {
			if err := s.SetPassword(t.Context(), "olga", st.hash, st.oneTime, entry("olga", curfew.ActionPassword, "olga")); err != nil {
				t.Fatalf("SetPassword(olga, oneTime %v) = %v", st.oneTime, err)
			}
			if got, err := s.Password(t.Context(), "olga"); err != nil || got != st.hash {
				t.Errorf("Password(olga) = %q, %v; want %q", got, err, st.hash)
			}
			if op, err := s.Operator(t.Context(), "olga"); err != nil || op.Password != st.want {
				t.Errorf("Operator(olga).Password = %+v, %v; want %q", op, err, st.want)
			}
		}
		if err := s.SetPassword(t.Context(), "olga", "", false, entry("olga", curfew.ActionPassword, "olga")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("SetPassword(olga, empty hash) = %v, want ErrInvalid", err)
		}
	})

	t.Run("disable is stored once", func(t *testing.T) {
		s := newStore(t)
		olga := addOperator(t, s, "olga", curfew.RoleOperator, phc)
		olga.Disabled, olga.DisabledBy, olga.DisableReason = t0.Add(time.Hour), "admin", "left the embassy"
		if err := s.DisableOperator(t.Context(), olga, entry("admin", curfew.ActionDisableOperator, "olga")); err != nil {
			t.Fatalf("DisableOperator(olga) = %v", err)
		}
		got, err := s.Operator(t.Context(), "olga")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(olga, got, cmpOpts); diff != "" {
			t.Errorf("Operator(olga) after DisableOperator (-want +got):\n%s", diff)
		}
		n := auditLen(t, s)
		again := *olga
		again.Disabled, again.DisabledBy = t0.Add(2*time.Hour), "mallory"
		if err := s.DisableOperator(t.Context(), &again, entry("mallory", curfew.ActionDisableOperator, "olga")); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("DisableOperator(olga) twice = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "disabling a disabled operator")
		if got, _ := s.Operator(t.Context(), "olga"); got == nil || got.DisabledBy != "admin" || !got.Disabled.Equal(olga.Disabled) {
			t.Errorf("Operator(olga) = %+v after a second disable; want the first one kept", got)
		}
		without := &curfew.Operator{Name: "olga", DisabledBy: "admin"}
		if err := s.DisableOperator(t.Context(), without, entry("admin", curfew.ActionDisableOperator, "olga")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("DisableOperator(without a time) = %v, want ErrInvalid", err)
		}
	})
}

func testTokens(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("a token with a new operator reads back by hash and in the list", func(t *testing.T) {
		s := newStore(t)
		tok := &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: "admin"}
		op := &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: "admin"}
		if err := s.CreateToken(t.Context(), tok, hash("s1"), op, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatalf("CreateToken(olga, new operator) = %v", err)
		}
		if got, err := s.Operator(t.Context(), "olga"); err != nil || got.Role != curfew.RoleOperator || got.Password != curfew.PasswordNone {
			t.Errorf("Operator(olga) = %+v, %v; want the operator created with its token, without a password", got, err)
		}
		got, err := s.TokenByHash(t.Context(), hash("s1"))
		if err != nil {
			t.Fatalf("TokenByHash() = %v", err)
		}
		if diff := cmp.Diff(tok, got, cmpOpts); diff != "" {
			t.Errorf("TokenByHash() (-want +got):\n%s", diff)
		}
		if _, err := s.TokenByHash(t.Context(), hash("s2")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("TokenByHash(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("revoked tokens stay, listed by name then age", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		addOperator(t, s, "admin", curfew.RoleAdmin, "")
		mk := func(name, secret string, at time.Time) *curfew.Token {
			t.Helper()
			tok := &curfew.Token{Name: name, Role: curfew.RoleOperator, Created: at, CreatedBy: "admin"}
			if err := s.CreateToken(t.Context(), tok, hash(secret), nil, entry("admin", curfew.ActionToken, name)); err != nil {
				t.Fatalf("CreateToken(%q) = %v", name, err)
			}
			return tok
		}
		revoke := func(tok *curfew.Token, at time.Time) {
			t.Helper()
			tok.Revoked, tok.RevokedBy = at, "admin"
			if err := s.RevokeToken(t.Context(), tok, entry("admin", curfew.ActionRevokeToken, tok.Name)); err != nil {
				t.Fatalf("RevokeToken(%q) = %v", tok.Name, err)
			}
		}
		o1 := mk("olga", "o1", t0)
		revoke(o1, t0.Add(time.Minute))
		// A name with a revoked token may have a live one again.
		o2 := mk("olga", "o2", t0.Add(2*time.Minute))
		a1 := mk("admin", "a1", t0.Add(3*time.Minute))

		got, err := s.Tokens(t.Context())
		if err != nil {
			t.Fatalf("Tokens() = %v", err)
		}
		if diff := cmp.Diff([]*curfew.Token{a1, o1, o2}, got, cmpOpts); diff != "" {
			t.Errorf("Tokens() (-want +got):\n%s", diff)
		}
		if got, err := s.TokenByHash(t.Context(), hash("o1")); err != nil || got.Status() != curfew.TokenRevoked || got.RevokedBy != "admin" {
			t.Errorf("TokenByHash(revoked) = %+v, %v; want the revoked token", got, err)
		}
		if got, err := s.TokenByHash(t.Context(), hash("o2")); err != nil || got.Status() != curfew.TokenActive {
			t.Errorf("TokenByHash(reissued) = %+v, %v; want a live token", got, err)
		}
	})

	t.Run("a second live token of a name is a conflict", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		if err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s1"), nil, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleViewer, Created: t0}, hash("s2"), nil, entry("admin", curfew.ActionToken, "olga"))
		if !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateToken(second live) = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "a second live token")
		if _, err := s.TokenByHash(t.Context(), hash("s2")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("TokenByHash(refused token) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a token of an unknown operator is not found", func(t *testing.T) {
		s := newStore(t)
		err := s.CreateToken(t.Context(), &curfew.Token{Name: "ghost", Role: curfew.RoleViewer, Created: t0}, hash("s1"), nil, entry("admin", curfew.ActionToken, "ghost"))
		if !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("CreateToken(unknown operator) = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, 0, "a token of an unknown operator")
	})

	t.Run("a malformed token is invalid", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		n := auditLen(t, s)
		tok := &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}
		if err := s.CreateToken(t.Context(), tok, hash("s1")[:16], nil, entry("admin", curfew.ActionToken, "olga")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateToken(16-byte hash) = %v, want ErrInvalid", err)
		}
		other := &curfew.Operator{Name: "vic", Role: curfew.RoleViewer, Created: t0}
		if err := s.CreateToken(t.Context(), tok, hash("s1"), other, entry("admin", curfew.ActionToken, "olga")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateToken(token olga for operator vic) = %v, want ErrInvalid", err)
		}
		wantUnchangedAudit(t, s, n, "malformed tokens")
	})

	t.Run("revoking without a live token is not found", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		tok := &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}
		if err := s.CreateToken(t.Context(), tok, hash("s1"), nil, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		tok.Revoked, tok.RevokedBy = t0.Add(time.Minute), "admin"
		if err := s.RevokeToken(t.Context(), tok, entry("admin", curfew.ActionRevokeToken, "olga")); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		again := *tok
		again.Revoked, again.RevokedBy = t0.Add(time.Hour), "mallory"
		if err := s.RevokeToken(t.Context(), &again, entry("mallory", curfew.ActionRevokeToken, "olga")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("RevokeToken(already revoked) = %v, want ErrNotFound", err)
		}
		ghost := &curfew.Token{Name: "ghost", Revoked: t0, RevokedBy: "admin"}
		if err := s.RevokeToken(t.Context(), ghost, entry("admin", curfew.ActionRevokeToken, "ghost")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("RevokeToken(unknown) = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, n, "revoking no live token")
		if got, _ := s.TokenByHash(t.Context(), hash("s1")); got == nil || got.RevokedBy != "admin" {
			t.Errorf("TokenByHash() = %+v, want the first revocation kept", got)
		}
	})

	t.Run("a disabled operator's tokens say so", func(t *testing.T) {
		s := newStore(t)
		op := &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0}
		if err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s1"), op, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		op.Disabled, op.DisabledBy, op.DisableReason = t0.Add(time.Minute), "admin", "left"
		if err := s.DisableOperator(t.Context(), op, entry("admin", curfew.ActionDisableOperator, "olga")); err != nil {
			t.Fatal(err)
		}
		got, err := s.TokenByHash(t.Context(), hash("s1"))
		if err != nil || !got.OperatorDisabled || got.Status() != curfew.TokenDisabled {
			t.Errorf("TokenByHash() of a disabled operator = %+v, %v; want OperatorDisabled", got, err)
		}
		ts, err := s.Tokens(t.Context())
		if err != nil || len(ts) != 1 || !ts[0].OperatorDisabled {
			t.Errorf("Tokens() = %+v, %v; want the one token with OperatorDisabled", ts, err)
		}
	})
}
