package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
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

	// The engine: the same key with another request is a conflict; another
	// operator's key of the same name is its own.
	alice := curfew.WithActor(ctx, curfew.Actor{Name: "alice", Role: curfew.RoleOperator})
	bob := curfew.WithActor(ctx, curfew.Actor{Name: "bob", Role: curfew.RoleOperator})
	req := curfew.RestrictRequest{Subject: "device:02:00:00:00:00:02", For: 3600e9, Reason: "r", Key: "k1"}
	first, err := eng.Restrict(alice, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := eng.Restrict(alice, req); err != nil || again.ID != first.ID {
		t.Errorf("the same request with the same key = %v, %v; want restriction %d again", again, err, first.ID)
	}
	other := req
	other.Reason = "something else"
	if _, err := eng.Restrict(alice, other); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("another request with a used key = %v, want ErrConflict", err)
	}
	if theirs, err := eng.Restrict(bob, req); err != nil || theirs.ID == first.ID {
		t.Errorf("another operator's request with the same key = %v, %v; want a restriction of its own", theirs, err)
	}
	bad := req
	bad.Key = "has space"
	if _, err := eng.Restrict(alice, bad); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("a key with a space = %v, want ErrInvalid", err)
	}
}
