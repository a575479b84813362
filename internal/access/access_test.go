package access_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

var (
	t0 = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)

	root   = curfew.Actor{Name: "root", Role: curfew.RoleAdmin}
	olgaOp = curfew.Actor{Name: "olga", Role: curfew.RoleOperator}
	vic    = curfew.Actor{Name: "vic", Role: curfew.RoleViewer}

	here  = netip.MustParseAddr("192.0.2.7")
	there = netip.MustParseAddr("198.51.100.9")

	// cheap are argon2id parameters that cost next to nothing, for tests
	// about anything but the hash.
	cheap = access.Argon2Params{Time: 1, Memory: 64, Threads: 1}
)

// clock is the Now seam: a time that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	reg   *access.Registry
	db    *sqlite.DB
	clock *clock
	root  string // the first admin's token secret
}

func as(a curfew.Actor) context.Context { return curfew.WithActor(context.Background(), a) }

// newFixture returns a Registry over an in-memory database holding the
// first admin, root, made as `curfew init` makes it.
func newFixture(t *testing.T, params access.Argon2Params) *fixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureOn(t, db, params)
}

func newFixtureOn(t *testing.T, db *sqlite.DB, params access.Argon2Params) *fixture {
	t.Helper()
	c := &clock{t: t0}
	reg, err := access.New(&access.Config{Store: db, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: c.Now, Argon2: params})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	secret, err := reg.Bootstrap(t.Context(), "root")
	if err != nil {
		t.Fatalf("Bootstrap(root) = %v", err)
	}
	return &fixture{reg: reg, db: db, clock: c, root: secret}
}

