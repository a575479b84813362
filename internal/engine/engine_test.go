package engine_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
	"github.com/google/go-cmp/cmp"
)

var _ engine.Store = (*sqlite.DB)(nil)

// testKey signs the tests' audit checkpoints.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))

var (
	operator = curfew.Actor{Name: "olga", Role: curfew.RoleOperator}
	viewer   = curfew.Actor{Name: "vic", Role: curfew.RoleViewer}
)

type fixture struct {
	eng *engine.Engine
	db  *sqlite.DB
	mem *enforce.Memory
	ctx context.Context // acts as operator
}

// newFixture returns an engine over an in-memory database and a Memory
// backend. Inside a synctest bubble, time is fake.
// gatewayAddrs are the fixture's gateway's own addresses.
var gatewayAddrs = []netip.Addr{netip.MustParseAddr("192.168.50.1"), netip.MustParseAddr("fd00:50::1")}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, curfew.ApprovalPolicy{})
}

// newFixtureWith is newFixture with the approval policy p.
func newFixtureWith(t *testing.T, p curfew.ApprovalPolicy) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mem := &enforce.Memory{}
	eng, err := engine.New(&engine.Config{
		Store:          db,
		Backends:       []enforce.Backend{mem},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		VerifyInterval: -1,
		GatewayAddrs:   func() ([]netip.Addr, error) { return gatewayAddrs, nil },
		Approvals:      p,
		AuditKey:       testKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eng.Close()
		db.Close()
	})
	return &fixture{eng: eng, db: db, mem: mem, ctx: curfew.WithActor(context.Background(), operator)}
}

func (f *fixture) restrict(t *testing.T, subject string, d time.Duration) *curfew.Restriction {
	t.Helper()
	r, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: subject, Reason: "test", For: d})
	if err != nil {
		t.Fatalf("Restrict(%s): %v", subject, err)
	}
	return r
}

func (f *fixture) wantEnforced(t *testing.T, want string) {
	t.Helper()
	if diff := cmp.Diff(want, f.mem.String()); diff != "" {
		t.Errorf("enforced state mismatch (-want +got):\n%s", diff)
	}
}

// events returns the audit log, decoded.
func events(t *testing.T, db *sqlite.DB) []*audit.Event {
	t.Helper()
	var es []*audit.Event
	err := db.ReadAudit(context.Background(), 1, func(_ int64, data []byte, checkpoint bool) error {
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

// actions describes the audit log, one "ACTOR KIND [RESTRICTION|SUBJECT]"
// per event.
func (f *fixture) actions(t *testing.T) []string { return actions(t, f.db) }

func actions(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	var got []string
	for _, e := range events(t, db) {
		s := e.Actor + " " + string(e.Kind)
		switch {
		case e.Restriction != 0:
			s += fmt.Sprintf(" %d", e.Restriction)
		case e.Subject != "":
			s += " " + e.Subject
		}
		got = append(got, s)
	}
	return got
}

func mac(s string) net.HardwareAddr {
	m, _ := net.ParseMAC(s)
	return m
}

// The whole life of a restriction on a fake clock: enforced at once,
// extended, and ended by the timer with nobody calling anything.
func TestRestrictionLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		start := time.Now().UTC()
		r := f.restrict(t, "device:02:00:00:00:00:01", time.Hour)
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+start.Add(time.Hour).Format(time.RFC3339)+" ids=[1]\n")

		if _, err := f.eng.Extend(f.ctx, r.ID, time.Time{}, 30*time.Minute, "still needed"); err != nil {
			t.Fatal(err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+start.Add(90*time.Minute).Format(time.RFC3339)+" ids=[1]\n")

		time.Sleep(89 * time.Minute)
		synctest.Wait()
		if f.mem.String() == "" {
			t.Fatal("restriction ended a minute early")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		f.wantEnforced(t, "")

		got, err := f.eng.Restriction(f.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Expired.IsZero() || got.StatusAt(time.Now()) != curfew.StatusExpired {
			t.Errorf("after its end, restriction = %+v; want recorded as expired", got)
		}
		want := []string{"olga restriction.created 1", "curfew restriction.applied 1", "olga restriction.extended 1", "curfew restriction.expired 1"}
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
		rep, err := f.eng.VerifyAudit(f.ctx)
		if err != nil || !rep.OK {
			t.Errorf("VerifyAudit() = %+v, %v; want OK", rep, err)
		}
	})
}

func TestPersonCoversDevicesAddedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.eng.AddPerson(f.ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		f.restrict(t, "person:alice", time.Hour)
		f.wantEnforced(t, "")
		if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: mac("02:00:00:00:00:0a"), Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		until := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		f.wantEnforced(t, "device 02:00:00:00:00:0a cutoff until="+until+" ids=[1]\n")
		if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: mac("02:00:00:00:00:0b"), Name: "bob's phone"}); err != nil {
			t.Fatal(err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:0a cutoff until="+until+" ids=[1]\n")
	})
}

