// Package enforcetest is the conformance suite every enforce.Backend must
// pass: Run applies a sequence of snapshots and checks, through the
// backend's own view of what it installed, that exactly the right devices
// and addresses are cut off until the right time.
package enforcetest

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
)

// Harness is one backend under test and the means to observe it.
type Harness struct {
	Backend enforce.Backend

	// LookupMAC reports whether the device with mac is cut off and until
	// when, as the backend's installed state says (not its memory of it).
	LookupMAC func(ctx context.Context, mac net.HardwareAddr) (until time.Time, ok bool, err error)
	// LookupAddr does the same for traffic from an address (ip: rules).
	LookupAddr func(ctx context.Context, a netip.Addr) (until time.Time, ok bool, err error)

	// Tamper removes installed state behind the backend's back, as an
	// administrator flushing the firewall would. Nil if the backend's state
	// cannot drift; then Verify is not exercised.
	Tamper func(ctx context.Context) error

	// Slack is how far an observed end time may be from the wanted one,
	// for backends that store remaining time rather than an instant.
	Slack time.Duration
}

var (
	macA = mustMAC("02:00:00:00:00:0a")
	macB = mustMAC("02:00:00:00:00:0b")
	macC = mustMAC("02:00:00:00:00:0c")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func cut(until time.Time, ids ...curfew.RestrictionID) curfew.Enforcement {
	return curfew.Enforcement{Mode: curfew.ModeCutoff, Until: until, RestrictedUntil: until, Restrictions: ids}
}

// Run runs the suite. newHarness must return a fresh backend each call, with
// nothing installed, and arrange its cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	// Times are relative to the real clock: kernel backends count timeouts
	// from the moment they are installed.
	now := time.Now().UTC().Truncate(time.Millisecond)
	hour := now.Add(time.Hour)
	day := now.Add(24 * time.Hour)

	two := &curfew.Snapshot{
		At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: macA, Enforcement: cut(hour, 1)},
			{MAC: macB, Addrs: []netip.Addr{netip.MustParseAddr("10.9.0.2")}, Enforcement: cut(day, 2)},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("10.99.0.0/24"), Enforcement: cut(hour, 3)},
			{Prefix: netip.MustParsePrefix("2001:db8:99::/64"), Enforcement: cut(day, 4)},
			{Prefix: netip.MustParsePrefix("2001:db8:aa::7/128"), Enforcement: cut(hour, 5)},
		},
	}

	t.Run("apply", func(t *testing.T) {
		h := newHarness(t)
		mustApply(t, h, two)
		checkState(t, h, map[string]time.Time{"a": hour, "b": day}, map[string]time.Time{
			"10.99.0.0": hour, "10.99.0.255": hour, "2001:db8:99::1": day, "2001:db8:aa::7": hour,
		})
	})

	t.Run("apply twice changes nothing", func(t *testing.T) {
		h := newHarness(t)
		mustApply(t, h, two)
		mustApply(t, h, two)
		checkState(t, h, map[string]time.Time{"a": hour, "b": day}, map[string]time.Time{
			"10.99.0.7": hour, "2001:db8:99::ffff": day, "2001:db8:aa::7": hour,
		})
	})

	t.Run("extend, shorten, add and remove", func(t *testing.T) {
		h := newHarness(t)
		mustApply(t, h, two)
		next := &curfew.Snapshot{
			At: now,
			Devices: []*curfew.DeviceRule{
				{MAC: macA, Enforcement: cut(day, 1)},  // extended
				{MAC: macC, Enforcement: cut(hour, 6)}, // new
			}, // macB lifted
			Prefixes: []curfew.PrefixRule{
				{Prefix: netip.MustParsePrefix("10.99.0.0/24"), Enforcement: cut(now.Add(time.Minute), 3)}, // shortened
				{Prefix: netip.MustParsePrefix("192.0.2.8/29"), Enforcement: cut(hour, 7)},                 // new
			},
		}
		mustApply(t, h, next)
		checkState(t, h, map[string]time.Time{"a": day, "c": hour}, map[string]time.Time{
			"10.99.0.1": now.Add(time.Minute), "192.0.2.8": hour, "192.0.2.15": hour,
		})
	})

	t.Run("overlapping prefixes", func(t *testing.T) {
		h := newHarness(t)
		s := &curfew.Snapshot{At: now, Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Enforcement: cut(hour, 1)},
			{Prefix: netip.MustParsePrefix("10.50.3.4/32"), Enforcement: cut(day, 2)},
		}}
		mustApply(t, h, s)
		checkState(t, h, nil, map[string]time.Time{"10.50.0.1": hour, "10.50.3.4": day, "10.50.255.255": hour})
		// Lifting the wide prefix leaves the narrow one.
		mustApply(t, h, &curfew.Snapshot{At: now, Prefixes: s.Prefixes[1:]})
		checkState(t, h, nil, map[string]time.Time{"10.50.3.4": day})
	})

	t.Run("zero snapshot removes everything", func(t *testing.T) {
		h := newHarness(t)
		mustApply(t, h, two)
		mustApply(t, h, &curfew.Snapshot{At: now})
		checkState(t, h, nil, nil)
	})

	t.Run("verify repairs drift", func(t *testing.T) {
		h := newHarness(t)
		v, ok := h.Backend.(enforce.Verifier)
		if h.Tamper == nil || !ok {
			t.Skip("backend state cannot drift")
		}
		mustApply(t, h, two)
		if n, err := v.Verify(t.Context()); err != nil || n != 0 {
			t.Fatalf("Verify after Apply = %d, %v; want 0, nil", n, err)
		}
		if err := h.Tamper(t.Context()); err != nil {
			t.Fatalf("Tamper: %v", err)
		}
		n, err := v.Verify(t.Context())
		if err != nil || n == 0 {
			t.Fatalf("Verify after tampering = %d, %v; want > 0, nil", n, err)
		}
		checkState(t, h, map[string]time.Time{"a": hour, "b": day}, map[string]time.Time{
			"10.99.0.7": hour, "2001:db8:99::1": day, "2001:db8:aa::7": hour,
		})
	})
}

