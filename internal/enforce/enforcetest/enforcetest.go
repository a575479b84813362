// Package enforcetest is the conformance suite every enforce.Backend must
// pass: Run applies a sequence of snapshots and checks, through the
// backend's own view of what it installed, that exactly the right devices
// and addresses are cut off until the right time, and, for a backend that
// keeps the other axes of an Enforcement, that each device gets the reach,
// the allowed prefixes and the rate its snapshot says, no more and no less.
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

	// LookupReach reports the reach the backend holds the device with
	// mac to and until when, as its installed state says: ReachOpen if it
	// holds it to nothing. Nil if the backend keeps cut-offs only; then
	// the axes are not exercised.
	LookupReach func(ctx context.Context, mac net.HardwareAddr) (reach curfew.Reach, until time.Time, err error)
	// LookupAllowed reports whether the backend lets the allowlisted
	// device mac reach a, as a prefix of its allowlist. Nil if the backend
	// leaves prefixes to another; then they are not checked.
	LookupAllowed func(ctx context.Context, mac net.HardwareAddr, a netip.Addr) (bool, error)
	// LookupRate reports the rate the backend holds the device to; zero
	// if none. Nil if the backend leaves rates to another (netfilter
	// leaves them to tc); then a rate must change nothing it holds.
	LookupRate func(ctx context.Context, mac net.HardwareAddr) (curfew.Rate, error)

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
	macD = mustMAC("02:00:00:00:00:0d")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func cut(until time.Time, ids ...curfew.RestrictionID) curfew.Enforcement {
	return curfew.Enforcement{Reach: curfew.ReachCutoff, Until: until, RestrictedUntil: until, Restrictions: ids}
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

	t.Run("every axis", func(t *testing.T) {
		h := newHarness(t)
		if h.LookupReach == nil {
			t.Skip("backend keeps cut-offs only")
		}
		runAxes(t, h, now)
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

// axes is one device's wanted state in runAxes.
type axes struct {
	reach   curfew.Reach
	until   time.Time
	rate    curfew.Rate
	allowed []string // addresses the device's allowlist lets it reach
	denied  []string // addresses it does not
}

// runAxes applies a snapshot with a device under each reach, throttled or
// not, then changes every device to another reach, and checks each axis
// after each apply: the second apply is the incremental path of a backend
// that has one.
func runAxes(t *testing.T, h *Harness, now time.Time) {
	hour, day := now.Add(time.Hour), now.Add(24*time.Hour)
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	e := func(reach curfew.Reach, until time.Time, rate curfew.Rate, id curfew.RestrictionID) curfew.Enforcement {
		x := curfew.Enforcement{Reach: reach, RestrictedUntil: day, Restrictions: []curfew.RestrictionID{id}}
		if reach.Restricted() {
			x.Until = until
		}
		if rate > 0 {
			x.Rate, x.RateUntil = rate, day
		}
		return x
	}
	allowB := e(curfew.ReachAllowlist, hour, 0, 2)
	allowB.AllowNames = []string{"news.example"}
	allowB.AllowPrefixes = pfx("198.51.100.0/24", "2001:db8:5::/48")
	blockC := e(curfew.ReachBlocklist, hour, 2_000_000, 3)
	blockC.BlockNames = []string{"games.example"}
	first := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: macA, Enforcement: e(curfew.ReachCutoff, hour, 1_000_000, 1)}, // cut off; the rate moot
		{MAC: macB, Enforcement: allowB},
		{MAC: macC, Enforcement: blockC},                                       // blocklisted and throttled
		{MAC: macD, Enforcement: e(curfew.ReachOpen, time.Time{}, 512_000, 4)}, // throttled alone
	}}
	mustApply(t, h, first)
	checkAxes(t, h, map[string]axes{
		"a": {reach: curfew.ReachCutoff, until: hour, rate: 1_000_000},
		"b": {reach: curfew.ReachAllowlist, until: hour,
			allowed: []string{"198.51.100.1", "198.51.100.255", "2001:db8:5::1", "2001:db8:5:ffff::9"},
			denied:  []string{"198.51.101.1", "192.0.2.1", "2001:db8:6::1", "2001:db8::1"}},
		"c": {reach: curfew.ReachBlocklist, until: hour, rate: 2_000_000},
		"d": {reach: curfew.ReachOpen, rate: 512_000},
	})
	if _, ok, err := h.LookupMAC(t.Context(), macD); err != nil || ok {
		t.Errorf("LookupMAC(%s) of a throttled device = cut off %v, %v; want not cut off", macD, ok, err)
	}

	// Every device moves: the cut-off one to a throttle alone, the
	// allowlisted one to a blocklist, the blocklisted one to an allowlist
	// of other prefixes, the throttled one to a cut-off.
	allowC := e(curfew.ReachAllowlist, day, 2_000_000, 3)
	allowC.AllowPrefixes = pfx("192.0.2.0/28", "2001:db8:7::/64")
	blockB := e(curfew.ReachBlocklist, day, 0, 2)
	blockB.BlockNames = []string{"video.example"}
	second := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: macA, Enforcement: e(curfew.ReachOpen, time.Time{}, 1_000_000, 1)},
		{MAC: macB, Enforcement: blockB},
		{MAC: macC, Enforcement: allowC},
		{MAC: macD, Enforcement: e(curfew.ReachCutoff, day, 512_000, 4)},
	}}
	mustApply(t, h, second)
	checkAxes(t, h, map[string]axes{
		"a": {reach: curfew.ReachOpen, rate: 1_000_000},
		"b": {reach: curfew.ReachBlocklist, until: day, denied: []string{"198.51.100.1", "2001:db8:5::1"}},
		"c": {reach: curfew.ReachAllowlist, until: day, rate: 2_000_000,
			allowed: []string{"192.0.2.1", "192.0.2.15", "2001:db8:7::1"},
			denied:  []string{"192.0.2.16", "198.51.100.1", "2001:db8:5::1", "2001:db8:8::1"}},
		"d": {reach: curfew.ReachCutoff, until: day, rate: 512_000},
	})

	// A throttle alone ending leaves nothing; the others are lifted.
	mustApply(t, h, &curfew.Snapshot{At: now})
	checkAxes(t, h, map[string]axes{
		"a": {reach: curfew.ReachOpen}, "b": {reach: curfew.ReachOpen},
		"c": {reach: curfew.ReachOpen, denied: []string{"192.0.2.1"}}, "d": {reach: curfew.ReachOpen},
	})
}

