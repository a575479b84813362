package engine_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

// daemon is an engine over a database file and its checkpoint file, run
// as the daemon runs it, which can be stopped and started again.
type daemon struct {
	dir    string
	db     *sqlite.DB
	eng    *engine.Engine
	mem    *enforce.Memory
	ctx    context.Context // acts as operator
	config string          // the configuration digest it runs with
	extra  []enforce.Backend
	verify time.Duration
	cp     time.Duration
	policy curfew.ApprovalPolicy

	cancel context.CancelFunc
	done   chan error
}

func newDaemon(t *testing.T) *daemon {
	d := &daemon{dir: t.TempDir(), mem: &enforce.Memory{}, ctx: curfew.WithActor(context.Background(), operator),
		config: "c0", verify: -1}
	t.Cleanup(func() { d.close(t) })
	return d
}

func (d *daemon) path(name string) string { return filepath.Join(d.dir, name) }

// open opens the store and the engine, without running it.
func (d *daemon) open(t *testing.T) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), d.path("curfew.db"), &sqlite.Config{CheckpointPath: d.path("audit.checkpoint")})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(&engine.Config{
		Store: db, Backends: append([]enforce.Backend{d.mem}, d.extra...),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VerifyInterval: d.verify,
		AuditKey: testKey, ConfigDigest: d.config, CheckpointInterval: d.cp, Approvals: d.policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.db, d.eng = db, eng
}

// start opens and runs the daemon, and returns once it has recorded its
// start and applied its first snapshot.
func (d *daemon) start(t *testing.T) {
	t.Helper()
	d.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	applies := d.mem.Applies()
	go func() { d.done <- d.eng.Run(ctx) }()
	waitFor(t, "the daemon to start", func() bool {
		es := events(t, d.db)
		return len(es) > 0 && es[len(es)-1].Kind != audit.KindDaemonStopped && slices.ContainsFunc(es, func(e *audit.Event) bool {
			return e.Kind == audit.KindDaemonStarted && e.After.ConfigSHA256 == d.config
		}) && d.mem.Applies() > applies
	})
}

// stop stops the daemon as SIGTERM does and closes the store.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cancel != nil {
		d.cancel()
		select {
		case err := <-d.done:
			if err != nil {
				t.Errorf("Run() = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10 s of its context ending")
		}
		d.cancel = nil
	}
	d.close(t)
}

func (d *daemon) close(t *testing.T) {
	if d.eng != nil {
		d.eng.Close()
		d.db.Close()
		d.eng, d.db = nil, nil
	}
}

// exec runs raw SQL on the database file, as someone editing it would.
func (d *daemon) exec(t *testing.T, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", d.path("curfew.db"))
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

func (d *daemon) verifyAudit(t *testing.T) *curfew.AuditReport {
	t.Helper()
	rep, err := d.eng.VerifyAudit(d.ctx)
	if err != nil {
		t.Fatalf("VerifyAudit() = %v", err)
	}
	return rep
}

func (d *daemon) checkpoint(t *testing.T) *audit.Checkpoint {
	t.Helper()
	c, err := d.eng.Checkpoint(d.ctx)
	if err != nil {
		t.Fatalf("Checkpoint() = %v", err)
	}
	return c
}

func (d *daemon) restrict(t *testing.T, subject string, dur time.Duration) *curfew.Restriction {
	t.Helper()
	r, err := d.eng.Restrict(d.ctx, curfew.RestrictRequest{Subject: subject, Reason: "exam week", For: dur})
	if err != nil {
		t.Fatalf("Restrict(%s) = %v", subject, err)
	}
	return r
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dropGuards removes the triggers that keep the log append-only, as
// someone editing the database would.
const dropGuards = `DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
	DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete`

func wantProblem(t *testing.T, rep *curfew.AuditReport, what string) {
	t.Helper()
	if rep.OK || !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, what) }) {
		t.Errorf("VerifyAudit() = OK %v, problems %q; want a problem mentioning %q", rep.OK, rep.Problems, what)
	}
}

