package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// keyed returns t's context carrying the request key key, with a
// fingerprint made from it.
func keyed(t *testing.T, key string) context.Context {
	return curfew.WithRequestKey(t.Context(), curfew.RequestKey{Key: key, Fingerprint: "fp-" + key})
}

func testRequestKeys(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("every kind of change records its key with what it did", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		addPerson(t, s, "resident")
		stored := create(t, s, restriction("person:resident"))
		ap := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, stored.ID))
		if err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s0"), nil, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name string
			do   func(ctx context.Context, a *audit.Event) error
			a    *audit.Event
		}{
			{"create restriction", func(ctx context.Context, a *audit.Event) error {
				return s.CreateRestriction(ctx, restriction("device:02:00:00:00:00:01"), a)
			}, entry("alice", curfew.ActionRestrict, "")},
			{"update restriction", func(ctx context.Context, a *audit.Event) error {
				r := *stored
				r.End = t0.Add(2 * time.Hour)
				return s.UpdateRestriction(ctx, &r, a)
			}, entry("alice", curfew.ActionExtend, strconv.FormatInt(int64(stored.ID), 10))},
			{"create person", func(ctx context.Context, a *audit.Event) error {
				return s.CreatePerson(ctx, &curfew.Person{Name: "guest", Created: t0}, a)
			}, entry("alice", curfew.ActionPerson, "guest")},
			{"create device", func(ctx context.Context, a *audit.Event) error {
				return s.CreateDevice(ctx, &curfew.Device{MAC: mustMAC("02:00:00:00:00:02"), Created: t0}, a)
			}, entry("alice", curfew.ActionDevice, "02:00:00:00:00:02")},
			{"create appeal", func(ctx context.Context, a *audit.Event) error {
				return s.CreateAppeal(ctx, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, stored.ID), a)
			}, entry("device:02:00:00:00:00:01", curfew.ActionAppeal, "")},
			{"answer appeal", func(ctx context.Context, a *audit.Event) error {
				answered := *ap
				answered.Answer, answered.Answered, answered.AnsweredBy = "soon", t0, "alice"
				return s.AnswerAppeal(ctx, &answered, a)
			}, entry("alice", curfew.ActionAnswer, strconv.FormatInt(int64(ap.ID), 10))},
			{"create operator", func(ctx context.Context, a *audit.Event) error {
				return s.CreateOperator(ctx, &curfew.Operator{Name: "vic", Role: curfew.RoleViewer, Created: t0}, phc, a)
			}, entry("admin", curfew.ActionOperator, "vic")},
			{"set password", func(ctx context.Context, a *audit.Event) error {
				return s.SetPassword(ctx, "olga", phc, true, a)
			}, entry("admin", curfew.ActionPassword, "olga")},
			{"revoke token", func(ctx context.Context, a *audit.Event) error {
				return s.RevokeToken(ctx, &curfew.Token{Name: "olga", Revoked: t0, RevokedBy: "admin"}, a)
			}, entry("admin", curfew.ActionRevokeToken, "olga")},
			{"create token", func(ctx context.Context, a *audit.Event) error {
				return s.CreateToken(ctx, &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s1"), nil, a)
			}, entry("admin", curfew.ActionToken, "olga")},
			{"disable operator", func(ctx context.Context, a *audit.Event) error {
				return s.DisableOperator(ctx, &curfew.Operator{Name: "olga", Disabled: t0, DisabledBy: "admin", DisableReason: "left"}, a)
			}, entry("admin", curfew.ActionDisableOperator, "olga")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := "k-" + string(tt.a.Kind)
				if err := tt.do(keyed(t, key), tt.a); err != nil {
					t.Fatalf("%s with key %q = %v", tt.name, key, err)
				}
				target := targetOf(tt.a)
				if target == "" {
					t.Fatalf("%s: the audit event names no target", tt.name)
				}
				got, err := s.Request(t.Context(), tt.a.Actor, key)
				if err != nil {
					t.Fatalf("Request(%s, %s) = %v", tt.a.Actor, key, err)
				}
				want := &curfew.KeyedRequest{Actor: tt.a.Actor, Key: key, Fingerprint: "fp-" + key, Action: curfew.Action(tt.a.Kind), Target: target, Created: tt.a.At}
				if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
					t.Errorf("Request(%s, %s) (-want +got):\n%s", tt.a.Actor, key, diff)
				}
			})
		}
	})

	t.Run("keys are their actor's own", func(t *testing.T) {
		s := newStore(t)
		mine := restriction("device:02:00:00:00:00:01")
		create(t, s, mine) // without a key
		if err := s.CreateRestriction(keyed(t, "shared"), restriction("device:02:00:00:00:00:02"), entry("alice", curfew.ActionRestrict, "")); err != nil {
			t.Fatalf("CreateRestriction(alice, shared) = %v", err)
		}
		if err := s.CreatePerson(keyed(t, "shared"), &curfew.Person{Name: "p", Created: t0}, entry("bob", curfew.ActionPerson, "p")); err != nil {
			t.Fatalf("CreatePerson(bob, shared) = %v", err)
		}
		for actor, want := range map[string]curfew.Action{"alice": curfew.ActionRestrict, "bob": curfew.ActionPerson} {
			if got, err := s.Request(t.Context(), actor, "shared"); err != nil || got.Action != want {
				t.Errorf("Request(%s, shared) = %+v, %v; want the %s", actor, got, err, want)
			}
		}
		if _, err := s.Request(t.Context(), "carol", "shared"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Request(carol, shared) = %v, want ErrNotFound", err)
		}
		if _, err := s.Request(t.Context(), "alice", "never-sent"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Request(alice, never-sent) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a key used twice by one actor is a conflict and writes nothing", func(t *testing.T) {
		s := newStore(t)
		first := restriction("device:02:00:00:00:00:01")
		if err := s.CreateRestriction(keyed(t, "once"), first, entry("alice", curfew.ActionRestrict, "")); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		again := restriction("device:02:00:00:00:00:02")
		if err := s.CreateRestriction(keyed(t, "once"), again, entry("alice", curfew.ActionRestrict, "")); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateRestriction(used key) = %v, want ErrConflict", err)
		}
		if err := s.CreatePerson(keyed(t, "once"), &curfew.Person{Name: "p", Created: t0}, entry("alice", curfew.ActionPerson, "p")); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreatePerson(used key) = %v, want ErrConflict", err)
		}
		if again.ID != 0 {
			t.Errorf("refused restriction got ID %d", again.ID)
		}
		wantUnchangedAudit(t, s, n, "changes with a used key")
		if rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true}); len(rs) != 1 {
			t.Errorf("Restrictions(All) = %d restrictions after a refused create, want 1", len(rs))
		}
		if _, err := s.Person(t.Context(), "p"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Person(p) after a refused create = %v, want ErrNotFound", err)
		}
		if got, err := s.Request(t.Context(), "alice", "once"); err != nil || got.Target != strconv.FormatInt(int64(first.ID), 10) {
			t.Errorf("Request(alice, once) = %+v, %v; want the first restriction's", got, err)
		}
	})

	t.Run("a failed change records no key", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		if err := s.CreatePerson(keyed(t, "k"), &curfew.Person{Name: "resident", Created: t0}, entry("alice", curfew.ActionPerson, "resident")); !errors.Is(err, curfew.ErrConflict) {
			t.Fatalf("CreatePerson(duplicate) = %v, want ErrConflict", err)
		}
		if _, err := s.Request(t.Context(), "alice", "k"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Request(alice, k) after a failed change = %v, want ErrNotFound: the key of a change that was not made must stay free", err)
		}
		if err := s.CreatePerson(keyed(t, "k"), &curfew.Person{Name: "guest", Created: t0}, entry("alice", curfew.ActionPerson, "guest")); err != nil {
			t.Errorf("CreatePerson(guest) with the key of the failed change = %v", err)
		}
	})

	t.Run("a malformed key is invalid and writes nothing", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreatePerson(keyed(t, "has space"), &curfew.Person{Name: "p", Created: t0}, entry("alice", curfew.ActionPerson, "p")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreatePerson(key with a space) = %v, want ErrInvalid", err)
		}
		wantUnchangedAudit(t, s, 0, "a change with a malformed key")
	})
}

// targetOf is what a KeyedRequest names as the target of the change e
// records: a restriction's ID, an appeal's number, a device's MAC, a
// person's name, group:NAME, an operator's or a token's name.
func targetOf(e *audit.Event) string {
	switch {
	case e.After != nil && e.After.Appeal != 0:
		return strconv.FormatInt(e.After.Appeal, 10)
	case e.Restriction != 0:
		return strconv.FormatInt(int64(e.Restriction), 10)
	case strings.HasPrefix(e.Subject, "device:") || strings.HasPrefix(e.Subject, "person:"):
		_, rest, _ := strings.Cut(e.Subject, ":")
		return rest
	case e.Subject != "":
		return e.Subject
	case e.After != nil && e.After.Name != "":
		return e.After.Name
	case e.After != nil && e.After.Token != "":
		return e.After.Token
	}
	return ""
}