func TestLift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		r := f.restrict(t, "ip:2001:db8::/64", time.Hour)
		other := f.restrict(t, "ip:10.1.2.3", time.Hour)
		if _, err := f.eng.Lift(f.ctx, r.ID, ""); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("Lift without reason = %v, want ErrInvalid", err)
		}
		lifted, err := f.eng.Lift(f.ctx, r.ID, "resolved")
		if err != nil {
			t.Fatal(err)
		}
		if lifted.LiftedBy != "olga" || lifted.LiftReason != "resolved" {
			t.Errorf("Lift() = %+v", lifted)
		}
		until := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		f.wantEnforced(t, "ip 10.1.2.3/32 cutoff until="+until+" ids=[2]\n")
		if _, err := f.eng.Lift(f.ctx, r.ID, "again"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("second Lift = %v, want ErrConflict", err)
		}
		if _, err := f.eng.Lift(f.ctx, 99, "x"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Lift(99) = %v, want ErrNotFound", err)
		}
		if _, err := f.eng.Extend(f.ctx, r.ID, time.Time{}, time.Hour, "x"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Extend of a lifted restriction = %v, want ErrConflict", err)
		}
		cur, err := f.eng.Restrictions(f.ctx, curfew.RestrictionFilter{})
		if err != nil || len(cur) != 1 || cur[0].ID != other.ID {
			t.Errorf("Restrictions() = %v, %v; want only %d", cur, err, other.ID)
		}
	})
}

// Bad input changes nothing: no restriction, no audit entry, no apply.
func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	bad := []curfew.RestrictRequest{
		{Subject: "person:nobody", Reason: "x", For: time.Hour},
		{Subject: "device:zz", Reason: "x", For: time.Hour},
		{Subject: "device:02:00:00:00:00:01", For: time.Hour},
		{Subject: "device:02:00:00:00:00:01", Reason: "x"},
		{Subject: "device:02:00:00:00:00:01", Reason: "x", For: -time.Hour},
		{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour, Mode: "silence"},
		{Subject: "group:staff", Reason: "x", For: time.Hour},
		{Subject: "ip:192.168.50.0/24", Reason: "x", For: time.Hour},        // the gateway's LAN address
		{Subject: "ip:fd00:50::/64", Reason: "x", For: time.Hour},           // and its IPv6 one
		{Subject: "ip:192.168.0.0/16", Reason: "x", For: time.Hour},         // both
		{Subject: "ip:10.0.0.0/8", Reason: "x", For: time.Hour},             // too wide without force
		{Subject: "ip:127.0.0.1", Reason: "x", For: time.Hour, Force: true}, // loopback
		{Subject: "ip:fe80::/64", Reason: "x", For: time.Hour},              // link-local
		{Subject: "ip:224.0.0.0/24", Reason: "x", For: time.Hour},           // multicast
	}
	for _, req := range bad {
		if _, err := f.eng.Restrict(f.ctx, req); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("Restrict(%+v) = %v, want ErrInvalid", req, err)
		}
	}
	if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: mac("02:00:00:00:00:01"), Owner: "nobody"}); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("AddDevice with unknown owner = %v, want ErrInvalid", err)
	}
	if got := f.actions(t); len(got) != 0 {
		t.Errorf("audit after bad input = %v, want empty", got)
	}
	if n := f.mem.Applies(); n != 0 {
		t.Errorf("backend applied %d times after bad input, want 0", n)
	}
}

