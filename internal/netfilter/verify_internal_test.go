//go:build linux

package netfilter

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

func cutoff(at time.Time, macs ...net.HardwareAddr) *curfew.Snapshot {
	s := &curfew.Snapshot{At: at}
	for _, m := range macs {
		s.Devices = append(s.Devices, &curfew.DeviceRule{MAC: m,
			Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: at.Add(time.Hour)}})
	}
	return s
}

// inCutoffSet reports whether the kernel holds mac in reach_mac.
func inCutoffSet(t *testing.T, ns int, mac net.HardwareAddr) bool {
	t.Helper()
	return strings.Contains(netnstest.Run(t, ns, "nft", "list map inet curfew reach_mac"), mac.String())
}

// TestVerifyDiscardsComparisonApplyOverlapped runs an Apply between
// Verify's dump of the sets and its repair. The Apply must not wait for
// Verify, and Verify must not repair from its dump, which the Apply made
// stale: here the dump misses a device that the Apply then lifts, and
// adding it back would restrict a device no longer restricted.
func TestVerifyDiscardsComparisonApplyOverlapped(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kept, lifted := net.HardwareAddr{2, 0, 0, 0, 0, 0xa}, net.HardwareAddr{2, 0, 0, 0, 0, 0xc}
	at := time.Now()
	if err := b.Apply(t.Context(), cutoff(at, kept, lifted)); err != nil {
		t.Fatal(err)
	}
	// Drift for Verify to find: the element of the device about to be
	// lifted is gone.
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+lifted.String()+" }")

	applied := make(chan error, 1)
	var dumped bool
	b.dumped = func(set string) {
		if set != "reach_mac" || dumped {
			return
		}
		dumped = true
		go func() { applied <- b.Apply(t.Context(), cutoff(at, kept)) }()
		select {
		case err := <-applied:
			applied <- err
		case <-time.After(10 * time.Second):
			t.Error("Apply waited for Verify's comparison")
		}
	}
	n, err := b.Verify(t.Context())
	b.dumped = nil
	if !dumped {
		t.Fatal("Verify did not compare the elements")
	}
	if err := <-applied; err != nil {
		t.Errorf("Apply during Verify: %v", err)
	}
	if err != nil || n != 0 {
		t.Errorf("Verify overlapped by Apply = %d, %v; want 0, nil (its comparison discarded)", n, err)
	}
	if inCutoffSet(t, ns, lifted) {
		t.Errorf("%s, lifted by the Apply, was added back from a stale comparison", lifted)
	}
	if !inCutoffSet(t, ns, kept) {
		t.Errorf("%s is not in reach_mac", kept)
	}
	b.mu.Lock()
	recheck := b.recheck
	b.mu.Unlock()
	if !recheck {
		t.Error("after a discarded comparison, the next Verify is not told to compare again")
	}
	for range 3 {
		if n, err := b.Verify(t.Context()); err != nil || n != 0 {
			t.Errorf("Verify after the Apply = %d, %v; want 0, nil", n, err)
		}
	}
	if inCutoffSet(t, ns, lifted) {
		t.Errorf("%s was added back", lifted)
	}
}

// TestConfirm checks the second look Verify takes, one element at a time,
// at what differs in a set read in a half state: an element the dump
// missed but the kernel holds is no drift, while a missing one, one
// curfew did not add and one whose time left is wrong are.
func TestConfirm(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	present, missing, rewritten := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 3}
	foreign := net.HardwareAddr{2, 0, 0, 0, 0, 4}
	at := time.Now()
	if err := b.Apply(t.Context(), cutoff(at, present, missing, rewritten)); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+missing.String()+" }")
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+rewritten.String()+" }")
	netnstest.Run(t, ns, "nft", "add element inet curfew reach_mac { "+rewritten.String()+" timeout 10s : jump refuse }")
	netnstest.Run(t, ns, "nft", "add element inet curfew reach_mac { "+foreign.String()+" timeout 1h : jump refuse }")

	key := func(mac net.HardwareAddr) elemKey {
		return elemKey{set: setReachMAC, start: string(mac), to: chainRefuse}
	}
	want := elements{}
	for _, m := range []net.HardwareAddr{present, missing, rewritten} {
		want[key(m)] = at.Add(time.Hour)
	}
	// A half state: the dump missed present and listed the rest.
	keys := map[elemKey]bool{key(present): true, key(missing): true, key(rewritten): true, key(foreign): true}
	b.vmu.Lock()
	del, add, err := b.confirm(want, keys, 0)
	b.vmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	macs := func(ks []elemKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, net.HardwareAddr(k.start).String())
		}
		slices.Sort(out)
		return out
	}
	var added []elemKey
	for _, e := range add {
		added = append(added, e.key)
	}
	if got, want := macs(del), []string{rewritten.String(), foreign.String()}; !slices.Equal(got, want) {
		t.Errorf("confirm deletes %v, want %v", got, want)
	}
	if got, want := macs(added), []string{missing.String(), rewritten.String()}; !slices.Equal(got, want) {
		t.Errorf("confirm adds %v, want %v", got, want)
	}
}