func TestRunRecordsStartAndStop(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	d.stop(t)

	d.config = "c1"
	d.start(t)
	d.stop(t)
	d.open(t)
	want := []string{
		"curfew daemon.started",
		"olga restriction.created 1", "curfew restriction.applied 1",
		"curfew daemon.stopped",
		"curfew config.changed", "curfew daemon.started",
		"curfew daemon.stopped",
	}
	if diff := cmp.Diff(want, actions(t, d.db)); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	es := events(t, d.db)
	if c := es[4]; c.Before.ConfigSHA256 != "c0" || c.After.ConfigSHA256 != "c1" {
		t.Errorf("config.changed = %+v %+v, want from c0 to c1", c.Before, c.After)
	}
	// Stopping signs: the checkpoint file covers the last event.
	rep := d.verifyAudit(t)
	if !rep.OK || rep.Entries != 7 || rep.SignedSeq != 7 || rep.Unsigned != 0 {
		t.Errorf("VerifyAudit() after a stop = %+v, want OK with all 7 events signed", rep)
	}
}

// TestVerifyDetectsTamperingInSQLite edits the database behind curfew's
// back, each way in turn; `audit verify` must report each.
func TestVerifyDetectsTamperingInSQLite(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, d *daemon)
		want   string
	}{
		{"event edited", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `UPDATE audit_events SET data = replace(data, '"reason":"exam week"', '"reason":"exam weak"') WHERE seq = 4`)
		}, "event 5: broken link"},
		{"signed head edited", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `UPDATE audit_events SET data = replace(data, 'person:dave', 'person:davy') WHERE seq = 6`)
		}, "event 6: differs from the event the checkpoint"},
		{"event deleted", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `DELETE FROM audit_events WHERE seq = 4`)
		}, "event 4: missing"},
		{"events reordered", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `UPDATE audit_events SET seq = -seq WHERE seq IN (3, 4)`,
				`UPDATE audit_events SET seq = 4 WHERE seq = -3`, `UPDATE audit_events SET seq = 3 WHERE seq = -4`)
		}, "event 3: out of order (it follows event 4)"},
		{"newest events dropped", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `DELETE FROM audit_events WHERE seq > 5`)
		}, "truncated: the log ends at event 5"},
		{"newest events, their checkpoints and the checkpoint file dropped", func(t *testing.T, d *daemon) {
			d.exec(t, dropGuards, `DELETE FROM audit_events WHERE seq > 4`, `DELETE FROM audit_checkpoints WHERE seq > 4`)
			if err := os.Remove(d.path("audit.checkpoint")); err != nil {
				t.Fatal(err)
			}
		}, "the latest checkpoint is missing"},
		{"checkpoint file replaced by an older one", func(t *testing.T, d *daemon) {
			raw, err := sql.Open("sqlite", d.path("curfew.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var first []byte
			if err := raw.QueryRow(`SELECT data FROM audit_checkpoints ORDER BY seq LIMIT 1`).Scan(&first); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(d.path("audit.checkpoint"), append(first, '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "the latest checkpoint (of event 3) is older than the checkpoint of event 6"},
		{"restriction row edited", func(t *testing.T, d *daemon) {
			d.exec(t, `UPDATE restrictions SET ends_at = ends_at - 3000000, mode = 'blocklist', block = '["x.example"]' WHERE id = 1`)
		}, "restriction 1: its row differs from the log in mode, block, ends_at"},
		{"restriction row deleted", func(t *testing.T, d *daemon) {
			d.exec(t, `DELETE FROM restrictions WHERE id = 1`)
		}, "restriction 1: the log has it, but its row was deleted"},
		{"restriction row added", func(t *testing.T, d *daemon) {
			d.exec(t, `INSERT INTO restrictions (subject, mode, reason, author, starts_at, ends_at, created_at)
				SELECT 'person:carol', mode, reason, author, starts_at, ends_at, created_at FROM restrictions WHERE id = 1`)
		}, "restriction 2: its row was never recorded in the log"},
		{"device owner changed", func(t *testing.T, d *daemon) {
			d.exec(t, `UPDATE devices SET owner = 'carol'`)
		}, "device 02:00:00:00:00:01: its row differs from the log in owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaemon(t)
			d.open(t)
			for _, p := range []string{"bob", "carol"} {
				if _, err := d.eng.AddPerson(d.ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.eng.AddDevice(d.ctx, &curfew.Device{MAC: mac("02:00:00:00:00:01"), Owner: "bob"}); err != nil {
				t.Fatal(err)
			}
			// 1 person bob, 2 person carol, 3 device; checkpoint of 3.
			d.checkpoint(t)
			d.restrict(t, "person:bob", time.Hour)                    // 4 created, 5 applied
			if _, err := d.eng.AddPerson(d.ctx, "dave"); err != nil { // 6
				t.Fatal(err)
			}
			d.checkpoint(t)
			if _, err := d.eng.AddPerson(d.ctx, "erin"); err != nil { // 7, not signed yet
				t.Fatal(err)
			}
			if rep := d.verifyAudit(t); !rep.OK || rep.Unsigned != 1 {
				t.Fatalf("VerifyAudit() before tampering = %+v", rep)
			}
			// Events 4 and 6 are the ones edited above; make sure.
			es := events(t, d.db)
			if es[1].Subject != "person:carol" || es[3].Reason != "exam week" || es[5].Subject != "person:dave" {
				t.Fatalf("unexpected log: %v", actions(t, d.db))
			}
			tt.tamper(t, d)
			wantProblem(t, d.verifyAudit(t), tt.want)
		})
	}
}

// A daemon that starts on rows changed behind its back enforces the log,
// not the rows, and puts the rows back, recording each repair.
func TestStartHoldsStateToLog(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	cut := d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	short := d.restrict(t, "device:02:00:00:00:00:02", 2*time.Hour)
	d.stop(t)

	d.exec(t,
		`DELETE FROM restrictions WHERE id = 1`, // silently lift a cut-off client
		`UPDATE restrictions SET ends_at = ends_at - 3600000 WHERE id = 2`,
		`INSERT INTO restrictions (subject, mode, reason, author, starts_at, ends_at, created_at)
			SELECT 'device:02:00:00:00:00:03', mode, reason, author, starts_at, ends_at, created_at FROM restrictions WHERE id = 2`)

	d.start(t)
	if _, ok := d.mem.LookupMAC(mac("02:00:00:00:00:01")); !ok {
		t.Errorf("the cut-off client whose row was deleted is not enforced:\n%s", d.mem)
	}
	// The log keeps milliseconds.
	if until, ok := d.mem.LookupMAC(mac("02:00:00:00:00:02")); !ok || until.UnixMilli() != short.End.UnixMilli() {
		t.Errorf("the client whose row was shortened is enforced until %v, want %v", until, short.End)
	}
	if _, ok := d.mem.LookupMAC(mac("02:00:00:00:00:03")); ok {
		t.Errorf("a restriction no event recorded is enforced:\n%s", d.mem)
	}
	rs, err := d.eng.Restrictions(d.ctx, curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].End.UnixMilli() != cut.End.UnixMilli() || rs[1].End.UnixMilli() != short.End.UnixMilli() {
		t.Errorf("rows after the start = %+v, want the two restrictions as the log has them", rs)
	}
	var repaired []string
	for _, e := range events(t, d.db) {
		if e.Kind == audit.KindRestrictionRepaired {
			repaired = append(repaired, e.Subject)
		}
	}
	if diff := cmp.Diff([]string{"device:02:00:00:00:00:01", "device:02:00:00:00:00:02", "device:02:00:00:00:00:03"}, repaired); diff != "" {
		t.Errorf("restriction.repaired events (-want +got):\n%s", diff)
	}
	if rep := d.verifyAudit(t); !rep.OK {
		t.Errorf("VerifyAudit() after the repairs = %+v", rep)
	}
	d.stop(t)
}

// The state held to the log knows four eyes: a pending restriction whose
// row is edited to look approved, a rejected one edited to look pending or
// approved, and a scheduled one moved to start now are none of them
// enforced, and each row is put back as the log has it.
func TestStartHoldsApprovalsToLog(t *testing.T) {
	d := newDaemon(t)
	d.policy = curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour}
	d.start(t)
	pending := d.restrict(t, "device:02:00:00:00:00:01", 48*time.Hour)
	rejected := d.restrict(t, "device:02:00:00:00:00:02", 48*time.Hour)
	if _, err := d.eng.Reject(curfew.WithActor(context.Background(), curfew.Actor{Name: "bob", Role: curfew.RoleOperator}), rejected.ID, "too long"); err != nil {
		t.Fatal(err)
	}
	later, err := d.eng.Restrict(d.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:03", Reason: "tonight", Start: time.Now().Add(time.Hour), For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t)

	d.exec(t,
		`UPDATE restrictions SET approval = 'approved', approval_decided_at = created_at, approval_decided_by = 'mallory' WHERE id = 1`,
		`UPDATE restrictions SET approval = '', approval_asker = '', approval_decided_at = NULL, approval_decided_by = '', approval_reason = '' WHERE id = 2`,
		`UPDATE restrictions SET starts_at = created_at WHERE id = 3`)
	d.open(t)
	rep := d.verifyAudit(t)
	for _, want := range []string{"restriction 1: its row differs from the log in approval, decided_at, decided_by",
		"restriction 2: its row differs from the log in approval, approval_asker, decided_at, decided_by, decision_reason",
		"restriction 3: its row differs from the log in starts_at"} {
		wantProblem(t, rep, want)
	}
	d.close(t)

	d.start(t)
	if got := d.mem.String(); got != "" {
		t.Errorf("after a start on edited rows, enforced:\n%s\nwant nothing: one pending, one rejected, one not started", got)
	}
	for _, want := range []struct {
		id     curfew.RestrictionID
		status curfew.Status
	}{{pending.ID, curfew.StatusPending}, {rejected.ID, curfew.StatusRejected}, {later.ID, curfew.StatusScheduled}} {
		r, err := d.eng.Restriction(d.ctx, want.id)
		if err != nil {
			t.Fatal(err)
		}
		if st := r.StatusAt(time.Now()); st != want.status {
			t.Errorf("restriction %d after the start is %s, want %s as the log has it", want.id, st, want.status)
		}
	}
	if rep := d.verifyAudit(t); !rep.OK {
		t.Errorf("VerifyAudit() after the repairs = %+v", rep)
	}
	d.stop(t)
}

// A row deleted while the daemon runs is put back when the restriction
// next changes, instead of the change failing for ever.
func TestRowDeletedWhileRunning(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	r := d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	d.exec(t, `DELETE FROM restrictions WHERE id = 1`)
	wantProblem(t, d.verifyAudit(t), "restriction 1: the log has it, but its row was deleted")
	if _, err := d.eng.Lift(d.ctx, r.ID, "resolved"); err != nil {
		t.Fatalf("Lift() of a restriction whose row was deleted = %v", err)
	}
	got := actions(t, d.db)
	if want := []string{"curfew restriction.repaired 1", "olga restriction.lifted 1"}; !slices.Equal(got[len(got)-2:], want) {
		t.Errorf("audit log ends %q, want %q", got[len(got)-2:], want)
	}
	if rep := d.verifyAudit(t); !rep.OK {
		t.Errorf("VerifyAudit() = %+v", rep)
	}
	d.stop(t)
}

// A row edited while the daemon runs does not leak into the next change:
// the engine changes the restriction as the log has it.
func TestRowEditedWhileRunning(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	r := d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	d.exec(t, `UPDATE restrictions SET ends_at = ends_at + 86400000 WHERE id = 1`)
	ext, err := d.eng.Extend(d.ctx, r.ID, time.Time{}, time.Hour, "one more hour")
	if err != nil {
		t.Fatal(err)
	}
	if want := r.End.Add(time.Hour); !ext.End.Equal(want) {
		t.Errorf("Extend() of an edited row ends at %v, want %v", ext.End, want)
	}
	if until, _ := d.mem.LookupMAC(mac("02:00:00:00:00:01")); !until.Equal(r.End.Add(time.Hour)) {
		t.Errorf("enforced until %v, want %v", until, r.End.Add(time.Hour))
	}
	if rep := d.verifyAudit(t); !rep.OK {
		t.Errorf("VerifyAudit() = %+v", rep)
	}
	d.stop(t)
}

// A checkpoint file deleted or replaced is never silently rewritten: the
// break is recorded first, and the log never verifies again.
func TestCheckpointLossIsRecorded(t *testing.T) {
	for _, tt := range []struct {
		name string
		lose func(t *testing.T, d *daemon, older []byte)
	}{
		{"deleted", func(t *testing.T, d *daemon, _ []byte) {
			if err := os.Remove(d.path("audit.checkpoint")); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by an older one", func(t *testing.T, d *daemon, older []byte) {
			if err := os.WriteFile(d.path("audit.checkpoint"), older, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"signed with another key", func(t *testing.T, d *daemon, _ []byte) {
			other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, ed25519.SeedSize))
			head, _ := d.db.AuditHead(t.Context())
			c, _ := audit.Sign(other, head, time.Now())
			if err := os.WriteFile(d.path("audit.checkpoint"), append(c.Encode(), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaemon(t)
			d.open(t)
			d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
			d.checkpoint(t)
			older, err := os.ReadFile(d.path("audit.checkpoint"))
			if err != nil {
				t.Fatal(err)
			}
			d.restrict(t, "device:02:00:00:00:00:02", time.Hour)
			d.checkpoint(t)

			tt.lose(t, d, older)
			d.restrict(t, "device:02:00:00:00:00:03", time.Hour)
			c := d.checkpoint(t)
			if c == nil {
				t.Fatal("Checkpoint() signed nothing")
			}
			got := actions(t, d.db)
			if want := "curfew audit.broken"; !slices.Contains(got, want) {
				t.Errorf("audit log = %q, want %q before the new checkpoint", got, want)
			}
			wantProblem(t, d.verifyAudit(t), "the gateway found its log broken")
			// The break is recorded once, and the log goes on signed.
			d.restrict(t, "device:02:00:00:00:00:04", time.Hour)
			d.checkpoint(t)
			if n := strings.Count(strings.Join(actions(t, d.db), "\n"), "audit.broken"); n != 1 {
				t.Errorf("audit.broken recorded %d times, want once", n)
			}
		})
	}
}

// Events dropped from the end of the database after a checkpoint: the
// daemon goes on from the checkpoint, so the gap stays visible.
func TestContinueAfterTruncation(t *testing.T) {
	d := newDaemon(t)
	d.open(t)
	d.restrict(t, "device:02:00:00:00:00:01", time.Hour) // 1, 2
	d.restrict(t, "device:02:00:00:00:00:02", time.Hour) // 3, 4
	d.checkpoint(t)
	d.close(t)
	d.exec(t, dropGuards, `DELETE FROM audit_events WHERE seq > 2`)
	d.open(t)
	if _, err := d.eng.AddPerson(d.ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	es := events(t, d.db)
	if last := es[len(es)-1]; last.Seq != 5 {
		t.Errorf("the event after the loss is event %d, want 5 (after the checkpoint's 4)", last.Seq)
	}
	rep := d.verifyAudit(t)
	wantProblem(t, rep, "events 3 to 4: missing")
	if slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "broken link") }) {
		t.Errorf("problems = %q: the link after the gap is proven by the checkpoint", rep.Problems)
	}
}

func TestExportVerifiesOffline(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	r := d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	d.checkpoint(t)
	if _, err := d.eng.Lift(d.ctx, r.ID, "résolu"); err != nil { // not signed yet
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := d.eng.ExportAudit(d.ctx, 0, &b); err != nil {
		t.Fatal(err)
	}
	pub := testKey.Public().(ed25519.PublicKey)
	rep, err := audit.Verify(bytes.NewReader(b.Bytes()), pub)
	if err != nil || !rep.OK() || rep.First != 1 || rep.Signed == nil || rep.Signed.Seq != rep.Last {
		t.Fatalf("Verify(export) = %+v, %v; problems %v", rep, err, rep.Problems)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if !strings.Contains(lines[len(lines)-1], `"kind":"checkpoint"`) {
		t.Errorf("the export ends with %s, want a checkpoint", lines[len(lines)-1])
	}
	changed := bytes.Replace(b.Bytes(), []byte(`"reason":"r\u00e9solu"`), []byte(`"reason":"r\u00e9sol\u00fb"`), 1)
	if bytes.Equal(changed, b.Bytes()) {
		t.Fatal("the lift's reason is not in the export")
	}
	if rep, _ := audit.Verify(bytes.NewReader(changed), pub); rep.OK() {
		t.Error("Verify(changed export) is OK")
	}

	// From a given event on.
	b.Reset()
	if err := d.eng.ExportAudit(d.ctx, 3, &b); err != nil {
		t.Fatal(err)
	}
	if rep, _ := audit.Verify(bytes.NewReader(b.Bytes()), pub); !rep.OK() || rep.First != 3 {
		t.Errorf("Verify(export from 3) = %+v", rep)
	}
	d.stop(t)
}

// The daemon signs the head within the interval of a new event, by itself.
func TestSignsWhileRunning(t *testing.T) {
	d := newDaemon(t)
	d.cp = 20 * time.Millisecond
	d.start(t)
	d.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	head, err := d.db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a checkpoint of the new events", func() bool {
		c, err := d.db.NewestCheckpoint(t.Context())
		return err == nil && c != nil && c.Seq >= head.Seq
	})
	d.stop(t)
}

// The daemon publishes every checkpoint it stores.
func TestPublishesCheckpoints(t *testing.T) {
	var got [][]byte
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(&engine.Config{Store: db, Logger: slog.New(slog.DiscardHandler), VerifyInterval: -1, AuditKey: testKey,
		PublishCheckpoint: func(_ context.Context, c []byte) error {
			got = append(got, bytes.Clone(c))
			return errors.New("the log host is down") // logged, never fatal
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := curfew.WithActor(t.Context(), operator)
	if _, err := eng.AddPerson(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	c, err := eng.Checkpoint(ctx)
	if err != nil || c == nil {
		t.Fatalf("Checkpoint() = %v, %v", c, err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], c.Encode()) {
		t.Errorf("published %q, want the checkpoint %s", got, c.Encode())
	}
	if again, err := eng.Checkpoint(ctx); err != nil || again != nil {
		t.Errorf("Checkpoint() with nothing new = %v, %v; want nothing signed", again, err)
	}
}

// driftBackend reports drift once.
type driftBackend struct {
	enforce.Memory
	repaired atomic.Int64
}

func (b *driftBackend) Verify(ctx context.Context) (int, error) {
	return int(b.repaired.Swap(0)), nil
}

func TestDriftRepairIsRecorded(t *testing.T) {
	d := newDaemon(t)
	drift := &driftBackend{}
	d.extra = []enforce.Backend{drift}
	d.verify = 10 * time.Millisecond
	d.start(t)
	drift.repaired.Store(3)
	waitFor(t, "drift.repaired", func() bool {
		return slices.ContainsFunc(events(t, d.db), func(e *audit.Event) bool {
			return e.Kind == audit.KindDriftRepaired && e.After.Objects == 3 && e.Actor == audit.System
		})
	})
	d.stop(t)
}

// A restriction that starts later is recorded as applied when it starts,
// not when it is created; one lifted before its start never is.
func TestAppliedWhenStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		start := time.Now().Add(time.Hour)
		later, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "tonight", Start: start, For: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		never, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:02", Reason: "tonight too", Start: start, For: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.eng.Lift(f.ctx, never.ID, "called off"); err != nil {
			t.Fatal(err)
		}
		want := []string{"olga restriction.created 1", "olga restriction.created 2", "olga restriction.lifted 2"}
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Fatalf("audit before the start (-want +got):\n%s", diff)
		}
		time.Sleep(time.Until(start))
		synctest.Wait()
		want = append(want, "curfew restriction.applied 1")
		if diff := cmp.Diff(want, f.actions(t)); diff != "" {
			t.Errorf("audit after the start (-want +got):\n%s", diff)
		}
		es := events(t, f.db)
		if at := es[len(es)-1].After.Applied; !at.Equal(later.Start.Truncate(time.Millisecond)) {
			t.Errorf("applied at %v, want at the start %v", at, later.Start)
		}
	})
}

// Removing devices and persons changes the rows as the log says: the log
// drops the device and leaves the person's devices without owner, so a
// start finds nothing to repair.
func TestRemovalsHeldToLog(t *testing.T) {
	d := newDaemon(t)
	d.start(t)
	if _, err := d.eng.AddPerson(d.ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02"} {
		if _, err := d.eng.AddDevice(d.ctx, &curfew.Device{MAC: mac(m), Owner: "bob"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.eng.RemoveDevice(d.ctx, mac("02:00:00:00:00:01"), "sold"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.eng.RemovePerson(d.ctx, "bob", "moved out"); err != nil {
		t.Fatal(err)
	}
	if rep := d.verifyAudit(t); !rep.OK {
		t.Errorf("VerifyAudit() after the removals = %+v", rep)
	}
	d.stop(t)
	d.start(t)
	for _, e := range events(t, d.db) {
		if e.Kind == audit.KindDeviceRepaired || e.Kind == audit.KindRestrictionRepaired {
			t.Errorf("the start repaired a row after removals: %s", e.Encode())
		}
	}
	d.stop(t)
}
