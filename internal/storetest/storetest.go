// Package storetest is the conformance suite of curfew's store contract:
// Run holds a store, through its exported methods only, to the behaviour
// the engine and the access component rely on.
//
// The contract is spread over two interfaces today, and a store must
// satisfy both: [engine.Store] (restrictions, persons, devices, groups,
// appeals, the audit log) and [access.Store] (operators, console passwords,
// tokens), which share the request keys. [Store] is their union. SQLite ([sqlite.DB]) passes
// it; a second store, such as the PostgreSQL one a multi-site controller
// will need, must pass it too before curfew can run on it:
//
//   - every change is written in one transaction with the audit entry that
//     records it, and with the request key its context carries
//     ([curfew.WithRequestKey]): all are stored or none, a key its actor
//     already used is a conflict, and a failed change leaves its arguments
//     (assigned IDs, the entry's Seq and Hash) untouched and its key free;
//   - IDs of restrictions and appeals are positive, assigned in ascending
//     order of creation and never reused, also across a restart; lists come
//     back in the documented order (IDs, names, MACs, sequence numbers);
//   - every field written reads back equal, empty lists as nil, and times in
//     UTC, without a monotonic clock reading, to the millisecond at least;
//   - a missing object is an error wrapping [curfew.ErrNotFound], a
//     duplicate one wrapping [curfew.ErrConflict], a malformed argument one
//     wrapping [curfew.ErrInvalid], and none of them writes anything;
//   - what the store could not read back as it was given (a subject that
//     does not parse or is not in its canonical form, an unknown role or
//     approval state) is refused as invalid, so that no row can break the
//     listings that reach it;
//   - concurrent writers are serialised: nothing is lost and the audit log
//     stays one unbroken chain, numbered 1, 2, 3, … without gaps;
//   - what was committed survives closing and opening the store again
//     ([Reopener]).
//
// The audit log is checked as it stands: a chain of entries, each carrying
// its predecessor's hash, that VerifyAudit accepts. How entries are hashed
// is the store's business.
package storetest

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// Store is the whole store contract: what the engine and the access
// component need from persistent storage.
type Store interface {
	engine.Store
	access.Store
}

// A Reopener is a store whose state outlives it. Reopen closes the store
// and returns a new handle on the same durable state (the same file, the
// same database), arranging its cleanup with t. Run checks durability
// through it, and fails for a store that is not one.
type Reopener interface {
	Store
	Reopen(t *testing.T) Store
}

// Run runs the suite. newStore must return a new, empty store on each
// call (no persons, operators or audit entries), and arrange its cleanup
// with t.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("restrictions", func(t *testing.T) { testRestrictions(t, newStore) })
	t.Run("request keys", func(t *testing.T) { testRequestKeys(t, newStore) })
	t.Run("persons", func(t *testing.T) { testPersons(t, newStore) })
	t.Run("devices", func(t *testing.T) { testDevices(t, newStore) })
	t.Run("pages", func(t *testing.T) { testPages(t, newStore) })
	t.Run("groups and removals", func(t *testing.T) { testGroups(t, newStore) })
	t.Run("operators", func(t *testing.T) { testOperators(t, newStore) })
	t.Run("tokens", func(t *testing.T) { testTokens(t, newStore) })
	t.Run("appeals", func(t *testing.T) { testAppeals(t, newStore) })
	t.Run("schedules", func(t *testing.T) { testSchedules(t, newStore) })
	t.Run("audit", func(t *testing.T) { testAudit(t, newStore) })
	t.Run("writes it could not read back are refused", func(t *testing.T) { testUnreadable(t, newStore) })
	t.Run("atomicity", func(t *testing.T) { testAtomicity(t, newStore) })
	t.Run("concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
	t.Run("times", func(t *testing.T) { testTimes(t, newStore) })
	t.Run("durability", func(t *testing.T) { testDurability(t, newStore) })
}

// t0 is the suite's fixed instant. It has milliseconds, which every store
// keeps; the suite never depends on the store's own clock except where it
// says so.
var t0 = time.Date(2026, 3, 1, 21, 0, 0, 123_000_000, time.UTC)

// cmpOpts compares the domain types: netip values have no Equal method,
// and times compare as instants (time.Time's Equal).
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b curfew.Subject) bool { return a.String() == b.String() }),
}

