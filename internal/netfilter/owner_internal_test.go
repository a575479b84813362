//go:build linux

package netfilter

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

// TestAdoptOrphanedTable is a daemon's restart: the owner's socket closes
// (as when the daemon exits or is killed) and the table stays, with its
// elements and their timeouts, as an orphan; the next Backend adopts it
// and owns it from then on.
func TestAdoptOrphanedTable(t *testing.T) {
	ns := netnstest.New(t)
	logger := slog.New(slog.DiscardHandler)
	first, err := New(&Config{Logger: logger, NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close() // last: the table is gone by then
	now := time.Now()
	snap := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: []byte{2, 0, 0, 0, 1, 1}, Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour)}}}}
	if err := first.Apply(t.Context(), snap); err != nil {
		t.Fatal(err)
	}
	first.fmu.Lock()
	first.dropWriter() // the daemon's exit, as far as the kernel can tell
	first.fmu.Unlock()

	list := func() string { return netnstest.Run(t, ns, "nft", "list", "table", "inet", "curfew") }
	// The table's handle changes if it is deleted and created again.
	handle := func() string {
		first, _, _ := strings.Cut(netnstest.Run(t, ns, "nft", "-a", "list", "table", "inet", "curfew"), "\n")
		_, h, _ := strings.Cut(first, "# handle ")
		h, _, _ = strings.Cut(h, " ")
		return h
	}
	before := handle()
	orphan := list()
	if strings.Contains(orphan, "owner") || !strings.Contains(orphan, "02:00:00:00:01:01 timeout 1h") {
		t.Fatalf("after the owner's socket closed the table is\n%s\nwant it kept, not owned, with the element and its timeout", orphan)
	}

	second, err := New(&Config{Logger: logger, NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Apply(t.Context(), snap); err != nil {
		t.Fatalf("Apply over the orphaned table: %v", err)
	}
	if !second.owned {
		t.Error("the second Backend does not own the table")
	}
	if got := list(); !strings.Contains(got, "flags owner") || !strings.Contains(got, "02:00:00:00:01:01 timeout 1h") {
		t.Errorf("after adoption the table is\n%s\nwant it owned, with the element", got)
	}
	if got := handle(); got != before {
		t.Errorf("the table was created again instead of adopted: %q, then %q", before, got)
	}
	if _, err := netnstest.Output(ns, "nft", "delete", "table", "inet", "curfew"); err == nil {
		t.Error("another process deleted the adopted table")
	}
}

// TestOlderKernelFallsBack plays a kernel without the persist flag (Linux
// before 6.9 refuses a flag it does not know, as this one refuses 0x80):
// the Backend builds the table without flags, as before, and carries on.
func TestOlderKernelFallsBack(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.tableFlags |= 0x80
	now := time.Now()
	snap := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: []byte{2, 0, 0, 0, 1, 1}, Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour)}}}}
	if err := b.Apply(t.Context(), snap); err != nil {
		t.Fatalf("Apply on a kernel without the flags: %v", err)
	}
	if !b.noOwner || b.owned {
		t.Errorf("noOwner = %v, owned = %v; want the Backend to build without flags", b.noOwner, b.owned)
	}
	got := netnstest.Run(t, ns, "nft", "list", "table", "inet", "curfew")
	if strings.Contains(got, "flags owner") || !strings.Contains(got, "02:00:00:00:01:01") {
		t.Errorf("the table is\n%s\nwant it without flags, with the device", got)
	}
	// Another process may change it, and Verify puts it back.
	netnstest.Run(t, ns, "nft", "delete", "table", "inet", "curfew")
	if n, err := b.Verify(t.Context()); err != nil || n == 0 {
		t.Errorf("Verify after the table was deleted = %d, %v; want it rebuilt", n, err)
	}
}
