package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

// BenchmarkRestrict measures one Restrict call — store write with its
// audit entry, reconcile, apply — with n restrictions already active, on a
// file database and the in-memory backend. It is the engine's share of the
// time from `curfew restrict` to enforcement.
func BenchmarkRestrict(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("active=%d", n), func(b *testing.B) {
			ctx := curfew.WithActor(context.Background(), operator)
			path := filepath.Join(b.TempDir(), "curfew.db")
			db, err := sqlite.Open(context.Background(), path, &sqlite.Config{})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for i := range n {
				r := &curfew.Restriction{Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: benchMAC(i)}, Mode: curfew.ModeCutoff,
					Reason: "load", Author: "olga", Start: now, End: now.Add(24 * time.Hour), Created: now}
				if err := db.CreateRestriction(context.Background(), r, &audit.Event{Actor: "olga", Kind: audit.KindRestrictionCreated}); err != nil {
					b.Fatal(err)
				}
			}
			// Reopen, as a daemon would after the load: closing checkpoints
			// the write-ahead log that the load filled.
			db.Close()
			db, err = sqlite.Open(context.Background(), path, &sqlite.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{&enforce.Memory{}},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VerifyInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			// Start-up: the one reconcile that loads the store.
			if err := eng.Reconcile(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := eng.Restrict(ctx, curfew.RestrictRequest{Subject: "device:" + benchMAC(n+i).String(), Reason: "bench", For: time.Hour}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xbe, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}