func TestRestrictWidePrefix(t *testing.T) {
	f := newFixture(t)
	req := curfew.RestrictRequest{Subject: "ip:10.0.0.0/8", Reason: "x", For: time.Hour, Force: true}
	if _, err := f.eng.Restrict(f.ctx, req); err != nil {
		t.Fatalf("forced Restrict(%s) = %v", req.Subject, err)
	}
	es := events(t, f.db)
	if len(es) != 2 || es[0].Kind != audit.KindRestrictionCreated || !es[0].After.Force {
		t.Errorf("audit after a forced restriction = %+v; want its creation, saying it was forced, and its enforcement", es)
	}
}

// A gateway whose addresses cannot be read refuses ip: subjects (they
// might hold one) and nothing else.
func TestRestrictGatewayAddrsFail(t *testing.T) {
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mem := &enforce.Memory{}
	eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{mem}, Logger: slog.New(slog.DiscardHandler), VerifyInterval: -1,
		GatewayAddrs: func() ([]netip.Addr, error) { return nil, errors.New("netlink says no") }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	ctx := curfew.WithActor(t.Context(), operator)
	_, err = eng.Restrict(ctx, curfew.RestrictRequest{Subject: "ip:192.0.2.7", Reason: "x", For: time.Hour})
	if err == nil || errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), "reading the gateway's addresses") {
		t.Errorf("Restrict(ip:) with unreadable addresses = %v, want a runtime error", err)
	}
	if _, err := eng.Restrict(ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour}); err != nil {
		t.Errorf("Restrict(device:) with unreadable addresses = %v", err)
	}
	if rs, err := eng.Restrictions(ctx, curfew.RestrictionFilter{All: true}); err != nil || len(rs) != 1 {
		t.Errorf("restrictions = %v, %v; want only the device's", rs, err)
	}
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	req := curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour}
	if _, err := f.eng.Restrict(context.Background(), req); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Restrict without actor = %v, want ErrUnauthenticated", err)
	}
	vctx := curfew.WithActor(context.Background(), viewer)
	if _, err := f.eng.Restrict(vctx, req); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("Restrict as viewer = %v, want ErrForbidden", err)
	}
	if _, err := f.eng.Restrictions(vctx, curfew.RestrictionFilter{}); err != nil {
		t.Errorf("Restrictions as viewer = %v", err)
	}
}

// A caller whose role is not enough gets ErrForbidden for every
// state-changing call, whether its request is valid or not, and nothing
// changes: the role is checked before the request is looked at.
func TestRoleBeforeValidation(t *testing.T) {
	f := newFixture(t)
	r := f.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	before := f.actions(t)
	vctx := curfew.WithActor(context.Background(), viewer)
	calls := []struct {
		name string
		call func() error
	}{
		{"restrict", func() error {
			_, err := f.eng.Restrict(vctx, curfew.RestrictRequest{Subject: "device:zz", For: -time.Hour, Mode: "silence"})
			return err
		}},
		{"restrict an unknown person", func() error {
			_, err := f.eng.Restrict(vctx, curfew.RestrictRequest{Subject: "person:nobody", Reason: "x", For: time.Hour})
			return err
		}},
		{"lift without reason", func() error { _, err := f.eng.Lift(vctx, r.ID, ""); return err }},
		{"lift an unknown restriction", func() error { _, err := f.eng.Lift(vctx, 99, "x"); return err }},
		{"extend backwards", func() error { _, err := f.eng.Extend(vctx, r.ID, time.Time{}, -time.Hour, ""); return err }},
		{"add a device with an unknown owner", func() error {
			_, err := f.eng.AddDevice(vctx, &curfew.Device{MAC: mac("02:00:00:00:00:02"), Owner: "nobody"})
			return err
		}},
		{"add a person without a name", func() error { _, err := f.eng.AddPerson(vctx, ""); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, curfew.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", c.name, err)
		}
	}
	if diff := cmp.Diff(before, f.actions(t)); diff != "" {
		t.Errorf("audit changed (-before +after):\n%s", diff)
	}
}

// A restriction stored while enforcement fails is enforced by the retry,
// with no further command.
func TestApplyFailureIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.mem.FailWith(errors.New("kernel says no"))
		_, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "kernel says no") {
			t.Fatalf("Restrict with failing backend = %v, want the backend's error", err)
		}
		rs, _ := f.eng.Restrictions(f.ctx, curfew.RestrictionFilter{})
		if len(rs) != 1 {
			t.Fatalf("restriction not stored after enforcement failure: %v", rs)
		}
		f.mem.FailWith(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		if !strings.Contains(f.mem.String(), "02:00:00:00:00:01") {
			t.Errorf("after retry, enforced = %q; want the device", f.mem.String())
		}
	})
}

