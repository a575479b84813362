package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

var _ access.Store = (*sqlite.DB)(nil)

func TestOperatorRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	olga := &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: "root"}
	if err := db.CreateOperator(ctx, olga, "$argon2id$one-time", entry(audit.KindOperatorAdded, "olga")); err != nil {
		t.Fatalf("CreateOperator() = %v", err)
	}
	vic := &curfew.Operator{Name: "vic", Role: curfew.RoleViewer, Created: t0}
	if err := db.CreateOperator(ctx, vic, "", entry(audit.KindOperatorAdded, "vic")); err != nil {
		t.Fatalf("CreateOperator() = %v", err)
	}
	want := []*curfew.Operator{
		{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: "root", Password: curfew.PasswordOneTime},
		{Name: "vic", Role: curfew.RoleViewer, Created: t0, Password: curfew.PasswordNone},
	}
	got, err := db.Operators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Operators() (-want +got):\n%s", diff)
	}
	if h, err := db.Password(ctx, "olga"); err != nil || h != "$argon2id$one-time" {
		t.Errorf("Password(olga) = %q, %v", h, err)
	}
	if h, err := db.Password(ctx, "vic"); err != nil || h != "" {
		t.Errorf("Password(vic) = %q, %v; want none", h, err)
	}
	if _, err := db.Password(ctx, "zed"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Password(zed) = %v, want ErrNotFound", err)
	}

	if err := db.SetPassword(ctx, "olga", "$argon2id$chosen", false, entry(audit.KindPasswordChanged, "olga")); err != nil {
		t.Fatal(err)
	}
	if op, err := db.Operator(ctx, "olga"); err != nil || op.Password != curfew.PasswordSet {
		t.Errorf("Operator(olga) after SetPassword = %+v, %v; want password set", op, err)
	}
	if err := db.SetPassword(ctx, "zed", "$argon2id$x", true, entry(audit.KindPasswordChanged, "zed")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("SetPassword(zed) = %v, want ErrNotFound", err)
	}

	off := t0.Add(time.Hour)
	olga.Disabled, olga.DisabledBy, olga.DisableReason = off, "root", "left"
	if err := db.DisableOperator(ctx, olga, entry(audit.KindOperatorDisabled, "olga")); err != nil {
		t.Fatal(err)
	}
	op, err := db.Operator(ctx, "olga")
	if err != nil || !op.Disabled.Equal(off) || op.DisabledBy != "root" || op.DisableReason != "left" || op.Enabled() {
		t.Errorf("Operator(olga) after DisableOperator = %+v, %v", op, err)
	}
	before := auditLen(t, db)
	if err := db.DisableOperator(ctx, olga, entry(audit.KindOperatorDisabled, "olga")); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("DisableOperator(olga) twice = %v, want ErrConflict", err)
	}
	ghost := &curfew.Operator{Name: "ghost", Disabled: off}
	if err := db.DisableOperator(ctx, ghost, entry(audit.KindOperatorDisabled, "ghost")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("DisableOperator(ghost) = %v, want ErrNotFound", err)
	}
	if _, err := db.Operator(ctx, "ghost"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Operator(ghost) = %v, want ErrNotFound", err)
	}
	if n := auditLen(t, db); n != before {
		t.Errorf("failed changes wrote %d audit entries", n-before)
	}
	if err := db.AppendEvents(ctx, entry(audit.KindAuthFailed, "")); err != nil || auditLen(t, db) != before+1 {
		t.Errorf("AppendEvents() = %v, audit %d entries, want %d", err, auditLen(t, db), before+1)
	}
	if rep := verify(t, db); !rep.OK() {
		t.Errorf("VerifyAudit() = %+v", rep)
	}
}