// TestVerifyConfirmsAfterForeignCommit has another commit land during
// Verify's dump of a set, so that the dump may show a half state: the
// drift it shows must still be repaired, after a second look at each
// element that differs, and nothing else.
func TestVerifyConfirmsAfterForeignCommit(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kept, gone, foreign := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 3}
	if err := b.Apply(t.Context(), cutoff(time.Now(), kept, gone)); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+gone.String()+" }")
	netnstest.Run(t, ns, "nft", "add element inet curfew reach_mac { "+foreign.String()+" timeout 1h : jump refuse }")
	netnstest.Run(t, ns, "nft", "add table inet neighbour")
	var commits int
	b.dumped = func(set string) {
		if set == "reach_mac" {
			commits++
			netnstest.Run(t, ns, "nft", fmt.Sprintf("add set inet neighbour s%d { type ipv4_addr; }", commits))
		}
	}
	n, err := b.Verify(t.Context())
	b.dumped = nil
	if err != nil || n != 2 {
		t.Errorf("Verify = %d, %v; want 2 (one element added back, one deleted), nil", n, err)
	}
	if commits == 0 {
		t.Fatal("Verify did not dump reach_mac")
	}
	if !inCutoffSet(t, ns, gone) || inCutoffSet(t, ns, foreign) || !inCutoffSet(t, ns, kept) {
		t.Errorf("after Verify, reach_mac is\n%s\nwant %s and %s, not %s", netnstest.Run(t, ns, "nft", "list map inet curfew reach_mac"), kept, gone, foreign)
	}
	if n, err := b.Verify(t.Context()); err != nil || n != 0 {
		t.Errorf("second Verify = %d, %v; want 0, nil", n, err)
	}
}

// TestVerifyRestsBetweenComparisons checks that a comparison of the
// elements the generation calls for waits until nine times as long as the
// last one took has passed, and then happens.
func TestVerifyRestsBetweenComparisons(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gone := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	if err := b.Apply(t.Context(), cutoff(time.Now(), gone)); err != nil {
		t.Fatal(err)
	}
	var dumps int
	b.dumped = func(string) { dumps++ }
	b.mu.Lock()
	b.lastCompare, b.compareTook = time.Now(), time.Minute // the last one took a minute
	b.mu.Unlock()
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+gone.String()+" }")
	if n, err := b.Verify(t.Context()); err != nil || n != 0 || dumps != 0 {
		t.Errorf("Verify a moment after a comparison of a minute = %d, %v, %d dumps; want 0, nil, none", n, err, dumps)
	}
	b.mu.Lock()
	b.lastCompare = time.Now().Add(-9 * time.Minute)
	b.mu.Unlock()
	if n, err := b.Verify(t.Context()); err != nil || n != 1 || dumps == 0 {
		t.Errorf("Verify nine minutes after it = %d, %v, %d dumps; want 1, nil, some", n, err, dumps)
	}
	if !inCutoffSet(t, ns, gone) {
		t.Errorf("%s was not added back", gone)
	}
}

// TestVerifyAllowsForLateRebuild checks that the elements of a rebuild
// committed well after its snapshot's time, as one of 100,000 elements on
// a busy gateway is, are not taken for drift: the kernel counts their
// timeouts from the commit, so they end that much after their Until. A
// timeout changed by more than that is still repaired.
func TestVerifyAllowsForLateRebuild(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	late, tampered := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	now := time.Now()
	s := cutoff(now, late, tampered)
	s.At = now.Add(-10 * time.Second) // applied ten seconds after it was computed
	if err := b.Apply(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, ns, "nft", "add table inet neighbour") // a commit: the next Verify compares
	if n, err := b.Verify(t.Context()); err != nil || n != 0 {
		t.Errorf("Verify after a late rebuild = %d, %v; want 0, nil", n, err)
	}
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+tampered.String()+" }")
	netnstest.Run(t, ns, "nft", "add element inet curfew reach_mac { "+tampered.String()+" timeout 2h : jump refuse }")
	b.mu.Lock()
	b.lastCompare = time.Time{} // no rest
	b.mu.Unlock()
	if n, err := b.Verify(t.Context()); err != nil || n != 1 {
		t.Errorf("Verify after a timeout was lengthened by an hour = %d, %v; want 1, nil", n, err)
	}
}
