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
	admin    = curfew.Actor{Name: "root", Role: curfew.RoleAdmin}
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
	if _, err := f.eng.CreateToken(f.ctx, "newbie", curfew.RoleViewer); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("CreateToken as operator = %v, want ErrForbidden", err)
	}
	secret, err := f.eng.CreateToken(curfew.WithActor(context.Background(), admin), "newbie", curfew.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.eng.Authenticate(context.Background(), secret)
	if err != nil || a != (curfew.Actor{Name: "newbie", Role: curfew.RoleViewer}) {
		t.Errorf("Authenticate(new secret) = %v, %v", a, err)
	}
	for _, s := range []string{"", "cft_nope", secret + "x", strings.TrimPrefix(secret, "cft_")} {
		if _, err := f.eng.Authenticate(context.Background(), s); !errors.Is(err, curfew.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", s, err)
		}
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