func TestTokenRevokeAndReissue(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	first, second := sha256.Sum256([]byte("first")), sha256.Sum256([]byte("second"))
	tok := &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0, CreatedBy: "root"}
	if err := db.CreateToken(ctx, tok, first[:], &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0}, entry(audit.KindTokenCreated, "olga")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, tok, second[:], nil, entry(audit.KindTokenCreated, "olga")); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("a second live token for olga = %v, want ErrConflict", err)
	}
	revoked := *tok
	revoked.Revoked, revoked.RevokedBy = t0.Add(time.Minute), "root"
	if err := db.RevokeToken(ctx, &revoked, entry(audit.KindTokenRevoked, "olga")); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, &revoked, entry(audit.KindTokenRevoked, "olga")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("revoking again = %v, want ErrNotFound", err)
	}
	got, err := db.TokenByHash(ctx, first[:])
	if err != nil || got.Status() != curfew.TokenRevoked || got.RevokedBy != "root" {
		t.Errorf("TokenByHash(revoked) = %+v, %v; want it revoked by root", got, err)
	}
	// A revoked token frees the name for a new one.
	if err := db.CreateToken(ctx, tok, second[:], nil, entry(audit.KindTokenCreated, "olga")); err != nil {
		t.Fatalf("reissuing olga's token = %v", err)
	}
	olga := &curfew.Operator{Name: "olga", Disabled: t0.Add(time.Hour), DisabledBy: "root"}
	if err := db.DisableOperator(ctx, olga, entry(audit.KindOperatorDisabled, "olga")); err != nil {
		t.Fatal(err)
	}
	ts, err := db.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []curfew.TokenStatus
	for _, t := range ts {
		statuses = append(statuses, t.Status())
	}
	if diff := cmp.Diff([]curfew.TokenStatus{curfew.TokenRevoked, curfew.TokenDisabled}, statuses); diff != "" {
		t.Errorf("token statuses after disabling olga (-want +got):\n%s", diff)
	}
}

// A token that cannot be stored leaves no operator behind either.
func TestCreateTokenIsOneTransaction(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	hash := sha256.Sum256([]byte("secret"))
	if err := db.CreateToken(ctx, &curfew.Token{Name: "a", Role: curfew.RoleAdmin}, hash[:], &curfew.Operator{Name: "a", Role: curfew.RoleAdmin}, entry(audit.KindTokenCreated, "a")); err != nil {
		t.Fatal(err)
	}
	err := db.CreateToken(ctx, &curfew.Token{Name: "b", Role: curfew.RoleViewer}, hash[:], &curfew.Operator{Name: "b", Role: curfew.RoleViewer}, entry(audit.KindTokenCreated, "b"))
	if !errors.Is(err, curfew.ErrConflict) {
		t.Fatalf("CreateToken(same hash) = %v, want ErrConflict", err)
	}
	if _, err := db.Operator(ctx, "b"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Operator(b) after its token failed = %v, want ErrNotFound", err)
	}
	if n := auditLen(t, db); n != 1 {
		t.Errorf("audit has %d entries, want 1", n)
	}
}

// TestMigrationMakesOperatorsOfTokens opens a database of the first
// schema, with two tokens, and finds each token an operator of its role,
// with the token still live.
func TestMigrationMakesOperatorsOfTokens(t *testing.T) {
	ctx := t.Context()
	f := newFileDB(t)
	schema, err := os.ReadFile("migration/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	adminHash, viewerHash := sha256.Sum256([]byte("admin-secret")), sha256.Sum256([]byte("viewer-secret"))
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		string(schema),
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
		"INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)",
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("building a first-schema database: %v", err)
		}
	}
	for _, tok := range []struct {
		name, role string
		hash       []byte
	}{{"admin", "admin", adminHash[:]}, {"vic", "viewer", viewerHash[:]}} {
		if _, err := raw.Exec("INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)", tok.name, tok.role, tok.hash, t0.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := sqlite.Open(ctx, f.path, &sqlite.Config{})
	if err != nil {
		t.Fatalf("Open(first-schema database) = %v", err)
	}
	defer db.Close()
	ops, err := db.Operators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOps := []*curfew.Operator{
		{Name: "admin", Role: curfew.RoleAdmin, Created: t0.Truncate(time.Millisecond), Password: curfew.PasswordNone},
		{Name: "vic", Role: curfew.RoleViewer, Created: t0.Truncate(time.Millisecond), Password: curfew.PasswordNone},
	}
	if diff := cmp.Diff(wantOps, ops); diff != "" {
		t.Errorf("operators after the migration (-want +got):\n%s", diff)
	}
	for _, h := range [][]byte{adminHash[:], viewerHash[:]} {
		if tok, err := db.TokenByHash(ctx, h); err != nil || tok.Status() != curfew.TokenActive {
			t.Errorf("TokenByHash() after the migration = %+v, %v; want a live token", tok, err)
		}
	}
}
