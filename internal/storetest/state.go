package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

func testAudit(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("a new store has an empty log that verifies", func(t *testing.T) {
		s := newStore(t)
		if n := auditLen(t, s); n != 0 {
			t.Errorf("Audit() of a new store has %d entries, want 0", n)
		}
		wantVerified(t, s, 0)
	})

	t.Run("events are numbered from 1, each linked to the one before, kept byte for byte", func(t *testing.T) {
		s := newStore(t)
		var want []*audit.Event
		record := func(what string, a *audit.Event, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s = %v", what, err)
			}
			want = append(want, a)
		}
		a := entry("alice", curfew.ActionPerson, "resident")
		record("CreatePerson", a, s.CreatePerson(t.Context(), &curfew.Person{Name: "resident", Created: t0}, a))
		a = entry("alice", curfew.ActionRestrict, "")
		record("CreateRestriction", a, s.CreateRestriction(t.Context(), restriction("person:resident"), a))
		a = entry("admin", curfew.ActionOperator, "olga")
		record("CreateOperator", a, s.CreateOperator(t.Context(), &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0}, "", a))
		a = entry(curfew.SystemActor, "auth.failed", "192.0.2.1")
		record("AppendEvents", a, s.AppendEvents(t.Context(), a))

		got, data := events(t, s)
		if len(got) != len(want) {
			t.Fatalf("the log has %d events, want %d", len(got), len(want))
		}
		for i, e := range want {
			if e.Seq != int64(i+1) || got[i].Seq != e.Seq {
				t.Errorf("event %d: Seq = %d as written, %d as stored; want %d", i+1, e.Seq, got[i].Seq, i+1)
			}
			if !bytes.Equal(data[i], e.Encode()) {
				t.Errorf("event %d is stored as %s, want the encoding it was sealed with, %s", i+1, data[i], e.Encode())
			}
			var prev audit.Hash
			if i > 0 {
				prev = audit.Sum(data[i-1])
			}
			if got[i].Prev != prev {
				t.Errorf("event %d: Prev = %s, want the hash of the event before, %s", i+1, got[i].Prev, prev)
			}
		}
		wantVerified(t, s, int64(len(want)))
	})

	t.Run("an event without a time gets the store's, in UTC", func(t *testing.T) {
		s := newStore(t)
		a := entry("alice", curfew.ActionPerson, "resident")
		a.At = time.Time{}
		if err := s.CreatePerson(t.Context(), &curfew.Person{Name: "resident", Created: t0}, a); err != nil {
			t.Fatal(err)
		}
		if a.At.IsZero() || a.At.Location() != time.UTC {
			t.Errorf("At of an event given none = %v, want the store's time, in UTC", a.At)
		}
		got, _ := events(t, s)
		if len(got) != 1 || !got[0].At.Equal(a.At) {
			t.Errorf("the log = %+v; want the one event at %v", got, a.At)
		}
	})

	t.Run("AppendEvents records events and changes nothing else", func(t *testing.T) {
		s := newStore(t)
		a := entry(curfew.SystemActor, "auth.failed", "192.0.2.1")
		if err := s.AppendEvents(t.Context(), a); err != nil {
			t.Fatalf("AppendEvents() = %v", err)
		}
		if a.Seq != 1 {
			t.Errorf("AppendEvents() gave Seq %d, want 1", a.Seq)
		}
		ps, _ := s.Persons(t.Context())
		ops, _ := s.Operators(t.Context())
		rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
		if len(ps)+len(ops)+len(rs) != 0 {
			t.Errorf("after AppendEvents: %d persons, %d operators, %d restrictions; want none", len(ps), len(ops), len(rs))
		}
	})

	t.Run("an entry without an actor or action is invalid and writes nothing", func(t *testing.T) {
		s := newStore(t)
		noActor := entry("", curfew.ActionPerson, "p1")
		noAction := entry("alice", "", "p2")
		tests := []struct {
			name string
			do   func() error
		}{
			{"no entry", func() error { return s.CreatePerson(t.Context(), &curfew.Person{Name: "p0", Created: t0}, nil) }},
			{"no actor", func() error { return s.CreatePerson(t.Context(), &curfew.Person{Name: "p1", Created: t0}, noActor) }},
			{"no action", func() error { return s.CreatePerson(t.Context(), &curfew.Person{Name: "p2", Created: t0}, noAction) }},
			{"no entry for a restriction", func() error {
				return s.CreateRestriction(t.Context(), restriction("device:02:00:00:00:00:01"), nil)
			}},
			{"no actor for AppendEvents", func() error { return s.AppendEvents(t.Context(), entry("", "auth.failed", "x")) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.do(); !errors.Is(err, curfew.ErrInvalid) {
					t.Errorf("got %v, want ErrInvalid", err)
				}
			})
		}
		wantUnchangedAudit(t, s, 0, "changes without a proper audit entry")
		if ps, _ := s.Persons(t.Context()); len(ps) != 0 {
			t.Errorf("Persons() = %v, want none: a change without its audit entry must not be stored", ps)
		}
		if rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true}); len(rs) != 0 {
			t.Errorf("Restrictions() = %d, want none", len(rs))
		}
	})
}