func mustApply(t *testing.T, h *Harness, s *curfew.Snapshot) {
	t.Helper()
	if err := h.Backend.Apply(t.Context(), s); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// checkState checks that exactly the devices in macs (by suffix letter) are
// cut off until the given times, and that each address in addrs is cut off
// until its time while probes outside them are not.
func checkState(t *testing.T, h *Harness, macs map[string]time.Time, addrs map[string]time.Time) {
	t.Helper()
	ctx := t.Context()
	for name, mac := range map[string]net.HardwareAddr{"a": macA, "b": macB, "c": macC} {
		until, ok, err := h.LookupMAC(ctx, mac)
		if err != nil {
			t.Fatalf("LookupMAC(%s): %v", mac, err)
		}
		want, wantOK := macs[name]
		if ok != wantOK {
			t.Errorf("LookupMAC(%s) cut off = %v, want %v", mac, ok, wantOK)
			continue
		}
		if ok && !near(until, want, h.Slack) {
			t.Errorf("LookupMAC(%s) until = %s, want %s (±%s)", mac, until, want, h.Slack)
		}
	}
	for s, want := range addrs {
		a := netip.MustParseAddr(s)
		until, ok, err := h.LookupAddr(ctx, a)
		if err != nil {
			t.Fatalf("LookupAddr(%s): %v", a, err)
		}
		if !ok {
			t.Errorf("LookupAddr(%s) cut off = false, want true", a)
			continue
		}
		if !near(until, want, h.Slack) {
			t.Errorf("LookupAddr(%s) until = %s, want %s (±%s)", a, until, want, h.Slack)
		}
	}
	for _, s := range []string{"10.98.255.255", "10.100.0.0", "2001:db8:98::1", "192.0.2.16", "10.51.0.0", "2001:db8:aa::8"} {
		a := netip.MustParseAddr(s)
		if _, ok := addrs[s]; ok {
			continue
		}
		if _, ok, err := h.LookupAddr(ctx, a); err != nil || ok {
			t.Errorf("LookupAddr(%s) = %v, %v; want not cut off", a, ok, err)
		}
	}
}

func near(got, want time.Time, slack time.Duration) bool {
	d := got.Sub(want)
	return d <= slack && d >= -slack
}