// events returns the events of the audit log, oldest first.
func (f *fixture) events(t *testing.T) []*audit.Event {
	t.Helper()
	var es []*audit.Event
	err := f.db.ReadAudit(t.Context(), 1, func(_ int64, data []byte, checkpoint bool) error {
		if checkpoint {
			return nil
		}
		e, err := audit.Decode(data)
		es = append(es, e)
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// audit returns the audit log as "actor kind what" lines, what being the
// operator, token or source the event is about.
func (f *fixture) audit(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, e := range f.events(t) {
		var what string
		for _, fs := range []*audit.Fields{e.After, e.Before} {
			if fs == nil {
				continue
			}
			for _, s := range []string{fs.Name, fs.Token, fs.Source} {
				if what == "" {
					what = s
				}
			}
		}
		out = append(out, e.Actor+" "+string(e.Kind)+" "+what)
	}
	return out
}

func (f *fixture) auth(t *testing.T, src netip.Addr, secret string) (curfew.Actor, error) {
	t.Helper()
	return f.reg.Authenticate(t.Context(), src, secret)
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	db := newFixture(t, cheap).db
	for name, c := range map[string]*access.Config{
		"nil config":    nil,
		"no store":      {Logger: logger},
		"no logger":     {Store: db},
		"weak argon2id": {Store: db, Logger: logger, Argon2: access.Argon2Params{Time: 1, Memory: 64}},
	} {
		if _, err := access.New(c); err == nil {
			t.Errorf("New(%s) succeeded, want an error", name)
		}
	}
}

func TestBootstrap(t *testing.T) {
	f := newFixture(t, cheap)
	if a, err := f.auth(t, here, f.root); err != nil || a != root {
		t.Errorf("Authenticate(first token) = %+v, %v; want root as admin", a, err)
	}
	if _, err := f.reg.Bootstrap(t.Context(), "other"); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("a second Bootstrap = %v, want ErrConflict", err)
	}
	if diff := cmp.Diff([]string{"curfew token.created root"}, f.audit(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestConsoleLogin(t *testing.T) {
	f := newFixture(t, cheap)
	ctx := t.Context()
	op, password, err := f.reg.AddOperator(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	if op.Password != curfew.PasswordOneTime || op.CreatedBy != "root" || len(password) < 20 {
		t.Errorf("AddOperator() = %+v, %q; want a one-time password", op, password)
	}
	got, err := f.reg.Verify(ctx, here, "olga", password)
	if err != nil || got.Name != "olga" || got.Role != curfew.RoleOperator || got.Password != curfew.PasswordOneTime {
		t.Errorf("Verify(one-time password) = %+v, %v; want olga, who must change it", got, err)
	}
	for _, tt := range []struct{ name, password string }{
		{"olga", password + "x"},
		{"olga", ""},
		{"root", password}, // root has no console password
		{"zed", password},
		{"not a name", password},
	} {
		if _, err := f.reg.Verify(ctx, there, tt.name, tt.password); !errors.Is(err, curfew.ErrUnauthenticated) {
			t.Errorf("Verify(%q, %q) = %v, want ErrUnauthenticated", tt.name, tt.password, err)
		}
	}

	const chosen = "correct horse battery staple"
	for _, bad := range []string{"short", password} {
		if err := f.reg.ChangePassword(ctx, here, "olga", password, bad); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("ChangePassword(to %q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := f.reg.ChangePassword(ctx, here, "olga", "wrong password", chosen); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("ChangePassword(with a wrong current one) = %v, want ErrUnauthenticated", err)
	}
	if err := f.reg.ChangePassword(ctx, here, "olga", password, chosen); err != nil {
		t.Fatalf("ChangePassword() = %v", err)
	}
	if _, err := f.reg.Verify(ctx, here, "olga", password); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Verify(old password) = %v, want ErrUnauthenticated", err)
	}
	if got, err := f.reg.Verify(ctx, here, "olga", chosen); err != nil || got.Password != curfew.PasswordSet {
		t.Errorf("Verify(new password) = %+v, %v; want olga with a password of her own", got, err)
	}

	// A session asks Actor on every request: disabling ends it at once.
	if a, err := f.reg.Actor(ctx, "olga"); err != nil || a != olgaOp {
		t.Errorf("Actor(olga) = %+v, %v", a, err)
	}
	if _, err := f.reg.DisableOperator(as(root), "olga", "left"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Actor(ctx, "olga"); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Actor(disabled olga) = %v, want ErrUnauthenticated", err)
	}
	if _, err := f.reg.Verify(ctx, here, "olga", chosen); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Verify(disabled olga) = %v, want ErrUnauthenticated", err)
	}
	if _, err := f.reg.Actor(ctx, "zed"); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Actor(zed) = %v, want ErrUnauthenticated", err)
	}

	// An admin resets a forgotten password to a new one-time one.
	if _, _, err := f.reg.AddOperator(as(root), "ivan", curfew.RoleViewer); err != nil {
		t.Fatal(err)
	}
	reset, err := f.reg.ResetPassword(as(root), "ivan")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.reg.Verify(ctx, here, "ivan", reset); err != nil || got.Password != curfew.PasswordOneTime {
		t.Errorf("Verify(reset password) = %+v, %v", got, err)
	}
	if _, err := f.reg.ResetPassword(as(root), "olga"); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("ResetPassword(disabled olga) = %v, want ErrConflict", err)
	}
	want := []string{
		"curfew token.created root",
		"root operator.added olga",
		"curfew auth.failed 198.51.100.9",
		"curfew auth.failed 192.0.2.7",
		"olga operator.password_changed olga",
		"root operator.disabled olga",
		"root operator.added ivan",
		"root operator.password_changed ivan",
	}
	if diff := cmp.Diff(want, f.audit(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// TestArgon2idHashes reads the stored password hashes back: argon2id
// with the documented parameters, and a salt of its own for every
// password, so that two operators with the same password have different
// hashes.
func TestArgon2idHashes(t *testing.T) {
	f := newFixture(t, access.Argon2Params{}) // the defaults
	_, password, err := f.reg.AddOperator(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := f.db.Password(t.Context(), "olga")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=2\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)
	m := phc.FindStringSubmatch(hash)
	if m == nil {
		t.Fatalf("stored hash %q, want argon2id with m=65536,t=3,p=2, a 16-byte salt and a 32-byte key", hash)
	}
	// The key is argon2id's with those parameters, not merely labelled so.
	salt, err1 := base64.RawStdEncoding.DecodeString(m[1])
	key, err2 := base64.RawStdEncoding.DecodeString(m[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("stored hash %q: %v %v", hash, err1, err2)
	}
	if want := argon2.IDKey([]byte(password), salt, 3, 64*1024, 2, 32); !bytes.Equal(key, want) {
		t.Errorf("stored key is not argon2id(password, salt, t=3, m=64 MiB, p=2)")
	}
	if d := access.DefaultArgon2(); d != (access.Argon2Params{Time: 3, Memory: 64 * 1024, Threads: 2}) {
		t.Errorf("DefaultArgon2() = %+v", d)
	}

	g := newFixture(t, cheap)
	const same = "the same password for both"
	salts := map[string]bool{}
	hashes := map[string]bool{}
	for _, name := range []string{"ann", "bob"} {
		_, password, err := g.reg.AddOperator(as(root), name, curfew.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.reg.ChangePassword(t.Context(), here, name, password, same); err != nil {
			t.Fatal(err)
		}
		hash, err := g.db.Password(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(hash, "$")
		if len(parts) != 6 || strings.Contains(hash, same) {
			t.Fatalf("stored hash %q is not a PHC string", hash)
		}
		salts[parts[4]], hashes[parts[5]] = true, true
	}
	if len(salts) != 2 || len(hashes) != 2 {
		t.Errorf("two operators with the same password have %d salts and %d hashes, want 2 and 2", len(salts), len(hashes))
	}
	for _, name := range []string{"ann", "bob"} {
		if _, err := g.reg.Verify(t.Context(), here, name, same); err != nil {
			t.Errorf("Verify(%s) = %v", name, err)
		}
	}
}

// TestNoSecretInTheDatabase reads the database files back, byte by byte:
// token secrets and console passwords are not in them, only their hashes.
func TestNoSecretInTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curfew.db")
	db, err := sqlite.Open(t.Context(), path, &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, db, cheap)
	_, password, err := f.reg.AddOperator(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	token, err := f.reg.CreateToken(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	const chosen = "a password olga chose herself"
	if err := f.reg.ChangePassword(t.Context(), here, "olga", password, chosen); err != nil {
		t.Fatal(err)
	}
	reset, err := f.reg.ResetPassword(as(root), "olga")
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	for what, secret := range map[string]string{
		"the first admin's token": f.root, "olga's token": token,
		"olga's one-time password": password, "olga's own password": chosen, "olga's reset password": reset,
	} {
		if bytes.Contains(files, []byte(secret)) {
			t.Errorf("the database holds %s in clear", what)
		}
		if i := strings.Index(secret, "_"); i >= 0 && bytes.Contains(files, []byte(secret[i+1:])) {
			t.Errorf("the database holds the random part of %s in clear", what)
		}
	}
	if !bytes.Contains(files, access.HashToken(token)) {
		t.Errorf("the database does not hold the hash of olga's token: were the right files read?")
	}
}

func TestRevokeAndDisableTakeEffectAtOnce(t *testing.T) {
	f := newFixture(t, cheap)
	olga, err := f.reg.CreateToken(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.auth(t, here, olga); err != nil || a != olgaOp {
		t.Fatalf("Authenticate(olga) = %+v, %v", a, err)
	}
	tok, err := f.reg.RevokeToken(as(root), "olga")
	if err != nil || tok.Status() != curfew.TokenRevoked || tok.RevokedBy != "root" {
		t.Fatalf("RevokeToken(olga) = %+v, %v", tok, err)
	}
	if _, err := f.auth(t, here, olga); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Authenticate(revoked) = %v, want ErrUnauthenticated", err)
	}
	if _, err := f.reg.RevokeToken(as(root), "olga"); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("RevokeToken(olga) again = %v, want ErrConflict", err)
	}
	if _, err := f.reg.RevokeToken(as(root), "zed"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("RevokeToken(zed) = %v, want ErrNotFound", err)
	}
	// A new token for the same operator works; the old one stays dead.
	again, err := f.reg.CreateToken(as(root), "olga", curfew.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.auth(t, here, again); err != nil || a != olgaOp {
		t.Errorf("Authenticate(new token) = %+v, %v", a, err)
	}
	if _, err := f.reg.DisableOperator(as(root), "olga", "left"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth(t, here, again); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Authenticate(disabled operator's token) = %v, want ErrUnauthenticated", err)
	}
	if _, err := f.reg.DisableOperator(as(root), "olga", "again"); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("DisableOperator(olga) again = %v, want ErrConflict", err)
	}
	if _, err := f.reg.CreateToken(as(root), "olga", curfew.RoleViewer); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("CreateToken(disabled olga) = %v, want ErrConflict", err)
	}
	ts, err := f.reg.Tokens(as(vic))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, t := range ts {
		got = append(got, t.Name+" "+string(t.Status()))
	}
	if diff := cmp.Diff([]string{"olga revoked", "olga disabled", "root active"}, got); diff != "" {
		t.Errorf("Tokens() (-want +got):\n%s", diff)
	}
}

func TestTokenForAnExistingOperator(t *testing.T) {
	f := newFixture(t, cheap)
	if _, _, err := f.reg.AddOperator(as(root), "olga", curfew.RoleOperator); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.CreateToken(as(root), "olga", curfew.RoleAdmin); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("CreateToken(olga, admin) for an operator = %v, want ErrConflict", err)
	}
	secret, err := f.reg.CreateToken(as(root), "olga", curfew.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.auth(t, here, secret); err != nil || a != (curfew.Actor{Name: "olga", Role: curfew.RoleViewer}) {
		t.Errorf("Authenticate(olga's viewer token) = %+v, %v; want olga as viewer", a, err)
	}
	if _, err := f.reg.CreateToken(as(root), "olga", curfew.RoleViewer); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("a second live token = %v, want ErrConflict", err)
	}
	for _, name := range []string{"curfew", "CURFEW", "", "a b"} {
		if _, err := f.reg.CreateToken(as(root), name, curfew.RoleViewer); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateToken(%q) = %v, want ErrInvalid", name, err)
		}
		if _, _, err := f.reg.AddOperator(as(root), name, curfew.RoleViewer); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("AddOperator(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if _, _, err := f.reg.AddOperator(as(root), "olga", curfew.RoleViewer); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("AddOperator(olga) again = %v, want ErrConflict", err)
	}
}

// TestLastAdmin checks that curfew always keeps an enabled admin who can
// sign in, with a console password or a live admin token.
func TestLastAdmin(t *testing.T) {
	f := newFixture(t, cheap)
	if _, err := f.reg.DisableOperator(as(root), "root", "leaving"); !errors.Is(err, curfew.ErrForbidden) || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("disabling the only admin = %v, want ErrForbidden naming the last admin", err)
	}
	if _, err := f.reg.RevokeToken(as(root), "root"); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("revoking the only admin's only way in = %v, want ErrForbidden", err)
	}
	// A viewer or operator is not an admin who could be the last.
	if _, err := f.reg.CreateToken(as(root), "vic", curfew.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.DisableOperator(as(root), "vic", "gone"); err != nil {
		t.Errorf("disabling a viewer = %v", err)
	}
	// With a second admin (who signs in with a password), root may go.
	if _, _, err := f.reg.AddOperator(as(root), "ada", curfew.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.RevokeToken(as(root), "root"); err != nil {
		t.Errorf("revoking root's token beside a second admin = %v", err)
	}
	// Now root cannot sign in at all, so ada is the last admin who can.
	if _, err := f.reg.DisableOperator(as(root), "ada", "oops"); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("disabling the last admin who can sign in = %v, want ErrForbidden", err)
	}
	if _, err := f.reg.DisableOperator(as(curfew.Actor{Name: "ada", Role: curfew.RoleAdmin}), "root", "retired"); err != nil {
		t.Errorf("disabling root beside ada = %v", err)
	}
	ops, err := f.reg.Operators(as(vic))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range ops {
		got = append(got, op.Name+" "+op.Status())
	}
	if diff := cmp.Diff([]string{"ada active", "root disabled", "vic disabled"}, got); diff != "" {
		t.Errorf("Operators() (-want +got):\n%s", diff)
	}
}

// TestRoles checks that only an admin manages operators and tokens, that
// any role may list them, and that a refused call changes nothing.
func TestRoles(t *testing.T) {
	f := newFixture(t, cheap)
	before := f.audit(t)
	for _, actor := range []curfew.Actor{vic, olgaOp} {
		ctx := as(actor)
		calls := map[string]func() error{
			"AddOperator": func() error { _, _, err := f.reg.AddOperator(ctx, "x", curfew.RoleViewer); return err },
			"AddOperator with a bad role": func() error {
				_, _, err := f.reg.AddOperator(ctx, "", curfew.Role("king"))
				return err
			},
			"DisableOperator": func() error { _, err := f.reg.DisableOperator(ctx, "root", "coup"); return err },
			"ResetPassword":   func() error { _, err := f.reg.ResetPassword(ctx, "root"); return err },
			"CreateToken":     func() error { _, err := f.reg.CreateToken(ctx, "x", curfew.RoleAdmin); return err },
			"RevokeToken":     func() error { _, err := f.reg.RevokeToken(ctx, "root"); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, curfew.ErrForbidden) {
				t.Errorf("%s as %s = %v, want ErrForbidden", name, actor.Role, err)
			}
		}
		if _, err := f.reg.Operators(ctx); err != nil {
			t.Errorf("Operators as %s = %v", actor.Role, err)
		}
		if _, err := f.reg.Tokens(ctx); err != nil {
			t.Errorf("Tokens as %s = %v", actor.Role, err)
		}
	}
	if _, err := f.reg.Tokens(context.Background()); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Tokens without an actor = %v, want ErrUnauthenticated", err)
	}
	if diff := cmp.Diff(before, f.audit(t)); diff != "" {
		t.Errorf("refused calls changed the audit log (-before +after):\n%s", diff)
	}
}

// TestRateLimit checks that a source failing ten times in a row is
// refused, valid token or not, for about six seconds per further attempt,
// and that other sources are not.
func TestRateLimit(t *testing.T) {
	f := newFixture(t, cheap)
	for i := range 10 {
		f.clock.Advance(100 * time.Millisecond)
		if _, err := f.auth(t, here, "cft_guess"+strconv.Itoa(i)); !errors.Is(err, curfew.ErrUnauthenticated) {
			t.Fatalf("failure %d = %v, want ErrUnauthenticated", i+1, err)
		}
	}
	_, err := f.auth(t, here, f.root)
	var le *curfew.LimitError
	if !errors.As(err, &le) || !errors.Is(err, curfew.ErrRateLimited) || le.Source != "192.0.2.7" {
		t.Fatalf("a valid token after ten failures = %v, want a LimitError for 192.0.2.7", err)
	}
	if le.Wait <= 5*time.Second || le.Wait > 6*time.Second {
		t.Errorf("wait = %v, want about 6s", le.Wait)
	}
	if _, err := f.reg.Verify(t.Context(), here, "root", "x"); !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("a login from the limited source = %v, want ErrRateLimited", err)
	}
	if a, err := f.auth(t, there, f.root); err != nil || a != root {
		t.Errorf("another source = %+v, %v; want it unaffected", a, err)
	}
	f.clock.Advance(le.Wait)
	if a, err := f.auth(t, here, f.root); err != nil || a != root {
		t.Errorf("after the wait = %+v, %v; want root again", a, err)
	}
	if _, err := f.auth(t, here, "cft_guess"); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("one more guess after the wait = %v, want ErrUnauthenticated", err)
	}
	if _, err := f.auth(t, here, f.root); !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("after that guess = %v, want ErrRateLimited again", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.auth(t, here, f.root); err != nil {
		t.Errorf("a minute later = %v, want the whole allowance back", err)
	}

	// An IPv6 host picks addresses in its /64 at will: they share one limit.
	for i := range 10 {
		src := netip.MustParseAddr("2001:db8:1:2::" + strconv.Itoa(i+1))
		if _, err := f.auth(t, src, "cft_guess"); !errors.Is(err, curfew.ErrUnauthenticated) {
			t.Fatalf("IPv6 failure %d = %v", i+1, err)
		}
	}
	if _, err := f.auth(t, netip.MustParseAddr("2001:db8:1:2::ffff"), f.root); !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("another address of the /64 = %v, want ErrRateLimited", err)
	}
	if _, err := f.auth(t, netip.MustParseAddr("2001:db8:1:3::1"), f.root); err != nil {
		t.Errorf("another /64 = %v, want it unaffected", err)
	}
}

// TestFailuresAuditedInAggregate checks that a brute force writes about
// one audit entry per source and minute, and that together they count
// every attempt.
func TestFailuresAuditedInAggregate(t *testing.T) {
	f := newFixture(t, cheap)
	const attempts = 1000
	for range attempts {
		f.clock.Advance(50 * time.Millisecond) // 50 s in all
		f.auth(t, here, "cft_guess")
	}
	if n := f.failureEntries(t); len(n) != 1 {
		t.Errorf("%d auth.failure entries after %d attempts within a minute, want 1 (the first at once)", len(n), attempts)
	}
	f.clock.Advance(11 * time.Second)
	f.auth(t, here, "cft_guess") // a minute after the first entry: the tally is written
	f.reg.Flush(t.Context())
	failed, refused := 0, 0
	entries := f.failureEntries(t)
	for _, e := range entries {
		if e.After == nil || e.After.Source != "192.0.2.7" || e.After.First.IsZero() || e.After.Last.Before(e.After.First) {
			t.Fatalf("auth.failed event %s: %s", e, e.Encode())
		}
		failed, refused = failed+int(e.After.Failures), refused+int(e.After.Refused)
	}
	if len(entries) > 3 || failed+refused != attempts+1 || failed < 10 {
		t.Errorf("%d entries count %d failed and %d refused, want at most 3 counting all %d attempts", len(entries), failed, refused, attempts+1)
	}
	if last := entries[len(entries)-1].After; !slices.Contains(last.Causes, "unknown token") {
		t.Errorf("causes %q do not say why", last.Causes)
	}
}

func (f *fixture) failureEntries(t *testing.T) []*audit.Event {
	t.Helper()
	var out []*audit.Event
	for _, e := range f.events(t) {
		if e.Kind == audit.KindAuthFailed {
			out = append(out, e)
		}
	}
	return out
}

// TestCountedFailuresWrittenAtTheEnd checks that the failures counted but
// not yet written are in the audit log once Close returns, or once Run
// returns because its context is done.
func TestCountedFailuresWrittenAtTheEnd(t *testing.T) {
	for _, stop := range []string{"Close", "context done"} {
		t.Run(stop, func(t *testing.T) {
			f := newFixture(t, cheap)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.reg.Run(ctx)
			}()
			for range 3 {
				f.reg.Verify(t.Context(), there, "root", "guess")
			}
			if stop == "Close" {
				f.reg.Close()
			} else {
				cancel()
			}
			<-done
			failed := 0
			for _, e := range f.failureEntries(t) {
				failed += int(e.After.Failures)
			}
			if failed != 3 {
				t.Errorf("audit counts %d failed logins after %s, want 3", failed, stop)
			}
		})
	}
}