// checkAxes checks each device's reach, its end, its allowed prefixes and
// its rate, as far as the harness can see them.
func checkAxes(t *testing.T, h *Harness, want map[string]axes) {
	t.Helper()
	ctx := t.Context()
	for name, mac := range map[string]net.HardwareAddr{"a": macA, "b": macB, "c": macC, "d": macD} {
		w := want[name]
		reach, until, err := h.LookupReach(ctx, mac)
		if err != nil {
			t.Fatalf("LookupReach(%s): %v", mac, err)
		}
		if reach != w.reach {
			t.Errorf("LookupReach(%s) = %s, want %s", mac, reach, w.reach)
		} else if w.reach.Restricted() && !near(until, w.until, h.Slack) {
			t.Errorf("LookupReach(%s) until = %s, want %s (±%s)", mac, until, w.until, h.Slack)
		}
		if h.LookupAllowed != nil {
			for _, list := range []struct {
				addrs []string
				want  bool
			}{{w.allowed, true}, {w.denied, false}} {
				for _, s := range list.addrs {
					ok, err := h.LookupAllowed(ctx, mac, netip.MustParseAddr(s))
					if err != nil {
						t.Fatalf("LookupAllowed(%s, %s): %v", mac, s, err)
					}
					if ok != list.want {
						t.Errorf("LookupAllowed(%s, %s) = %v, want %v", mac, s, ok, list.want)
					}
				}
			}
		}
		if h.LookupRate != nil {
			rate, err := h.LookupRate(ctx, mac)
			if err != nil {
				t.Fatalf("LookupRate(%s): %v", mac, err)
			}
			if rate != w.rate {
				t.Errorf("LookupRate(%s) = %s, want %s", mac, rate, w.rate)
			}
		}
	}
}