func testAtomicity(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("a device failing at its second address leaves no device", func(t *testing.T) {
		s := newStore(t)
		addr := netip.MustParseAddr("fd00:50::7")
		d := &curfew.Device{MAC: mustMAC("02:00:00:00:00:01"), Created: t0, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.7"), addr, addr}}
		a := entry("alice", curfew.ActionDevice, d.MAC.String())
		err := s.CreateDevice(t.Context(), d, a)
		if !errors.Is(err, curfew.ErrConflict) && !errors.Is(err, curfew.ErrInvalid) {
			t.Fatalf("CreateDevice(an address twice) = %v, want ErrConflict or ErrInvalid", err)
		}
		if _, err := s.Device(t.Context(), d.MAC); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Device(%s) after a failed create = %v, want ErrNotFound: half a change was kept", d.MAC, err)
		}
		if a.Seq != 0 || !a.Prev.IsZero() {
			t.Errorf("the audit event of a failed change was filled in: %+v", a)
		}
		wantUnchangedAudit(t, s, 0, "a failed device")
	})

	t.Run("a token clashing after its new operator leaves no operator", func(t *testing.T) {
		s := newStore(t)
		addOperator(t, s, "olga", curfew.RoleOperator, "")
		if err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s1"), nil, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		op := &curfew.Operator{Name: "vic", Role: curfew.RoleViewer, Created: t0}
		err := s.CreateToken(t.Context(), &curfew.Token{Name: "vic", Role: curfew.RoleViewer, Created: t0}, hash("s1"), op, entry("admin", curfew.ActionToken, "vic"))
		if !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateToken(vic, olga's hash) = %v, want ErrConflict", err)
		}
		if _, err := s.Operator(t.Context(), "vic"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Operator(vic) after its token was refused = %v, want ErrNotFound: half a change was kept", err)
		}
		wantUnchangedAudit(t, s, n, "a refused token")
	})

	t.Run("a cancelled context writes nothing", func(t *testing.T) {
		s := newStore(t)
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		r := restriction("device:02:00:00:00:00:01")
		if err := s.CreateRestriction(cancelled, r, entry("alice", curfew.ActionRestrict, "")); err == nil {
			t.Fatal("CreateRestriction(cancelled context) succeeded")
		}
		if err := s.CreatePerson(cancelled, &curfew.Person{Name: "resident", Created: t0}, entry("alice", curfew.ActionPerson, "resident")); err == nil {
			t.Fatal("CreatePerson(cancelled context) succeeded")
		}
		if r.ID != 0 {
			t.Errorf("restriction got ID %d from a failed create", r.ID)
		}
		wantUnchangedAudit(t, s, 0, "writes with a cancelled context")
		if rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true}); len(rs) != 0 {
			t.Errorf("Restrictions() = %d after a cancelled create, want none", len(rs))
		}
	})
}