// A restart after downtime records as expired what ended meanwhile and
// enforces what is still due.
func TestStartupReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.restrict(t, "device:02:00:00:00:00:01", time.Minute)
		long := f.restrict(t, "device:02:00:00:00:00:02", time.Hour)
		f.eng.Close() // the daemon dies

		time.Sleep(10 * time.Minute)
		eng, err := engine.New(&engine.Config{Store: f.db, Backends: []enforce.Backend{f.mem}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VerifyInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		if err := eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:02 cutoff until="+long.End.Format(time.RFC3339)+" ids=[2]\n")
		want := []string{"olga restriction.created 1", "curfew restriction.applied 1", "olga restriction.created 2", "curfew restriction.applied 2",
			"curfew restriction.expired 1"}
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Errorf("audit mismatch (-want +got):\n%s", diff)
		}
	})
}

// hangUpStore is a store whose CreateRestriction, once the restriction is
// stored, cancels the context of the command: the client hanging up just
// after its restriction was written.
type hangUpStore struct {
	*sqlite.DB
	hangUp context.CancelFunc
}

func (s *hangUpStore) CreateRestriction(ctx context.Context, r *curfew.Restriction, a *audit.Event) error {
	err := s.DB.CreateRestriction(ctx, r, a)
	s.hangUp()
	return err
}

// ctxBackend is a Memory backend whose Apply, as netfilter's does, fails
// with a context that is done.
type ctxBackend struct{ *enforce.Memory }

func (b ctxBackend) Apply(ctx context.Context, s *curfew.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.Memory.Apply(ctx, s)
}

// A restriction that is stored is enforced at once, even if the client
// that asked for it hangs up before the engine applies it.
func TestEnforcedAfterClientHangsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, hangUp := context.WithCancel(f.ctx)
		mem := &enforce.Memory{}
		eng, err := engine.New(&engine.Config{
			Store:          &hangUpStore{DB: f.db, hangUp: hangUp},
			Backends:       []enforce.Backend{ctxBackend{mem}},
			Logger:         slog.New(slog.DiscardHandler),
			VerifyInterval: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		if _, err := eng.Restrict(ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour}); err != nil {
			t.Errorf("Restrict with a client that hung up = %v, want nil", err)
		}
		if ctx.Err() == nil {
			t.Fatal("the store did not hang up")
		}
		until := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		if want := "device 02:00:00:00:00:01 cutoff until=" + until + " ids=[1]\n"; mem.String() != want {
			t.Errorf("enforced when Restrict returned = %q, want %q", mem.String(), want)
		}
	})
}

// slowVerifier is a Memory backend whose Verify, as netfilter's does with
// 100,000 devices, takes a while: it tells started and returns only when
// release is closed or its context is done.
type slowVerifier struct {
	*enforce.Memory
	started chan struct{} // closed by the first Verify
	release chan struct{}
	once    sync.Once
}

func (v *slowVerifier) Verify(ctx context.Context) (int, error) {
	v.once.Do(func() { close(v.started) })
	select {
	case <-v.release:
	case <-ctx.Done():
	}
	return 0, ctx.Err()
}

