//go:build linux

package engine_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
	"github.com/curfew/curfew/internal/sqlite"
)

// BenchmarkRestrictBusyHost measures Engine.Restrict on a gateway that
// another firewall manager shares: the store write, the reconcile and the
// netfilter apply in a network namespace, with 100,000 devices in the
// sets, while the drift check runs every second as in the daemon and a
// goroutine with a netlink connection of its own commits an unrelated
// change (an element added to or deleted from a table of its own) every
// 100 ms, so that every drift check compares every element. A random pause
// of up to 50 ms before each call spreads the calls over the drift check's
// cycle. It measures from the end of the first drift check, and reports
// the median, the 99th percentile and the largest of the calls' durations
// (ns/op includes the pauses). For comparison, it also runs with no
// neighbour: the drift check then finds the generation unmoved and
// compares nothing.
//
// The store is SQLite in memory, so the figures leave out the fsync of a
// file database (BenchmarkRestrict measures it).
func BenchmarkRestrictBusyHost(b *testing.B) {
	for _, every := range []time.Duration{0, 100 * time.Millisecond} {
		name := "neighbour=none"
		if every > 0 {
			name = "neighbour=" + every.String()
		}
		b.Run(name, func(b *testing.B) { benchRestrictBusyHost(b, every) })
	}
}

// benchRestrictBusyHost is BenchmarkRestrictBusyHost with the neighbour
// committing every interval, or not at all if interval is 0.
func benchRestrictBusyHost(b *testing.B, interval time.Duration) {
	const n = 100_000
	ns := netnstest.New(b)
	ctx := curfew.WithActor(context.Background(), operator)
	db, err := sqlite.Open(context.Background(), ":memory:", &sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for i := range n {
		r := &curfew.Restriction{Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: benchMAC(i)}, Mode: curfew.ModeCutoff,
			Reason: "load", Author: "olga", Start: now, End: now.Add(24 * time.Hour), Created: now}
		if err := db.CreateRestriction(context.Background(), r, &audit.Event{Actor: "olga", Kind: audit.KindRestrictionCreated}); err != nil {
			b.Fatal(err)
		}
	}
	nf, err := netfilter.New(&netfilter.Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns})
	if err != nil {
		b.Fatal(err)
	}
	defer nf.Close()
	tb := &timedBackend{Backend: nf}
	eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{tb}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	start := time.Now()
	if err := eng.Reconcile(context.Background()); err != nil { // builds the table
		b.Fatal(err)
	}
	b.Logf("building the table with %d devices took %s", n, time.Since(start))

	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(runCtx) }()
	var neigh *benchNeighbour
	neighbourDone := make(chan error, 1)
	if interval > 0 {
		neigh = newBenchNeighbour(b, ns)
		go func() { neighbourDone <- neigh.run(runCtx, interval) }()
	} else {
		neighbourDone <- nil
	}
	// Measure the steady state: from the end of the first drift check,
	// which compares every element whatever the generation says.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		tb.mu.Lock()
		checked := len(tb.checks) > 0
		tb.mu.Unlock()
		if checked {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no drift check within a minute")
		}
	}

	// ns/op includes the pauses: the figures are the reported percentiles.
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		time.Sleep(rand.N(50 * time.Millisecond))
		req := curfew.RestrictRequest{Subject: "device:" + benchMAC(n+i).String(), Reason: "bench", For: time.Hour}
		t0 := time.Now()
		if _, err := eng.Restrict(ctx, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	stop()
	if err := <-ran; err != nil {
		b.Error(err)
	}
	if err := <-neighbourDone; err != nil {
		b.Error(err)
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[(len(took)*99)/100]), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	tb.mu.Lock()
	checks := slices.Sorted(slices.Values(tb.checks))
	repaired := tb.repaired
	tb.mu.Unlock()
	var commits int64
	if neigh != nil {
		commits = neigh.commits.Load()
	}
	b.Logf("%d calls; the neighbour committed %d times; %d drift checks took %s (median) to %s, and repaired %d objects",
		len(took), commits, len(checks), checks[len(checks)/2].Round(time.Millisecond), checks[len(checks)-1].Round(time.Millisecond), repaired)
}

// timedBackend is a netfilter backend whose drift checks are timed.
type timedBackend struct {
	*netfilter.Backend

	mu       sync.Mutex      // guards the fields below
	checks   []time.Duration // how long each Verify took
	repaired int             // objects Verify repaired, summed
}

// Verify implements [enforce.Verifier].
func (t *timedBackend) Verify(ctx context.Context) (int, error) {
	start := time.Now()
	n, err := t.Backend.Verify(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checks = append(t.checks, time.Since(start))
	t.repaired += n
	return n, err
}

// benchNeighbour is another firewall manager on the same host: it keeps a
// table of its own and changes it on its own netlink connection.
type benchNeighbour struct {
	conn    *nftables.Conn
	set     *nftables.Set
	commits atomic.Int64
}

// newBenchNeighbour creates the neighbour's table in ns.
func newBenchNeighbour(tb testing.TB, ns int) *benchNeighbour {
	tb.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		tb.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "neighbour"})
	set := &nftables.Set{Table: table, Name: "blocked", KeyType: nftables.TypeIPAddr}
	if err := c.AddSet(set, nil); err != nil {
		tb.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		tb.Fatalf("creating the neighbour's table: %v", err)
	}
	return &benchNeighbour{conn: c, set: set}
}

// run adds or deletes an element of the neighbour's set every interval,
// one commit each, until ctx is done, then returns.
func (n *benchNeighbour) run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	el := []nftables.SetElement{{Key: []byte{192, 0, 2, 1}}}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var err error
		if i%2 == 0 {
			err = n.conn.SetAddElements(n.set, el)
		} else {
			err = n.conn.SetDeleteElements(n.set, el)
		}
		if err == nil {
			err = n.conn.Flush()
		}
		if err != nil {
			return err
		}
		n.commits.Add(1)
	}
}
