package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// benchState writes a state directory whose log holds about n events: for
// each of n/3 restrictions (all lifted, so that none is in force), its
// creation, enforcement and lift, with the rows that match them, signed.
// It bulk-loads the database in one transaction, as no daemon would, but
// with the events the engine writes: the log verifies.
func benchState(b *testing.B, n int) (dir string, key ed25519.PrivateKey) {
	b.Helper()
	ctx := context.Background()
	dir = b.TempDir()
	key, err := audit.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	pemKey, err := audit.MarshalPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), pemKey, 0o600); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, dbFile)
	db, err := sqlite.Open(ctx, path, &sqlite.Config{CheckpointPath: filepath.Join(dir, checkpointFile)})
	if err != nil {
		b.Fatal(err)
	}
	db.Close()

	raw, err := sql.Open("sqlite", path+"?_pragma=synchronous(OFF)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	insEvent, err := tx.Prepare("INSERT INTO audit_events (seq, data) VALUES (?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	insRestriction, err := tx.Prepare(`INSERT INTO restrictions (id, subject, mode, reason, author, starts_at, ends_at, created_at, lifted_at, lifted_by, lift_reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Millisecond).UTC()
	var head audit.Head
	add := func(e *audit.Event) {
		data, err := e.Seal(head)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := insEvent.Exec(e.Seq, string(data)); err != nil {
			b.Fatal(err)
		}
		head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
	}
	for i := range max(1, n/3) {
		id := curfew.RestrictionID(i + 1)
		at := t0.Add(time.Duration(i) * time.Second)
		subject := curfew.Subject{Kind: curfew.SubjectDevice, MAC: net.HardwareAddr{0x02, 0xbe, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}}
		r := &curfew.Restriction{ID: id, Subject: subject, Mode: curfew.ModeCutoff, Reason: "homework first, as agreed", Author: "olga",
			Start: at, End: at.Add(time.Hour), Created: at, Lifted: at.Add(time.Minute), LiftedBy: "olga", LiftReason: "done"}
		after := audit.RestrictionFields(r)
		after.Reason, after.Lifted, after.LiftedBy, after.LiftReason = "", time.Time{}, "", ""
		add(&audit.Event{At: at, Kind: audit.KindRestrictionCreated, Actor: "olga", Subject: subject.String(), Restriction: id, Reason: r.Reason, After: after})
		add(&audit.Event{At: at, Kind: audit.KindRestrictionApplied, Actor: audit.System, Subject: subject.String(), Restriction: id, After: &audit.Fields{Applied: at}})
		add(&audit.Event{At: r.Lifted, Kind: audit.KindRestrictionLifted, Actor: "olga", Subject: subject.String(), Restriction: id, Reason: r.LiftReason,
			Before: &audit.Fields{End: r.End}, After: &audit.Fields{Lifted: r.Lifted, LiftedBy: r.LiftedBy}})
		if _, err := insRestriction.Exec(int64(id), subject.String(), string(r.Mode), r.Reason, r.Author, r.Start.UnixMilli(), r.End.UnixMilli(),
			r.Created.UnixMilli(), r.Lifted.UnixMilli(), r.LiftedBy, r.LiftReason); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	raw.Close()

	db, err = sqlite.Open(ctx, path, &sqlite.Config{CheckpointPath: filepath.Join(dir, checkpointFile)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := audit.Sign(key, head, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.SaveCheckpoint(ctx, c); err != nil {
		b.Fatal(err)
	}
	return dir, key
}

// benchServer runs the daemon's engine on the state in dir behind the
// API, as `curfew daemon` does (with the in-memory enforcer), and returns
// a CLI runner pointed at it.
func benchServer(b *testing.B, dir string, key ed25519.PrivateKey, cpInterval time.Duration) (cli func(args ...string) (int, string, string), eng *engine.Engine) {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, dbFile), &sqlite.Config{CheckpointPath: filepath.Join(dir, checkpointFile), MustExist: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	eng, err = engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{&enforce.Memory{}}, Logger: logger, VerifyInterval: -1,
		AuditKey: key, CheckpointInterval: cpInterval})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
		eng.Close()
	})
	// Wait for the start (which reads the whole log) to be over.
	for eng.Snapshot() == nil {
		select {
		case err := <-done:
			b.Fatalf("Run() = %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	acc, err := access.New(&access.Config{Store: db, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(acc.Close)
	admin, err := acc.CreateToken(curfew.WithActor(context.Background(), curfew.Actor{Name: "root", Role: curfew.RoleAdmin}), fmt.Sprintf("bench%d", time.Now().UnixNano()), curfew.RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	h, err := api.NewHandler(&api.HandlerConfig{Service: eng, Auth: acc, Accounts: acc, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	env := map[string]string{"CURFEW_SERVER": srv.URL, "CURFEW_TOKEN": admin}
	return func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
		return code, stdout.String(), stderr.String()
	}, eng
}

// BenchmarkAuditVerify measures `curfew audit verify` (through the API:
// the chain, every signature, the latest checkpoint and every row held to
// the log) and the offline `curfew audit verify --file --key` of an export
// of the same log.
func BenchmarkAuditVerify(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			dir, key := benchState(b, n)
			cli, _ := benchServer(b, dir, key, time.Hour)
			b.Run("online", func(b *testing.B) {
				cpu := cpuTime()
				for b.Loop() {
					if code, out, errOut := cli("audit", "verify"); code != 0 {
						b.Fatalf("audit verify = %d %s%s", code, out, errOut)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/verify")
				b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/verify")
			})
			export := filepath.Join(b.TempDir(), "export.jsonl")
			f, err := os.Create(export)
			if err != nil {
				b.Fatal(err)
			}
			code, pub, errOut := cli("audit", "key")
			if code != 0 {
				b.Fatal(errOut)
			}
			if err := runTo(cli, f, "audit", "export"); err != nil {
				b.Fatal(err)
			}
			f.Close()
			pubFile := filepath.Join(b.TempDir(), "key.pub")
			if err := os.WriteFile(pubFile, []byte(pub), 0o600); err != nil {
				b.Fatal(err)
			}
			b.Run("offline", func(b *testing.B) {
				cpu := cpuTime()
				for b.Loop() {
					if code, out, errOut := cli("audit", "verify", "--file", export, "--key", pubFile); code != 0 {
						b.Fatalf("audit verify --file = %d %s%s", code, out, errOut)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/verify")
				b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/verify")
			})
		})
	}
}

// cpuTime returns the processor time this process has used, user and
// system: on a machine shared with other work, it says what wall time
// alone cannot.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runTo runs a CLI command whose output is large, into w.
func runTo(cli func(args ...string) (int, string, string), w io.Writer, args ...string) error {
	code, out, errOut := cli(args...)
	if code != 0 {
		return fmt.Errorf("curfew %s = %d: %s", strings.Join(args, " "), code, errOut)
	}
	_, err := io.WriteString(w, out)
	return err
}

// BenchmarkRestrictAPI measures `curfew restrict` through the API with a
// log of 100 and of 100,000 events stored, and with the daemon signing
// its head every 50 ms (a thousand times more often than it does) or not
// at all. It reports the median and the 99th percentile of the calls.
func BenchmarkRestrictAPI(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		for _, signing := range []bool{false, true} {
			b.Run(fmt.Sprintf("events=%d/signing=%v", n, signing), func(b *testing.B) {
				dir, key := benchState(b, n)
				interval := time.Hour
				if signing {
					interval = 50 * time.Millisecond
				}
				cli, _ := benchServer(b, dir, key, interval)
				var took []time.Duration
				for i := 0; b.Loop(); i++ {
					mac := net.HardwareAddr{0x02, 0xcc, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
					start := time.Now()
					if code, _, errOut := cli("restrict", "device:"+mac.String(), "--for", "1h", "--reason", "bench"); code != 0 {
						b.Fatal(errOut)
					}
					took = append(took, time.Since(start))
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "ms-p99")
			})
		}
	}
}
