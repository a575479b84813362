//go:build linux

package netfilter_test

import (
	"context"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// TestWatchReportsDeletedTable runs Watch as the engine does: deleting
// curfew's table from outside is reported, and Watch returns when its
// context is done.
func TestWatchReportsDeletedTable(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackendConfig(t, &netfilter.Config{NetNS: ns, Unowned: true}) // nft deletes the table
	mustApply(t, b, cutDevice([]byte{2, 0, 0, 0, 1, 1}, time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- b.Watch(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	// Watch has joined the event group once a report of a change comes
	// through; keep changing until one does.
	deadline := time.Now().Add(10 * time.Second)
	for reported := false; !reported; {
		netnstest.Run(t, ns, "nft", "add table inet curfew; delete table inet curfew")
		select {
		case <-changed:
			reported = true
		case err := <-done:
			t.Fatalf("Watch returned early: %v", err)
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("deleting the table was not reported within 10s")
			}
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Watch after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return within 10s of its context's end")
	}
}
