package sqlite_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

var _ engine.Store = (*sqlite.DB)(nil)

var (
	// signKey signs the tests' checkpoints; the store never sees it.
	signKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, ed25519.SeedSize))
	// t0 has milliseconds, which the store keeps.
	t0 = time.Date(2026, 3, 1, 21, 0, 0, 123_000_000, time.UTC)
)

// cmpOpts compares the domain types, whose netip values have no Equal method.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// clock is the Now seam: it returns t0 and then one second later each call.
func clock() func() time.Time {
	now := t0
	return func() time.Time {
		now = now.Add(time.Second)
		return now
	}
}

func openMemory(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{Now: clock()})
	if err != nil {
		t.Fatalf("Open(:memory:) = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fileDB is a database in a file, with its checkpoint file, and a raw
// handle on the same file for tampering.
type fileDB struct {
	path, checkpoint string
}

func newFileDB(t *testing.T) fileDB {
	dir := t.TempDir()
	return fileDB{path: filepath.Join(dir, "curfew.db"), checkpoint: filepath.Join(dir, "audit.checkpoint")}
}

func (f fileDB) open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{CheckpointPath: f.checkpoint, Now: clock()})
	if err != nil {
		t.Fatalf("Open(%s) = %v", f.path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// raw returns a handle on the database file that bypasses the store.
func (f fileDB) raw(t *testing.T) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// exec runs raw SQL on the database file, as someone editing it would.
func (f fileDB) exec(t *testing.T, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}

func entry(kind audit.Kind, subject string) *audit.Event {
	return &audit.Event{Actor: "alice", Kind: kind, Subject: subject, Reason: "test"}
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	mac, err := curfew.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func mustSubject(t *testing.T, s string) curfew.Subject {
	t.Helper()
	subj, err := curfew.ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return subj
}

func addPerson(t *testing.T, db *sqlite.DB, name string) {
	t.Helper()
	if err := db.CreatePerson(t.Context(), &curfew.Person{Name: name, Created: t0}, entry(audit.KindPersonAdded, "person:"+name)); err != nil {
		t.Fatalf("CreatePerson(%q) = %v", name, err)
	}
}

// auditEvents returns the events of the log, decoded.
func auditEvents(t *testing.T, db *sqlite.DB) []*audit.Event {
	t.Helper()
	var es []*audit.Event
	err := db.ReadAudit(t.Context(), 1, func(_ int64, data []byte, checkpoint bool) error {
		if checkpoint {
			return nil
		}
		e, err := audit.Decode(data)
		es = append(es, e)
		return err
	}, nil)
	if err != nil {
		t.Fatalf("ReadAudit() = %v", err)
	}
	return es
}

func auditLen(t *testing.T, db *sqlite.DB) int {
	t.Helper()
	return len(auditEvents(t, db))
}

func TestPersonRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	addPerson(t, db, "zoe")
	addPerson(t, db, "Bob")
	addPerson(t, db, "alice")

	got, err := db.Persons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*curfew.Person{{Name: "Bob", Created: t0}, {Name: "alice", Created: t0}, {Name: "zoe", Created: t0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Persons() (-want +got):\n%s", diff)
	}
	p, err := db.Person(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1], p); diff != "" {
		t.Errorf("Person(alice) (-want +got):\n%s", diff)
	}
	if _, err := db.Person(ctx, "nobody"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Person(nobody) = %v, want ErrNotFound", err)
	}
}

func TestDeviceRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	addPerson(t, db, "resident")
	devices := []*curfew.Device{
		{
			MAC:     mustMAC(t, "02:00:00:00:00:0B"),
			Name:    "laptop",
			Owner:   "resident",
			Addrs:   []netip.Addr{netip.MustParseAddr("192.168.50.20"), netip.MustParseAddr("fd00:50::20"), netip.MustParseAddr("2001:db8::1:0:0:1")},
			Created: t0,
		},
		{MAC: mustMAC(t, "02-00-00-00-00-0a"), Created: t0.Add(time.Millisecond)},
	}
	for _, d := range devices {
		if err := db.CreateDevice(ctx, d, entry(audit.KindDeviceAdded, d.MAC.String())); err != nil {
			t.Fatalf("CreateDevice(%s) = %v", d.MAC, err)
		}
	}
	got, err := db.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*curfew.Device{devices[1], devices[0]} // by MAC
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Devices() (-want +got):\n%s", diff)
	}
	d, err := db.Device(ctx, mustMAC(t, "02:00:00:00:00:0b"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(devices[0], d, cmpOpts); diff != "" {
		t.Errorf("Device() (-want +got):\n%s", diff)
	}
	if _, err := db.Device(ctx, mustMAC(t, "02:00:00:00:00:99")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Device(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRestrictionRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	rs := []*curfew.Restriction{
		{
			Subject: mustSubject(t, "device:02:00:00:00:00:01"), Mode: curfew.ModeCutoff,
			Reason: "abuse", Notice: "Your access is suspended\nuntil tomorrow.", Author: "alice",
			Start: t0, End: t0.Add(time.Hour), Created: t0,
		},
		{
			Subject: mustSubject(t, "person:resident"), Mode: curfew.ModeAllowlist,
			Allow:  []string{"example.org", "10.1.0.0/16", "2001:db8::/32"},
			Reason: "walled garden", Author: "bob",
			Start: t0.Add(time.Minute), End: t0.Add(24 * time.Hour), Created: t0,
			Lifted: t0.Add(2 * time.Hour), LiftedBy: "carol", LiftReason: "resolved",
		},
		{
			Subject: mustSubject(t, "ip:2001:db8:1::/48"), Mode: curfew.ModeBlocklist,
			Block:  []string{"ads.example", "tracker.example"},
			Reason: "blocked", Author: "alice",
			Start: t0, End: t0.Add(time.Hour), Created: t0,
			Expired: t0.Add(time.Hour + 5*time.Millisecond),
		},
		{
			Subject: mustSubject(t, "group:staff"), Mode: curfew.ModeCutoff,
			Reason: "drill", Author: "alice", Start: t0, End: t0.Add(time.Hour), Created: t0,
		},
	}
	for i, r := range rs {
		a := entry(audit.KindRestrictionCreated, "")
		if err := db.CreateRestriction(ctx, r, a); err != nil {
			t.Fatalf("CreateRestriction(%s) = %v", r.Subject, err)
		}
		if want := curfew.RestrictionID(i + 1); r.ID != want {
			t.Errorf("CreateRestriction assigned ID %d, want %d", r.ID, want)
		}
		if a.Restriction != r.ID {
			t.Errorf("audit event's Restriction = %d, want %d", a.Restriction, r.ID)
		}
	}
	got, err := db.Restrictions(ctx, curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs, got, cmpOpts); diff != "" {
		t.Errorf("Restrictions(All) (-want +got):\n%s", diff)
	}
	r, err := db.Restriction(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs[1], r, cmpOpts); diff != "" {
		t.Errorf("Restriction(2) (-want +got):\n%s", diff)
	}
	if _, err := db.Restriction(ctx, 99); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Restriction(99) = %v, want ErrNotFound", err)
	}
}

func TestUpdateRestriction(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	r := &curfew.Restriction{
		Subject: mustSubject(t, "ip:192.0.2.7"), Mode: curfew.ModeCutoff, Reason: "r", Author: "alice",
		Start: t0, End: t0.Add(time.Hour), Created: t0,
	}
	if err := db.CreateRestriction(ctx, r, entry(audit.KindRestrictionCreated, "")); err != nil {
		t.Fatal(err)
	}
	r.End = t0.Add(3 * time.Hour)
	r.Lifted, r.LiftedBy, r.LiftReason = t0.Add(time.Minute), "bob", "done"
	r.Expired = t0.Add(4 * time.Hour)
	r.Reason = "immutable: not stored"
	if err := db.UpdateRestriction(ctx, r, entry(audit.KindRestrictionLifted, "1")); err != nil {
		t.Fatalf("UpdateRestriction() = %v", err)
	}
	got, err := db.Restriction(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	want.Reason = "r"
	if diff := cmp.Diff(&want, got, cmpOpts); diff != "" {
		t.Errorf("after UpdateRestriction (-want +got):\n%s", diff)
	}

	missing := *r
	missing.ID = 42
	if err := db.UpdateRestriction(ctx, &missing, entry(audit.KindRestrictionLifted, "42")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("UpdateRestriction(42) = %v, want ErrNotFound", err)
	}
	if n := auditLen(t, db); n != 2 {
		t.Errorf("audit has %d entries, want 2", n)
	}
}

func TestRestrictionFilter(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	mk := func(subject string, lifted, expired bool) {
		r := &curfew.Restriction{
			Subject: mustSubject(t, subject), Mode: curfew.ModeCutoff, Reason: "r", Author: "alice",
			Start: t0, End: t0.Add(time.Hour), Created: t0,
		}
		if lifted {
			r.Lifted, r.LiftedBy = t0.Add(time.Minute), "bob"
		}
		if expired {
			r.Expired = t0.Add(time.Hour)
		}
		if err := db.CreateRestriction(ctx, r, entry(audit.KindRestrictionCreated, "")); err != nil {
			t.Fatal(err)
		}
	}
	mk("person:a", false, false) // 1
	mk("person:b", true, false)  // 2
	mk("person:a", false, true)  // 3
	mk("person:b", false, false) // 4
	mk("person:a", true, true)   // 5

	subjA := mustSubject(t, "person:a")
	id2, id4 := curfew.RestrictionID(2), curfew.RestrictionID(4)
	tests := []struct {
		name string
		f    curfew.RestrictionFilter
		want []curfew.RestrictionID
	}{
		{"zero filter is open ones", curfew.RestrictionFilter{}, []curfew.RestrictionID{1, 4}},
		{"all", curfew.RestrictionFilter{All: true}, []curfew.RestrictionID{1, 2, 3, 4, 5}},
		{"subject", curfew.RestrictionFilter{Subject: &subjA}, []curfew.RestrictionID{1}},
		{"subject all", curfew.RestrictionFilter{Subject: &subjA, All: true}, []curfew.RestrictionID{1, 3, 5}},
		{"id", curfew.RestrictionFilter{ID: &id4}, []curfew.RestrictionID{4}},
		{"id of a lifted one", curfew.RestrictionFilter{ID: &id2}, nil},
		{"id of a lifted one, all", curfew.RestrictionFilter{ID: &id2, All: true}, []curfew.RestrictionID{2}},
		{"id and other subject", curfew.RestrictionFilter{ID: &id4, Subject: &subjA}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := db.Restrictions(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []curfew.RestrictionID
			for _, r := range rs {
				got = append(got, r.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Restrictions() IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	hash := sha256.Sum256([]byte("secret"))
	tok := &curfew.Token{Name: "admin", Role: curfew.RoleAdmin, Created: t0, CreatedBy: "curfew"}
	op := &curfew.Operator{Name: "admin", Role: curfew.RoleAdmin, Created: t0}
	if err := db.CreateToken(ctx, tok, hash[:], op, entry(audit.KindTokenCreated, "admin")); err != nil {
		t.Fatalf("CreateToken() = %v", err)
	}
	got, err := db.TokenByHash(ctx, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("TokenByHash() (-want +got):\n%s", diff)
	}
	other := sha256.Sum256([]byte("other"))
	if _, err := db.TokenByHash(ctx, other[:]); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("TokenByHash(other) = %v, want ErrNotFound", err)
	}
	if err := db.CreateToken(ctx, tok, hash[:1], nil, entry(audit.KindTokenCreated, "admin")); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("CreateToken(short hash) = %v, want ErrInvalid", err)
	}
}

func TestConflicts(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	addPerson(t, db, "resident")
	mac := mustMAC(t, "02:00:00:00:00:01")
	if err := db.CreateDevice(ctx, &curfew.Device{MAC: mac, Created: t0}, entry(audit.KindDeviceAdded, "")); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("secret"))
	other := sha256.Sum256([]byte("other"))
	if err := db.CreateToken(ctx, &curfew.Token{Name: "ops", Role: curfew.RoleOperator}, hash[:], &curfew.Operator{Name: "ops", Role: curfew.RoleOperator}, entry(audit.KindTokenCreated, "ops")); err != nil {
		t.Fatal(err)
	}
	before := auditLen(t, db)

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"duplicate person", func() error {
			return db.CreatePerson(ctx, &curfew.Person{Name: "resident"}, entry(audit.KindPersonAdded, "resident"))
		}, curfew.ErrConflict},
		{"duplicate device", func() error {
			return db.CreateDevice(ctx, &curfew.Device{MAC: mac, Name: "again"}, entry(audit.KindDeviceAdded, ""))
		}, curfew.ErrConflict},
		{"unknown owner", func() error {
			return db.CreateDevice(ctx, &curfew.Device{MAC: mustMAC(t, "02:00:00:00:00:02"), Owner: "ghost"}, entry(audit.KindDeviceAdded, ""))
		}, curfew.ErrNotFound},
		{"duplicate token name", func() error {
			return db.CreateToken(ctx, &curfew.Token{Name: "ops", Role: curfew.RoleViewer}, other[:], nil, entry(audit.KindTokenCreated, "ops"))
		}, curfew.ErrConflict},
		{"duplicate token hash", func() error {
			return db.CreateToken(ctx, &curfew.Token{Name: "ops2", Role: curfew.RoleViewer}, hash[:], &curfew.Operator{Name: "ops2", Role: curfew.RoleViewer}, entry(audit.KindTokenCreated, "ops2"))
		}, curfew.ErrConflict},
		{"token of an unknown operator", func() error {
			return db.CreateToken(ctx, &curfew.Token{Name: "ghost", Role: curfew.RoleViewer}, other[:], nil, entry(audit.KindTokenCreated, "ghost"))
		}, curfew.ErrNotFound},
		{"duplicate operator", func() error {
			return db.CreateOperator(ctx, &curfew.Operator{Name: "ops", Role: curfew.RoleViewer}, "", entry(audit.KindOperatorAdded, "ops"))
		}, curfew.ErrConflict},
		{"missing audit entry", func() error {
			return db.CreatePerson(ctx, &curfew.Person{Name: "x"}, nil)
		}, curfew.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if n := auditLen(t, db); n != before {
		t.Errorf("audit has %d entries after failed changes, want %d", n, before)
	}
	ds, _ := db.Devices(ctx)
	if len(ds) != 1 || ds[0].Name != "" {
		t.Errorf("Devices() = %v, want the first device only, unchanged", ds)
	}
}

func TestFailedChangeWritesNothing(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	// The device row goes in, then its second address clashes with the
	// first: the device must not remain.
	addr := netip.MustParseAddr("fd00::1")
	d := &curfew.Device{MAC: mustMAC(t, "02:00:00:00:00:01"), Addrs: []netip.Addr{addr, addr}}
	a := entry(audit.KindDeviceAdded, "")
	if err := db.CreateDevice(ctx, d, a); !errors.Is(err, curfew.ErrConflict) {
		t.Fatalf("CreateDevice(same address twice) = %v, want ErrConflict", err)
	}
	if ds, _ := db.Devices(ctx); len(ds) != 0 {
		t.Errorf("Devices() = %v after a failed CreateDevice, want none", ds)
	}
	if n := auditLen(t, db); n != 0 {
		t.Errorf("audit has %d entries, want 0", n)
	}
	if a.Seq != 0 || !a.Prev.IsZero() {
		t.Errorf("audit event filled in after a failed change: %+v", a)
	}
}

func TestFailedAuditWritesNothing(t *testing.T) {
	ctx := t.Context()
	f := newFileDB(t)
	db := f.open(t)
	f.exec(t, `CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`)

	r := &curfew.Restriction{
		Subject: mustSubject(t, "person:resident"), Mode: curfew.ModeCutoff, Reason: "r", Author: "alice",
		Start: t0, End: t0.Add(time.Hour), Created: t0,
	}
	a := entry(audit.KindRestrictionCreated, "")
	if err := db.CreateRestriction(ctx, r, a); err == nil {
		t.Fatal("CreateRestriction() succeeded though the audit insert fails")
	}
	if r.ID != 0 || a.Restriction != 0 || a.Seq != 0 {
		t.Errorf("after a failed CreateRestriction: ID = %d, audit event %+v; want both untouched", r.ID, a)
	}
	if err := db.CreatePerson(ctx, &curfew.Person{Name: "resident"}, entry(audit.KindPersonAdded, "resident")); err == nil {
		t.Fatal("CreatePerson() succeeded though the audit insert fails")
	}
	if rs, _ := db.Restrictions(ctx, curfew.RestrictionFilter{All: true}); len(rs) != 0 {
		t.Errorf("Restrictions() = %d after a failed audit insert, want none", len(rs))
	}
	if ps, _ := db.Persons(ctx); len(ps) != 0 {
		t.Errorf("Persons() = %v after a failed audit insert, want none", ps)
	}

	f.exec(t, `DROP TRIGGER fail_audit`)
	addPerson(t, db, "resident")
	if es := auditEvents(t, db); len(es) != 1 || es[0].Seq != 1 {
		t.Errorf("audit events = %+v, want one with Seq 1", es)
	}
}

// TestDeleteDeviceAndPerson: a removed device takes its addresses with it;
// a removed person leaves its devices unowned; an unknown one is
// ErrNotFound and records nothing.
func TestDeleteDeviceAndPerson(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	addPerson(t, db, "resident")
	phone := &curfew.Device{MAC: mustMAC(t, "02:00:00:00:00:01"), Owner: "resident", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.20")}, Created: t0}
	laptop := &curfew.Device{MAC: mustMAC(t, "02:00:00:00:00:02"), Owner: "resident", Created: t0}
	for _, d := range []*curfew.Device{phone, laptop} {
		if err := db.CreateDevice(ctx, d, entry(audit.KindDeviceAdded, d.MAC.String())); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteDevice(ctx, phone.MAC, entry(audit.KindDeviceRemoved, phone.MAC.String())); err != nil {
		t.Fatalf("DeleteDevice = %v", err)
	}
	if _, err := db.Device(ctx, phone.MAC); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Device(removed) = %v, want ErrNotFound", err)
	}
	// Registered again, it has none of its old addresses.
	if err := db.CreateDevice(ctx, &curfew.Device{MAC: phone.MAC, Created: t0}, entry(audit.KindDeviceAdded, phone.MAC.String())); err != nil {
		t.Fatal(err)
	}
	if d, err := db.Device(ctx, phone.MAC); err != nil || len(d.Addrs) != 0 {
		t.Errorf("Device(re-added) = %+v, %v; want no addresses", d, err)
	}
	before := auditLen(t, db)
	if err := db.DeleteDevice(ctx, mustMAC(t, "02:00:00:00:00:99"), entry(audit.KindDeviceRemoved, "x")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("DeleteDevice(unknown) = %v, want ErrNotFound", err)
	}
	if err := db.DeletePerson(ctx, "nobody", entry(audit.KindPersonRemoved, "nobody")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("DeletePerson(unknown) = %v, want ErrNotFound", err)
	}
	if after := auditLen(t, db); after != before {
		t.Errorf("failed deletes recorded %d audit events", after-before)
	}
	if err := db.DeletePerson(ctx, "resident", entry(audit.KindPersonRemoved, "resident")); err != nil {
		t.Fatalf("DeletePerson = %v", err)
	}
	if d, err := db.Device(ctx, laptop.MAC); err != nil || d.Owner != "" {
		t.Errorf("Device(owned by a removed person) = %+v, %v; want it without owner", d, err)
	}
}