// entry returns an audit event of the kind action names, by actor, at
// t0, about target: a restriction's ID, a device's MAC, a person's name,
// group:NAME, an appeal's number, an operator's or a token's name, or an
// address, each in the field of the event that holds it.
func entry(actor string, action curfew.Action, target string) *audit.Event {
	e := &audit.Event{At: t0, Actor: actor, Kind: audit.Kind(action), Reason: "storetest", After: &audit.Fields{}}
	kind, _, _ := strings.Cut(string(action), ".")
	switch {
	case target == "":
	case kind == "restriction":
		id, _ := strconv.ParseInt(target, 10, 64)
		e.Restriction = curfew.RestrictionID(id)
	case kind == "device":
		e.Subject = "device:" + target
	case kind == "person":
		e.Subject = "person:" + target
	case kind == "group":
		e.Subject = target
	case action == curfew.ActionAnswer:
		e.After.Appeal, _ = strconv.ParseInt(target, 10, 64)
	case kind == "operator":
		e.After.Name = target
	case kind == "token":
		e.After.Token = target
	default:
		e.After.Source = target
	}
	return e
}

// events returns the events of s's log, oldest first, and their
// encodings as the store keeps them.
func events(t *testing.T, s Store) ([]*audit.Event, [][]byte) {
	t.Helper()
	var (
		es   []*audit.Event
		data [][]byte
	)
	err := s.ReadAudit(t.Context(), 1, func(_ int64, b []byte, checkpoint bool) error {
		if checkpoint {
			return nil
		}
		e, err := audit.Decode(b)
		if err != nil {
			return err
		}
		es, data = append(es, e), append(data, slices.Clone(b))
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("ReadAudit() = %v", err)
	}
	return es, data
}

func mustMAC(s string) net.HardwareAddr {
	m, err := curfew.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func mustSubject(s string) curfew.Subject {
	subj, err := curfew.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return subj
}

// auditLen returns how many entries s's audit log holds.
func auditLen(t *testing.T, s Store) int {
	t.Helper()
	es, _ := events(t, s)
	return len(es)
}

// wantUnchangedAudit fails t if s's audit log no longer has n entries:
// something that should have written nothing wrote an entry.
func wantUnchangedAudit(t *testing.T, s Store, n int, after string) {
	t.Helper()
	if got := auditLen(t, s); got != n {
		t.Errorf("after %s the audit log has %d entries, want %d: a refused change must record nothing", after, got, n)
	}
}

// wantVerified fails t unless s's audit log verifies with n entries.
func wantVerified(t *testing.T, s Store, n int64) {
	t.Helper()
	// The store signs nothing (the engine does): the chain is what is
	// checked here.
	v := audit.NewVerifier(nil, 1)
	_, data := events(t, s)
	for _, b := range data {
		v.Event(b)
	}
	if rep := v.Report(false); !rep.OK() || rep.Events != n {
		t.Errorf("the log verifies %v with %d events, want OK with %d: %q", rep.OK(), rep.Events, n, rep.Messages())
	}
}

func addPerson(t *testing.T, s Store, name string) *curfew.Person {
	t.Helper()
	p := &curfew.Person{Name: name, Created: t0}
	if err := s.CreatePerson(t.Context(), p, entry("alice", curfew.ActionPerson, name)); err != nil {
		t.Fatalf("CreatePerson(%q) = %v", name, err)
	}
	return p
}

// restriction returns a valid cutoff of subject by alice, from t0 for an hour.
func restriction(subject string) *curfew.Restriction {
	return &curfew.Restriction{
		Subject: mustSubject(subject),
		Mode:    curfew.ModeCutoff,
		Reason:  "abuse report",
		Author:  "alice",
		Start:   t0,
		End:     t0.Add(time.Hour),
		Created: t0,
	}
}

func create(t *testing.T, s Store, r *curfew.Restriction) *curfew.Restriction {
	t.Helper()
	if err := s.CreateRestriction(t.Context(), r, entry(r.Author, curfew.ActionRestrict, "")); err != nil {
		t.Fatalf("CreateRestriction(%s) = %v", r.Subject, err)
	}
	return r
}

func update(t *testing.T, s Store, r *curfew.Restriction, action curfew.Action) {
	t.Helper()
	if err := s.UpdateRestriction(t.Context(), r, entry("bob", action, "")); err != nil {
		t.Fatalf("UpdateRestriction(%d) = %v", r.ID, err)
	}
}

func ids(rs []*curfew.Restriction) []curfew.RestrictionID {
	out := []curfew.RestrictionID{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
