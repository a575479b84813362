package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

// TestRestrictRetryIsIdempotent covers a restrict whose answer is lost
// after the daemon stored it (a crash, a dropped connection): the CLI
// sends it again with the same Idempotency-Key and gets the restriction
// the first one made, not a second one. A reused key with another
// request is refused, and keys are the author's own.
func TestRestrictRetryIsIdempotent(t *testing.T) {
	ctx := t.Context()
	// The first restrict is served, and stored, but its connection is
	// closed before the answer: the client sees the request fail.
	var mu sync.Mutex
	var keys []string
	dropped := false
	f := newDaemonFixture(t, engine.Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/api/v1/restrictions" {
				mu.Lock()
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				drop := !dropped
				dropped = true
				mu.Unlock()
				if drop {
					h.ServeHTTP(httptest.NewRecorder(), r)
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	eng := f.eng
	env := map[string]string{"CURFEW_SERVER": f.url, "CURFEW_TOKEN": f.admin}
	var stdout, stderr strings.Builder
	if code := run([]string{"restrict", "device:02:00:00:00:00:01", "--for", "1h", "--reason", "retried"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("curfew restrict = %d, stderr %q", code, stderr.String())
	}
	rs, err := eng.Restrictions(curfew.WithActor(ctx, curfew.Actor{Name: "admin", Role: curfew.RoleAdmin}), curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || strings.TrimSpace(stdout.String()) != "1" {
		t.Errorf("after a restrict whose first answer was lost: %d restrictions, printed %q; want 1 and its id", len(rs), stdout.String())
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Key of the two attempts = %q, want the same key twice", keys)
	}

	// The engine: the same key with another request is refused; another
	// operator's key of the same name is its own.
	with := func(name string, k curfew.RequestKey) context.Context {
		return curfew.WithRequestKey(curfew.WithActor(ctx, curfew.Actor{Name: name, Role: curfew.RoleOperator}), k)
	}
	k1 := curfew.RequestKey{Key: "k1", Fingerprint: "restrict device 2"}
	req := curfew.RestrictRequest{Subject: "device:02:00:00:00:00:02", For: time.Hour, Reason: "r"}
	first, err := eng.Restrict(with("alice", k1), req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := eng.Restrict(with("alice", k1), req); err != nil || again.ID != first.ID {
		t.Errorf("the same request with the same key = %v, %v; want restriction %d again", again, err, first.ID)
	}
	other := curfew.RequestKey{Key: "k1", Fingerprint: "restrict device 3"}
	if _, err := eng.Restrict(with("alice", other), curfew.RestrictRequest{Subject: "device:02:00:00:00:00:03", For: time.Hour, Reason: "r"}); !errors.Is(err, curfew.ErrKeyReused) {
		t.Errorf("another request with a used key = %v, want ErrKeyReused", err)
	}
	if _, err := eng.Lift(with("alice", k1), first.ID, "done"); !errors.Is(err, curfew.ErrKeyReused) {
		t.Errorf("a lift with the key of a restrict = %v, want ErrKeyReused", err)
	}
	if theirs, err := eng.Restrict(with("bob", k1), req); err != nil || theirs.ID == first.ID {
		t.Errorf("another operator's request with the same key = %v, %v; want a restriction of its own", theirs, err)
	}
	if _, err := eng.Restrict(with("alice", curfew.RequestKey{Key: "has space"}), req); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("a key with a space = %v, want ErrInvalid", err)
	}
}

// TestEveryWriteIsIdempotent sends each state-changing API call twice
// with one Idempotency-Key, through the real HTTP server, engine, access
// component and SQLite: the change is made once and the retry gets the
// first answer, except where that answer was a secret, which is never
// stored, and the retry is told so (409). The key with another request
// is refused with 422 problem+json and changes nothing.
func TestEveryWriteIsIdempotent(t *testing.T) {
	ctx := t.Context()
	f := newDaemonFixtureAt(t, filepath.Join(t.TempDir(), "curfew.db"),
		engine.Config{Approvals: curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour}}, nil)
	post := func(token, path, key, body string) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("POST %s = %d with Content-Type %q, want application/problem+json", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, string(b)
	}
	count := func(action curfew.Action) int {
		t.Helper()
		n := 0
		err := f.db.ReadAudit(ctx, 1, func(_ int64, data []byte, checkpoint bool) error {
			if checkpoint {
				return nil
			}
			e, err := audit.Decode(data)
			if err == nil && string(e.Kind) == string(action) {
				n++
			}
			return err
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	admin := f.admin
	var bob string // a second operator, for approvals; made by the token case
	restrict := func(subject, d string) string {
		t.Helper()
		status, body := post(admin, "/api/v1/restrictions", "setup-"+subject+d, fmt.Sprintf(`{"subject":%q,"for":%q,"reason":"setup"}`, subject, d))
		if status != http.StatusCreated {
			t.Fatalf("restrict %s = %d %s", subject, status, body)
		}
		var r api.Restriction
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(r.ID)
	}

	tests := []struct {
		name         string
		token        func() string
		path, body   string
		action       curfew.Action
		status       int
		secret       bool   // the answer holds a secret: a retry gets 409
		removal      bool   // what it removed is gone: a retry gets 409
		otherPath    string // the same key with another request: this path
		otherBody    string // and this body
		setup, after func(t *testing.T, body string)
	}{
		{name: "person add", path: "/api/v1/persons", body: `{"name":"resident"}`, action: curfew.ActionPerson, status: 201,
			otherBody: `{"name":"other"}`},
		{name: "device add", path: "/api/v1/devices", body: `{"mac":"02:00:00:00:00:01","owner":"resident"}`, action: curfew.ActionDevice, status: 201,
			otherBody: `{"mac":"02:00:00:00:00:02"}`},
		{name: "restrict", path: "/api/v1/restrictions", body: `{"subject":"device:02:00:00:00:00:01","for":"1h","reason":"first"}`, action: curfew.ActionRestrict, status: 201,
			otherBody: `{"subject":"device:02:00:00:00:00:01","for":"1h","reason":"second"}`},
		{name: "extend", path: "/api/v1/restrictions/1/extend", body: `{"for":"30m","reason":"review pending"}`, action: curfew.ActionExtend, status: 200,
			otherBody: `{"for":"2h","reason":"review pending"}`,
			after: func(t *testing.T, body string) {
				r, err := f.db.Restriction(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := r.End.Sub(r.Start), 90*time.Minute; got != want {
					t.Errorf("restriction 1 lasts %v after an extend sent twice, want %v: extended once", got, want)
				}
			}},
		{name: "lift", path: "/api/v1/restrictions/1/lift", body: `{"reason":"resolved"}`, action: curfew.ActionLift, status: 200,
			otherBody: `{"reason":"something else"}`},
		{name: "token create", path: "/api/v1/tokens", body: `{"name":"bob","role":"operator"}`, action: curfew.ActionToken, status: 201, secret: true,
			otherBody: `{"name":"carol","role":"operator"}`,
			after: func(t *testing.T, body string) {
				var tr api.TokenResponse
				if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.Secret == "" {
					t.Fatalf("token create answered %s", body)
				}
				bob = tr.Secret
			}},
		{name: "approve", token: func() string { return bob }, path: "/api/v1/restrictions/3/approve", body: `{"reason":"reviewed"}`, action: curfew.ActionApprove, status: 200,
			otherPath: "/api/v1/restrictions/4/approve", otherBody: `{"reason":"reviewed"}`,
			setup: func(t *testing.T, _ string) {
				for _, want := range []string{"2", "3", "4"} {
					if id := restrict("device:02:00:00:00:00:0"+want, "48h"); id != want {
						t.Fatalf("setup restriction got id %s, want %s", id, want)
					}
				}
			}},
		{name: "reject", token: func() string { return bob }, path: "/api/v1/restrictions/4/reject", body: `{"reason":"disproportionate"}`, action: curfew.ActionReject, status: 200,
			otherPath: "/api/v1/restrictions/2/reject", otherBody: `{"reason":"disproportionate"}`},
		{name: "appeal answer", path: "/api/v1/appeals/1/answer", body: `{"text":"Until Friday."}`, action: curfew.ActionAnswer, status: 200,
			otherBody: `{"text":"Never."}`,
			setup: func(t *testing.T, _ string) {
				id := restrict("device:02:00:00:00:00:09", "1h")
				var rid curfew.RestrictionID
				fmt.Sscan(id, &rid)
				if _, err := f.eng.Appeal(ctx, curfew.AppealRequest{MAC: []byte{2, 0, 0, 0, 0, 9}, Addr: netip.MustParseAddr("192.168.50.9"),
					Restrictions: []curfew.RestrictionID{rid}, Message: "why?"}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "group add", path: "/api/v1/groups", body: `{"name":"staff"}`, action: curfew.ActionGroup, status: 201,
			otherBody: `{"name":"other"}`},
		{name: "group member add", path: "/api/v1/groups/staff/members", body: `{"member":"person:resident"}`, action: curfew.ActionGroupMember, status: 200,
			otherBody: `{"member":"device:02:00:00:00:00:05"}`},
		{name: "group member remove", path: "/api/v1/groups/staff/members/remove", body: `{"member":"person:resident"}`, action: curfew.ActionGroupLeave, status: 200,
			otherBody: `{"member":"device:02:00:00:00:00:05"}`},
		{name: "device remove", path: "/api/v1/devices/02:00:00:00:00:01/remove", body: `{"reason":"gone"}`, action: curfew.ActionRemoveDevice, status: 200, removal: true,
			otherPath: "/api/v1/devices/02:00:00:00:00:07/remove", otherBody: `{"reason":"gone"}`},
		{name: "person remove", path: "/api/v1/persons/leaver/remove", body: `{"reason":"moved out"}`, action: curfew.ActionRemovePerson, status: 200, removal: true,
			otherPath: "/api/v1/persons/resident/remove", otherBody: `{"reason":"moved out"}`,
			setup: func(t *testing.T, _ string) {
				if status, body := post(admin, "/api/v1/persons", "setup-leaver", `{"name":"leaver"}`); status != http.StatusCreated {
					t.Fatalf("person add leaver = %d %s", status, body)
				}
			}},
		{name: "operator add", path: "/api/v1/operators", body: `{"name":"olga","role":"viewer"}`, action: curfew.ActionOperator, status: 201, secret: true,
			otherBody: `{"name":"oscar","role":"viewer"}`},
		{name: "operator password", path: "/api/v1/operators/olga/password", action: curfew.ActionPassword, status: 200, secret: true,
			otherPath: "/api/v1/operators/admin/password"},
		{name: "token revoke", path: "/api/v1/tokens/bob/revoke", action: curfew.ActionRevokeToken, status: 200,
			otherPath: "/api/v1/tokens/admin/revoke"},
		{name: "operator disable", path: "/api/v1/operators/olga/disable", body: `{"reason":"left"}`, action: curfew.ActionDisableOperator, status: 200,
			otherPath: "/api/v1/operators/admin/disable", otherBody: `{"reason":"left"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := admin
			if tt.token != nil {
				token = tt.token()
			}
			if tt.setup != nil {
				tt.setup(t, "")
			}
			key := "key-" + strings.ReplaceAll(tt.name, " ", "-")
			status, first := post(token, tt.path, key, tt.body)
			if status != tt.status {
				t.Fatalf("POST %s = %d %s, want %d", tt.path, status, first, tt.status)
			}
			applied := count(tt.action)
			status, again := post(token, tt.path, key, tt.body)
			switch {
			case tt.secret && (status != http.StatusConflict || !strings.Contains(again, "shown only once")):
				t.Errorf("retry of POST %s = %d %s; want 409 saying the secret is shown only once", tt.path, status, again)
			case tt.removal && (status != http.StatusConflict || !strings.Contains(again, "was removed by this request")):
				t.Errorf("retry of POST %s = %d %s; want 409 saying the removal was made", tt.path, status, again)
			case !tt.secret && !tt.removal && (status != tt.status || toMillis(t, again) != toMillis(t, first)):
				t.Errorf("retry of POST %s = %d %s; want the first answer, %d %s", tt.path, status, again, tt.status, first)
			}
			if n := count(tt.action); n != applied {
				t.Errorf("after the retry the audit log has %d %s entries, want %d: the change was made again", n, tt.action, applied)
			}

			otherPath := tt.path
			if tt.otherPath != "" {
				otherPath = tt.otherPath
			}
			before := auditLen(t, f)
			status, body := post(token, otherPath, key, tt.otherBody)
			var problem api.ErrorResponse
			if err := json.Unmarshal([]byte(body), &problem); err != nil || status != http.StatusUnprocessableEntity || problem.Code != "key_reused" {
				t.Errorf("POST %s with the key of POST %s = %d %s; want 422 key_reused", otherPath, tt.path, status, body)
			}
			if n := auditLen(t, f); n != before {
				t.Errorf("a refused reuse of the key wrote %d audit entries, want none", n-before)
			}
			if tt.after != nil {
				tt.after(t, first)
			}
		})
	}
	// The refused requests changed nothing: admin still works and was
	// neither disabled nor given a new password.
	if status, body := post(admin, "/api/v1/persons", "last", `{"name":"last"}`); status != http.StatusCreated {
		t.Errorf("admin's token after the refused reuses = %d %s, want it still working", status, body)
	}
	if r, err := f.db.Restriction(ctx, 2); err != nil || r.Approval.State != curfew.ApprovalPending {
		t.Errorf("restriction 2 = %+v, %v; want still pending (its reject reused a key)", r, err)
	}
	if _, err := f.db.Person(ctx, "other"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("person other = %v, want never created (its add reused a key)", err)
	}
	if _, err := f.db.Person(ctx, "resident"); err != nil {
		t.Errorf("person resident = %v, want kept (its removal reused a key)", err)
	}
}

// toMillis returns the JSON answer body with every time in it cut to the
// millisecond, the precision the store keeps: the first answer of a
// change carries the engine's clock, its repetition what was stored.
func toMillis(t *testing.T, body string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("answer %q is not JSON: %v", body, err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			if at, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return at.Truncate(time.Millisecond).Format(time.RFC3339Nano)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBadIdempotencyKey checks that a malformed key is refused with 400
// before anything changes.
func TestBadIdempotencyKey(t *testing.T) {
	f := newDaemonFixture(t, engine.Config{}, nil)
	for _, keys := range [][]string{{"has space"}, {""}, {strings.Repeat("k", curfew.MaxRequestKeyLen+1)}, {"a", "b"}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.url+"/api/v1/persons", strings.NewReader(`{"name":"p"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.admin)
		for _, k := range keys {
			req.Header.Add("Idempotency-Key", k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "Idempotency-Key") {
			t.Errorf("Idempotency-Key %q = %d %s; want 400 naming the header", keys, resp.StatusCode, b)
		}
	}
	if ps, err := f.db.Persons(t.Context()); err != nil || len(ps) != 0 {
		t.Errorf("Persons() = %v, %v; want none after refused requests", ps, err)
	}
}

// TestExtendRetriedAcrossRestart kills the daemon after it stored an
// extend and before it answered, and starts it again on the same
// database: the CLI's retry reaches the new daemon and the restriction
// is extended once, not twice.
func TestExtendRetriedAcrossRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "curfew.db")
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()

	// start runs a daemon's parts on the file and serves them on ln until
	// the returned stop is called, as a kill would end it.
	type daemon struct {
		db   *sqlite.DB
		eng  *engine.Engine
		acc  *access.Registry
		srv  *http.Server
		done chan struct{}
	}
	start := func(ln net.Listener, wrap func(http.Handler) http.Handler) *daemon {
		t.Helper()
		d := &daemon{done: make(chan struct{})}
		var err error
		if d.db, err = sqlite.Open(ctx, path, &sqlite.Config{CheckpointPath: filepath.Join(dir, "audit.checkpoint"), Logger: logger}); err != nil {
			t.Fatal(err)
		}
		if d.eng, err = engine.New(&engine.Config{Store: d.db, Backends: []enforce.Backend{&enforce.Memory{}}, Logger: logger, VerifyInterval: -1, AuditKey: key}); err != nil {
			t.Fatal(err)
		}
		if d.acc, err = access.New(&access.Config{Store: d.db, Logger: logger, Argon2: access.Argon2Params{Time: 1, Memory: 64, Threads: 1}}); err != nil {
			t.Fatal(err)
		}
		h, err := api.NewHandler(&api.HandlerConfig{Service: d.eng, Auth: d.acc, Accounts: d.acc, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if wrap != nil {
			h = wrap(h)
		}
		d.srv = &http.Server{Handler: h}
		go func() { defer close(d.done); d.srv.Serve(ln) }()
		return d
	}
	stop := func(d *daemon) {
		d.srv.Close()
		<-d.done
		d.acc.Close()
		d.eng.Close()
		d.db.Close()
	}

	killed := make(chan struct{})
	var once sync.Once
	first := start(ln, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/extend") {
				stored := false
				once.Do(func() {
					h.ServeHTTP(httptest.NewRecorder(), r) // stored, never answered
					stored = true
				})
				if stored {
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					close(killed)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	admin, err := first.acc.Bootstrap(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	actor := curfew.WithActor(ctx, curfew.Actor{Name: "admin", Role: curfew.RoleAdmin})
	made, err := first.eng.Restrict(actor, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", For: time.Hour, Reason: "before the crash"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := first.db.Restriction(ctx, made.ID)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		code           int
		stdout, stderr string
	}
	res := make(chan result, 1)
	go func() {
		env := map[string]string{"CURFEW_SERVER": "http://" + addr, "CURFEW_TOKEN": admin}
		var stdout, stderr strings.Builder
		code := run([]string{"extend", fmt.Sprint(r.ID), "--for", "30m", "--reason", "review pending"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
		res <- result{code, stdout.String(), stderr.String()}
	}()

	select {
	case <-killed:
	case got := <-res:
		t.Fatalf("curfew extend ended before the daemon was killed: %+v", got)
	case <-time.After(20 * time.Second):
		t.Fatal("the extend did not reach the daemon within 20 s")
	}
	stop(first)
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	second := start(ln2, nil)
	defer stop(second)

	var got result
	select {
	case got = <-res:
	case <-time.After(40 * time.Second):
		t.Fatal("curfew extend did not finish within 40 s of the restart")
	}
	if got.code != 0 {
		t.Fatalf("curfew extend across a restart = %d, stderr %q", got.code, got.stderr)
	}
	after, err := second.db.Restriction(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.End.Sub(r.End); d != 30*time.Minute {
		t.Errorf("restriction %d ends %v later after an extend --for 30m retried across a restart, want 30m", r.ID, d)
	}
	n := 0
	err = second.db.ReadAudit(ctx, 1, func(_ int64, data []byte, checkpoint bool) error {
		if checkpoint {
			return nil
		}
		e, err := audit.Decode(data)
		if err == nil && e.Kind == audit.KindRestrictionExtended {
			n++
		}
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the audit log has %d extend entries, want 1", n)
	}
}

// auditLen returns how many events f's audit log holds.
func auditLen(t *testing.T, f *daemonFixture) int {
	t.Helper()
	head, err := f.db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return int(head.Seq)
}