func newSlowVerifier() *slowVerifier {
	return &slowVerifier{Memory: &enforce.Memory{}, started: make(chan struct{}), release: make(chan struct{})}
}

// waitFor fails t unless ch is closed within a deadline far beyond what it
// takes when nothing is wrong.
func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10s", what)
	}
}

// A command does not wait for a drift check in progress, and Close cuts
// the check short and stops Run. (Real time: a command blocked on the
// engine's lock is not durably blocked, so synctest could not tell.)
func TestDriftCheckDoesNotHoldCommands(t *testing.T) {
	f := newFixture(t)
	v := newSlowVerifier()
	eng, err := engine.New(&engine.Config{
		Store:          f.db,
		Backends:       []enforce.Backend{v},
		Logger:         slog.New(slog.DiscardHandler),
		VerifyInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	defer close(v.release) // first: a failing test must not leave Close waiting
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := eng.Run(context.Background()); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitChan(t, v.started, "first drift check")

	restricted := make(chan struct{})
	go func() {
		defer close(restricted)
		if _, err := eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "x", For: time.Hour}); err != nil {
			t.Errorf("Restrict: %v", err)
		}
	}()
	waitChan(t, restricted, "Restrict during a drift check")
	if !strings.Contains(v.String(), "02:00:00:00:00:01") {
		t.Errorf("enforced after Restrict = %q, want the device", v.String())
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		eng.Close()
	}()
	waitChan(t, closed, "Close during a drift check")
	waitChan(t, ran, "Run after Close")
}

// slowLoadStore is a store whose first loading of the restrictions takes
// a while, as it does with 100,000 of them.
type slowLoadStore struct {
	*sqlite.DB
	took time.Duration
}

func (s *slowLoadStore) Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	time.Sleep(s.took)
	return s.DB.Restrictions(ctx, f)
}

// The first snapshot is taken after the store is loaded, not before: the
// backends count each element's time left from the snapshot's time, so a
// snapshot older than it says would make every restriction last as much
// longer in the kernel as the load took.
func TestSnapshotTimeAfterLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		eng, err := engine.New(&engine.Config{
			Store:          &slowLoadStore{DB: f.db, took: 5 * time.Second},
			Backends:       []enforce.Backend{&enforce.Memory{}},
			Logger:         slog.New(slog.DiscardHandler),
			VerifyInterval: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		start := time.Now()
		if err := eng.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := eng.Snapshot().At, start.Add(5*time.Second); !got.Equal(want) {
			t.Errorf("first snapshot taken at %s, want %s (after the load)", got, want)
		}
	})
}

// watchingBackend is a Memory backend that implements enforce.Watcher: a
// test reports a change by someone else with change, and each Verify is
// counted on verified.
type watchingBackend struct {
	*enforce.Memory
	watching chan func()   // receives Watch's changed once it runs
	verified chan struct{} // receives at each Verify
}

func (w *watchingBackend) Verify(ctx context.Context) (int, error) {
	select {
	case w.verified <- struct{}{}:
	case <-ctx.Done():
	}
	return 0, nil
}

func (w *watchingBackend) Watch(ctx context.Context, changed func()) error {
	w.watching <- changed
	<-ctx.Done()
	return ctx.Err()
}

// A change a Watcher reports is checked for at once, not at the next
// periodic check (which is an hour away here), and Run waits for the
// watcher to return.
func TestWatcherTriggersDriftCheck(t *testing.T) {
	f := newFixture(t)
	w := &watchingBackend{Memory: &enforce.Memory{}, watching: make(chan func(), 1), verified: make(chan struct{})}
	eng, err := engine.New(&engine.Config{
		Store:          f.db,
		Backends:       []enforce.Backend{w},
		Logger:         slog.New(slog.DiscardHandler),
		VerifyInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := eng.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var changed func()
	select {
	case changed = <-w.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch not called within 10s of Run")
	}
	for i := range 3 {
		changed()
		select {
		case <-w.verified:
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d: no drift check within 10s", i+1)
		}
	}
	cancel()
	waitChan(t, ran, "Run after its context is done")
	eng.Close()
}