func testConcurrency(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("concurrent writers lose nothing and keep one chain", func(t *testing.T) {
		s := newStore(t)
		const writers, each = 4, 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					var err error
					switch i % 3 {
					case 0:
						name := fmt.Sprintf("p%d-%d", w, i)
						err = s.CreatePerson(t.Context(), &curfew.Person{Name: name, Created: t0}, entry("alice", curfew.ActionPerson, name))
					case 1:
						err = s.CreateRestriction(t.Context(), restriction(fmt.Sprintf("device:02:00:00:00:%02x:%02x", w, i)), entry("alice", curfew.ActionRestrict, ""))
					case 2:
						err = s.CreateAppeal(t.Context(), appeal(fmt.Sprintf("device:02:00:00:00:%02x:%02x", w, i), "192.168.50.10", t0, 1), entry("x", curfew.ActionAppeal, ""))
					}
					if err != nil {
						t.Errorf("writer %d, write %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()

		es, data := events(t, s)
		if len(es) != writers*each {
			t.Errorf("the log has %d events after %d writes", len(es), writers*each)
		}
		for i, e := range es {
			if e.Seq != int64(i+1) || i > 0 && e.Prev != audit.Sum(data[i-1]) {
				t.Errorf("event %d: Seq %d, Prev %s; want Seq %d linked to the event before", i+1, e.Seq, e.Prev, i+1)
				break
			}
		}
		wantVerified(t, s, writers*each)
		rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
		seen := map[curfew.RestrictionID]bool{}
		for _, r := range rs {
			if seen[r.ID] {
				t.Errorf("restriction ID %d given twice", r.ID)
			}
			seen[r.ID] = true
		}
		ps, _ := s.Persons(t.Context())
		as, _ := s.Appeals(t.Context(), curfew.AppealFilter{})
		if want := writers * 4; len(ps) != want {
			t.Errorf("Persons() = %d, want %d", len(ps), want)
		}
		if want := writers * 3; len(rs) != want || len(as) != want {
			t.Errorf("Restrictions() = %d, Appeals() = %d; want %d each", len(rs), len(as), want)
		}
	})

	t.Run("readers never see a change without its audit entry", func(t *testing.T) {
		s := newStore(t)
		const writes = 30
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			for i := range writes {
				if err := s.CreateRestriction(t.Context(), restriction(fmt.Sprintf("device:02:00:00:00:01:%02x", i)), entry("alice", curfew.ActionRestrict, "")); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for reads := 0; reads < 1000; reads++ {
					select {
					case <-done:
						return
					default:
					}
					rs, err := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
					if err != nil {
						t.Errorf("Restrictions() = %v", err)
						return
					}
					head, err := s.AuditHead(t.Context())
					if err != nil {
						t.Errorf("AuditHead() = %v", err)
						return
					}
					if head.Seq < int64(len(rs)) {
						t.Errorf("a reader saw %d restrictions, then only %d audit events: a change was visible before its event", len(rs), head.Seq)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func testTimes(t *testing.T, newStore func(t *testing.T) Store) {
	// Times from the clock carry a monotonic reading and a location; what
	// comes back is the same instant, in UTC, without either. Stores keep at
	// least milliseconds.
	now := time.Now()
	if now == now.Round(0) {
		t.Fatal("time.Now() carries no monotonic reading on this platform; the test cannot tell")
	}
	check := func(t *testing.T, what string, got, want time.Time) {
		t.Helper()
		switch {
		case got.Location() != time.UTC:
			t.Errorf("%s = %v, in %v; want UTC", what, got, got.Location())
		case got != got.Round(0):
			t.Errorf("%s = %v carries a monotonic clock reading", what, got)
		case !got.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)):
			t.Errorf("%s = %v, want %v to the millisecond", what, got, want.UTC())
		}
	}
	// at is a time with a monotonic reading, zoned one in another zone
	// (In strips the monotonic reading).
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	zoned := func(d time.Duration) time.Time { return now.Add(d).In(zone) }

	t.Run("restriction times", func(t *testing.T) {
		s := newStore(t)
		r := restriction("device:02:00:00:00:00:01")
		r.Start, r.End, r.Created = zoned(time.Minute), at(time.Hour), at(0)
		r.Lifted, r.Expired = at(2*time.Minute), zoned(3*time.Minute)
		r.Approval = curfew.Approval{State: curfew.ApprovalApproved, Asker: "alice", ExtendTo: at(2 * time.Hour), Decided: zoned(time.Second), By: "bob"}
		want := *r
		create(t, s, r)
		got, err := s.Restriction(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Start", got.Start, want.Start)
		check(t, "End", got.End, want.End)
		check(t, "Created", got.Created, want.Created)
		check(t, "Lifted", got.Lifted, want.Lifted)
		check(t, "Expired", got.Expired, want.Expired)
		check(t, "Approval.ExtendTo", got.Approval.ExtendTo, want.Approval.ExtendTo)
		check(t, "Approval.Decided", got.Approval.Decided, want.Approval.Decided)

		r.End, r.Lifted = zoned(4*time.Hour), at(5*time.Minute)
		update(t, s, r, curfew.ActionExtend)
		got, err = s.Restriction(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "End after an update", got.End, at(4*time.Hour))
		check(t, "Lifted after an update", got.Lifted, at(5*time.Minute))
	})

	t.Run("person, device, operator, token, appeal and audit times", func(t *testing.T) {
		s := newStore(t)
		p := &curfew.Person{Name: "resident", Created: at(0)}
		pa := entry("alice", curfew.ActionPerson, "resident")
		pa.At = zoned(time.Millisecond)
		if err := s.CreatePerson(t.Context(), p, pa); err != nil {
			t.Fatal(err)
		}
		check(t, "audit entry At as returned", pa.At, at(time.Millisecond))
		d := &curfew.Device{MAC: mustMAC("02:00:00:00:00:01"), Created: zoned(time.Second)}
		if err := s.CreateDevice(t.Context(), d, entry("alice", curfew.ActionDevice, d.MAC.String())); err != nil {
			t.Fatal(err)
		}
		op := &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: at(2 * time.Second)}
		tok := &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: at(3 * time.Second)}
		if err := s.CreateToken(t.Context(), tok, hash("s1"), op, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		tok.Revoked, tok.RevokedBy = zoned(4*time.Second), "admin"
		if err := s.RevokeToken(t.Context(), tok, entry("admin", curfew.ActionRevokeToken, "olga")); err != nil {
			t.Fatal(err)
		}
		op.Disabled, op.DisabledBy = at(5*time.Second), "admin"
		if err := s.DisableOperator(t.Context(), op, entry("admin", curfew.ActionDisableOperator, "olga")); err != nil {
			t.Fatal(err)
		}
		ap := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", at(6*time.Second), 1))
		ap.Answer, ap.Answered, ap.AnsweredBy = "soon", zoned(7*time.Second), "olga"
		if err := s.AnswerAppeal(t.Context(), ap, entry("olga", curfew.ActionAnswer, "1")); err != nil {
			t.Fatal(err)
		}

		gp, err := s.Person(t.Context(), "resident")
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Person.Created", gp.Created, at(0))
		gd, err := s.Device(t.Context(), d.MAC)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Device.Created", gd.Created, at(time.Second))
		gop, err := s.Operator(t.Context(), "olga")
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Operator.Created", gop.Created, at(2*time.Second))
		check(t, "Operator.Disabled", gop.Disabled, at(5*time.Second))
		gt, err := s.TokenByHash(t.Context(), hash("s1"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Token.Created", gt.Created, at(3*time.Second))
		check(t, "Token.Revoked", gt.Revoked, at(4*time.Second))
		ga, err := s.Appeal(t.Context(), ap.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "Appeal.Created", ga.Created, at(6*time.Second))
		check(t, "Appeal.Answered", ga.Answered, at(7*time.Second))
		es, _ := events(t, s)
		if len(es) == 0 {
			t.Fatal("the log is empty")
		}
		check(t, "Event.At", es[0].At, at(time.Millisecond))
	})

	t.Run("times far from now and before 1970", func(t *testing.T) {
		s := newStore(t)
		for _, when := range []time.Time{
			time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
			time.Date(2000, 2, 29, 12, 0, 0, 1_000_000, time.UTC),
			time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		} {
			name := "p" + when.Format("20060102")
			if err := s.CreatePerson(t.Context(), &curfew.Person{Name: name, Created: when}, entry("alice", curfew.ActionPerson, name)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Person(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "Person.Created of "+name, got.Created, when)
		}
	})
}

func testDurability(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("what was committed is there after reopening", func(t *testing.T) {
		s := newStore(t)
		ro, ok := s.(Reopener)
		if !ok {
			t.Fatalf("%T is not a storetest.Reopener: the suite cannot check that its state survives a restart", s)
		}
		addPerson(t, s, "resident")
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mustMAC("02:00:00:00:00:01"), Owner: "resident", Created: t0,
			Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10"), netip.MustParseAddr("fd00:50::10")}}, entry("alice", curfew.ActionDevice, "02:00:00:00:00:01")); err != nil {
			t.Fatal(err)
		}
		withKey := restriction("person:resident")
		if err := s.CreateRestriction(keyed(t, "k-durable"), withKey, entry("alice", curfew.ActionRestrict, "")); err != nil {
			t.Fatal(err)
		}
		lifted := create(t, s, restriction("ip:10.9.0.0/24"))
		lifted.Lifted, lifted.LiftedBy, lifted.LiftReason = t0.Add(time.Minute), "bob", "done"
		update(t, s, lifted, curfew.ActionLift)
		op := &curfew.Operator{Name: "olga", Role: curfew.RoleOperator, Created: t0}
		if err := s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: curfew.RoleOperator, Created: t0}, hash("s1"), op, entry("admin", curfew.ActionToken, "olga")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(t.Context(), "olga", phc, false, entry("olga", curfew.ActionPassword, "olga")); err != nil {
			t.Fatal(err)
		}
		ap := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, withKey.ID))

		before := snapshot(t, s)
		s2 := ro.Reopen(t)
		after := snapshot(t, s2)
		if diff := cmp.Diff(before, after, cmpOpts); diff != "" {
			t.Errorf("state after reopening (-before +after):\n%s", diff)
		}
		if got, err := s2.Request(t.Context(), "alice", "k-durable"); err != nil || got.Target != fmt.Sprint(withKey.ID) {
			t.Errorf("Request(alice, k-durable) after reopening = %+v, %v; want the record of restriction %d", got, err, withKey.ID)
		}
		if got, err := s2.Password(t.Context(), "olga"); err != nil || got != phc {
			t.Errorf("Password(olga) after reopening = %q, %v; want %q", got, err, phc)
		}
		wantVerified(t, s2, int64(len(before.Audit)))

		// New IDs and entries carry on where the old ones stopped.
		next := create(t, s2, restriction("device:02:00:00:00:00:02"))
		if next.ID <= lifted.ID {
			t.Errorf("restriction created after reopening got ID %d, want one above %d: IDs are never reused", next.ID, lifted.ID)
		}
		nextAppeal := addAppeal(t, s2, appeal("device:02:00:00:00:00:02", "192.168.50.11", t0))
		if nextAppeal.ID <= ap.ID {
			t.Errorf("appeal created after reopening got ID %d, want one above %d", nextAppeal.ID, ap.ID)
		}
		es, _ := events(t, s2)
		if n := len(before.Audit); len(es) != n+2 || es[n].Seq != int64(n+1) || es[n].Prev != audit.Sum([]byte(before.Audit[n-1])) {
			t.Errorf("after reopening, the log has %d events and goes on with %+v; want %d, linked to event %d", len(es), es[n:], n+2, n)
		}
		wantVerified(t, s2, int64(len(es)))
	})
}

// state is everything a store lists.
type state struct {
	Restrictions []*curfew.Restriction
	Persons      []*curfew.Person
	Devices      []*curfew.Device
	Operators    []*curfew.Operator
	Tokens       []*curfew.Token
	Appeals      []*curfew.Appeal
	Audit        []string // the events' encodings
}

func snapshot(t *testing.T, s Store) state {
	t.Helper()
	var st state
	var errs [7]error
	st.Restrictions, errs[0] = s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
	st.Persons, errs[1] = s.Persons(t.Context())
	st.Devices, errs[2] = s.Devices(t.Context())
	st.Operators, errs[3] = s.Operators(t.Context())
	st.Tokens, errs[4] = s.Tokens(t.Context())
	st.Appeals, errs[5] = s.Appeals(t.Context(), curfew.AppealFilter{})
	_, data := events(t, s)
	for _, b := range data {
		st.Audit = append(st.Audit, string(b))
	}
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("reading the store: %v", err)
	}
	return st
}

func testUnreadable(t *testing.T, newStore func(t *testing.T) Store) {
	// A row the store cannot read back would break every listing that
	// reaches it: one bad restriction would stop the daemon from reading
	// any at start-up. So the store refuses, as invalid, what it could not
	// give back as it was given.
	s := newStore(t)
	addOperator(t, s, "olga", curfew.RoleOperator, "")
	stored := create(t, s, restriction("person:resident"))
	n := auditLen(t, s)
	unmasked := restriction("ip:10.9.0.0/24")
	unmasked.Subject.Prefix = netip.MustParsePrefix("10.9.0.5/24")
	tests := []struct {
		name string
		do   func() error
	}{
		{"a device subject without a MAC", func() error {
			r := restriction("device:02:00:00:00:00:01")
			r.Subject.MAC = nil
			return s.CreateRestriction(t.Context(), r, entry("alice", curfew.ActionRestrict, ""))
		}},
		{"a subject of an unknown kind", func() error {
			r := restriction("person:resident")
			r.Subject.Kind = "vlan"
			return s.CreateRestriction(t.Context(), r, entry("alice", curfew.ActionRestrict, ""))
		}},
		{"an ip subject with host bits set", func() error {
			return s.CreateRestriction(t.Context(), unmasked, entry("alice", curfew.ActionRestrict, ""))
		}},
		{"an unknown approval state", func() error {
			r := restriction("person:resident")
			r.Approval = curfew.Approval{State: "maybe", Asker: "alice"}
			return s.CreateRestriction(t.Context(), r, entry("alice", curfew.ActionRestrict, ""))
		}},
		{"an update to an unknown approval state", func() error {
			r := *stored
			r.Approval = curfew.Approval{State: "maybe", Asker: "alice"}
			return s.UpdateRestriction(t.Context(), &r, entry("bob", curfew.ActionApprove, ""))
		}},
		{"an operator with an unknown role", func() error {
			return s.CreateOperator(t.Context(), &curfew.Operator{Name: "root", Role: "root", Created: t0}, "", entry("admin", curfew.ActionOperator, "root"))
		}},
		{"a token with an unknown role", func() error {
			return s.CreateToken(t.Context(), &curfew.Token{Name: "olga", Role: "root", Created: t0}, hash("s1"), nil, entry("admin", curfew.ActionToken, "olga"))
		}},
		{"an appeal from a device without a MAC", func() error {
			a := appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, 1)
			a.From.MAC = nil
			return s.CreateAppeal(t.Context(), a, entry("x", curfew.ActionAppeal, ""))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
	wantUnchangedAudit(t, s, n, "refused writes")
	if rs, err := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true}); err != nil || len(rs) != 1 {
		t.Errorf("Restrictions(All) after refused writes = %d restrictions, %v; want the one stored before", len(rs), err)
	} else if diff := cmp.Diff(stored, rs[0], cmpOpts); diff != "" {
		t.Errorf("restriction %d after a refused update (-want +got):\n%s", stored.ID, diff)
	}
	if _, err := s.Operators(t.Context()); err != nil {
		t.Errorf("Operators() after refused writes = %v", err)
	}
	if _, err := s.Tokens(t.Context()); err != nil {
		t.Errorf("Tokens() after refused writes = %v", err)
	}
	if _, err := s.Appeals(t.Context(), curfew.AppealFilter{}); err != nil {
		t.Errorf("Appeals() after refused writes = %v", err)
	}
}
