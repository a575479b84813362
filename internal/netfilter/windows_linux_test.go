//go:build linux

package netfilter_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// rulesetWords returns the words of ns's ruleset, sorted: equal for two
// tables with the same objects, whatever order they were made in.
func rulesetWords(t testing.TB, ns int) string {
	words := strings.FieldsFunc(netnstest.Ruleset(t, ns), func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == ',' })
	slices.Sort(words)
	return strings.Join(words, " ")
}

func newWindows(t testing.TB, ns int, lan ...string) *netfilter.Windows {
	t.Helper()
	w, err := netfilter.NewWindows(&netfilter.WindowsConfig{
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		NetNS:  ns, LANInterfaces: lan,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// plan returns the kernel windows of ss as of now.
func plan(t testing.TB, now time.Time, ss ...curfew.KernelSchedule) *curfew.Snapshot {
	t.Helper()
	kw, err := curfew.PlanKernelWindows(now, curfew.KernelWindowsHorizon, ss)
	if err != nil {
		t.Fatal(err)
	}
	return &curfew.Snapshot{At: now, Windows: kw}
}

// slack is how late after a window's start or end the kernel may cut or
// let back a client.
const slack = time.Second

// probe is what one client saw of one upstream address while a window
// came and went: each attempt's start and end and whether it got through.
type probe struct {
	who       string
	at, done  []time.Time
	through   []bool
	cut       time.Time // when an established stream broke; zero if never
	surprises []string  // attempts that failed other than by a reset, away from the window's edges
}

// watch connects from ns to a every 50 ms until until, and holds a stream
// opened at once, and reports what it saw. An attempt that straddles the
// window's start or end may fail any way (its handshake passed, its first
// byte was refused); any other must pass or get a reset.
func watch(t *testing.T, who string, ns int, a netip.Addr, start, end, until time.Time) *probe {
	p := &probe{who: who}
	broke := stream(t, ns, a)
	for time.Now().Before(until) {
		at := time.Now()
		c, err := dialQuick(ns, netip.AddrPortFrom(a, 9000))
		done := time.Now()
		if err == nil {
			c.Close()
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			edge := func(e time.Time) bool { return !at.After(e.Add(slack)) && !done.Before(e) }
			if !edge(start) && !edge(end) {
				p.surprises = append(p.surprises, fmt.Sprintf("at %s: %v", at.Format("15:04:05.000"), err))
			}
		}
		p.at, p.done, p.through = append(p.at, at), append(p.done, done), append(p.through, err == nil)
		select {
		case b := <-broke:
			p.cut = b
			broke = nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p
}

// dialQuick is dialPort with deadlines short enough that an attempt cut
// by a window's start fails within a third of a second.
func dialQuick(ns int, ap netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", ap.String(), 300*time.Millisecond)
		return err
	}); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		c.Close()
		return nil, fmt.Errorf("reading first byte: %w", err)
	}
	return c, nil
}

// check asserts that p got through before start, was refused from within
// a second of start until end, and got through again within a second of
// end; and that its stream opened before start broke within a second of it.
func (p *probe) check(t *testing.T, start, end time.Time) {
	t.Helper()
	for _, s := range p.surprises {
		t.Errorf("%s: %s, want a pass or a reset", p.who, s)
	}
	var firstCut, firstBack time.Time
	for i, at := range p.at {
		switch {
		case p.done[i].Before(start) && !p.through[i]:
			t.Errorf("%s: refused at %s, %s before the window opens", p.who, p.done[i].Format("15:04:05.000"), start.Sub(p.done[i]))
		case at.After(start.Add(slack)) && at.Before(end) && p.through[i]:
			t.Errorf("%s: got through at %s, %s into the window", p.who, at.Format("15:04:05.000"), at.Sub(start))
		case at.After(end.Add(slack)) && !p.through[i]:
			t.Errorf("%s: refused at %s, %s after the window closed", p.who, at.Format("15:04:05.000"), at.Sub(end))
		}
		if !p.through[i] && firstCut.IsZero() {
			firstCut = p.done[i]
		}
		if p.through[i] && !firstCut.IsZero() && firstBack.IsZero() && at.After(start) {
			firstBack = at
		}
	}
	switch {
	case firstCut.IsZero():
		t.Errorf("%s: never refused during the window [%s, %s)", p.who, start.Format("15:04:05.000"), end.Format("15:04:05.000"))
	case firstCut.After(start.Add(slack)):
		t.Errorf("%s: first refused at %s, %s after the window opened", p.who, firstCut.Format("15:04:05.000"), firstCut.Sub(start))
	}
	if firstBack.IsZero() {
		t.Errorf("%s: never got through again after the window closed at %s", p.who, end.Format("15:04:05.000"))
	}
	switch {
	case p.cut.IsZero():
		t.Errorf("%s: a stream opened before the window still flowed after it opened", p.who)
	case p.cut.Before(start) || p.cut.After(start.Add(slack)):
		t.Errorf("%s: the stream opened before the window broke at %s, want within %s of %s", p.who, p.cut.Format("15:04:05.000"), slack, start.Format("15:04:05.000"))
	}
	t.Logf("%s: cut %s after the start, back %s after the end, stream broken %s after the start",
		p.who, firstCut.Sub(start).Round(time.Millisecond), firstBack.Sub(end).Round(time.Millisecond), p.cut.Sub(start).Round(time.Millisecond))
}

// TestWindowsKeptByKernel: a window that opens two seconds after Apply,
// on a device (by MAC) and on a routed prefix, cuts both on time and lets
// them back on time, IPv4 and IPv6, established flows included, with
// nothing of curfew left in user space: the socket that loaded the table
// is closed right after Apply. Another client is untouched throughout.
func TestWindowsKeptByKernel(t *testing.T) {
	l := newLab(t)
	w := newWindows(t, l.gw, "lan1", "lan2")
	now := time.Now()
	start := now.Add(2 * time.Second)
	end := start.Add(2 * time.Second)
	win := []curfew.TimeRange{{Start: start, End: end}, {Start: end.Add(time.Hour), End: end.Add(2 * time.Hour)}}
	s := plan(t, now,
		curfew.KernelSchedule{ID: "device", Reach: curfew.ReachCutoff, Windows: win,
			Devices: []curfew.KernelDevice{{MAC: l.mac1, Addrs: []netip.Addr{families[0].client1, families[1].client1}}}},
		curfew.KernelSchedule{ID: "routed", Reach: curfew.ReachCutoff, Windows: win,
			Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("fd00:1:2::/64")}},
	)
	if err := w.Apply(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	w.Release()
	if time.Now().After(start.Add(-time.Second)) {
		t.Fatalf("Apply took until %s, too close to the window's start", time.Since(now))
	}

	var wg sync.WaitGroup
	probes := make([]*probe, 0, 4)
	var mu sync.Mutex
	for _, f := range families {
		for _, c := range []struct {
			who string
			ns  int
		}{{"device " + f.name, l.client1}, {"routed " + f.name, l.client2}} {
			wg.Go(func() {
				p := watch(t, c.who, c.ns, f.upstream, start, end, end.Add(2*time.Second))
				mu.Lock()
				probes = append(probes, p)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for _, p := range probes {
		p.check(t, start, end)
	}
}

// TestWindowsAllowlist: during an allowlist window the client reaches the
// allowed prefixes and nothing else, both families; outside it, everything.
func TestWindowsAllowlist(t *testing.T) {
	l := newLab(t)
	netnstest.Addr(t, l.upstream, "up", netip.MustParsePrefix("10.2.0.3/24"))
	netnstest.Addr(t, l.upstream, "up", netip.MustParsePrefix("fd00:2::4/64"))
	other := []netip.Addr{netip.MustParseAddr("10.2.0.3"), netip.MustParseAddr("fd00:2::4")}
	w := newWindows(t, l.gw, "lan1", "lan2")
	now := time.Now()
	s := plan(t, now, curfew.KernelSchedule{ID: "garden", Reach: curfew.ReachAllowlist,
		AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.2.0.2/32"), netip.MustParsePrefix("fd00:2::/126")},
		Devices:       []curfew.KernelDevice{{MAC: l.mac1, Addrs: []netip.Addr{families[0].client1, families[1].client1}}},
		Windows:       []curfew.TimeRange{{Start: now.Add(-time.Minute), End: now.Add(time.Hour)}}})
	if err := w.Apply(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	for i, f := range families {
		mustConnect(t, "allowlisted client "+f.name, l.client1, f.upstream)
		mustBeRefused(t, "allowlisted client "+f.name, l.client1, other[i])
		mustConnect(t, "other client "+f.name, l.client2, other[i])
	}
	// A reload of the host's firewall deletes the table; the drift check
	// builds it again.
	netnstest.Run(t, l.gw, "nft", "flush", "ruleset")
	mustConnect(t, "allowlisted client after a flush", l.client1, other[0])
	if n, err := w.Verify(t.Context()); n != 1 || err != nil {
		t.Fatalf("Verify after a flush = %d, %v; want 1 repair", n, err)
	}
	mustBeRefused(t, "allowlisted client after the repair", l.client1, other[0])
	if n, err := w.Verify(t.Context()); n != 0 || err != nil {
		t.Errorf("Verify of an intact table = %d, %v; want nothing to repair", n, err)
	}
	// A daemon that starts and cannot read its schedules yet leaves the
	// windows as the last run left them.
	if err := newWindows(t, l.gw, "lan1", "lan2").Apply(t.Context(), &curfew.Snapshot{Windows: &curfew.KernelWindows{Keep: true}}); err != nil {
		t.Fatal(err)
	}
	mustBeRefused(t, "allowlisted client after a start that keeps", l.client1, other[0])
	// The window over: everything again.
	if err := w.Apply(t.Context(), plan(t, now)); err != nil {
		t.Fatal(err)
	}
	for i, f := range families {
		mustConnect(t, "client after the window "+f.name, l.client1, other[i])
	}
}

// manySchedules returns n schedules, one device each, of 14 windows over
// the week: school nights and afternoons at staggered times.
func manySchedules(now time.Time, n int) []curfew.KernelSchedule {
	day := now.Truncate(24 * time.Hour)
	ss := make([]curfew.KernelSchedule, n)
	for i := range ss {
		mac := net.HardwareAddr{0x02, 0x77, byte(i >> 16), byte(i >> 8), byte(i), 0x01}
		s := curfew.KernelSchedule{ID: fmt.Sprintf("s%d", i), Reach: curfew.ReachCutoff,
			Devices: []curfew.KernelDevice{{MAC: mac, Addrs: []netip.Addr{
				netip.AddrFrom4([4]byte{10, 100 + byte(i>>16), byte(i >> 8), byte(i)}),
				netip.AddrFrom16([16]byte{0xfd, 0, 0x77, 0, 12: byte(i >> 16), 13: byte(i >> 8), 14: byte(i), 15: 1}),
			}}}}
		if i%10 == 0 {
			s.Reach = curfew.ReachAllowlist
			s.AllowPrefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
		}
		if i%7 == 0 {
			s.Devices = nil
			s.Prefixes = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200 + byte(i>>16), byte(i >> 8), 0}), 24)}
		}
		for d := range 7 {
			night := day.Add(time.Duration(d)*24*time.Hour + 21*time.Hour + time.Duration(i%60)*time.Minute)
			s.Windows = append(s.Windows, curfew.TimeRange{Start: night, End: night.Add(9 * time.Hour)})
			if d < 5 {
				noon := day.Add(time.Duration(d)*24*time.Hour + 12*time.Hour + time.Duration(i%4)*15*time.Minute)
				s.Windows = append(s.Windows, curfew.TimeRange{Start: noon, End: noon.Add(time.Hour)})
			}
		}
		ss[i] = s
	}
	return ss
}

// TestWindowsDiff: with 10,000 schedules loaded, a change to one
// schedule's windows refills its one set and touches nothing else; a new
// mode rewrites its one chain; applying an equal plan again sends nothing
// and leaves the ruleset as it was; an empty plan empties the table.
func TestWindowsDiff(t *testing.T) {
	ns := netnstest.New(t)
	w := newWindows(t, ns, "lan0")
	now := time.Now()
	ss := manySchedules(now, 10_000)
	start := time.Now()
	if err := w.Apply(t.Context(), plan(t, now, ss...)); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded 10,000 schedules in %s", time.Since(start).Round(time.Millisecond))
	// 60 distinct weeks of windows (schedules with equal windows share a
	// set), and two allow sets for each of the 1,000 allowlists.
	if got := w.LastChange(); !got.Rebuilt || got.Sets != 60+2*1000 {
		t.Errorf("first Apply: %+v, want a rebuild with 2,060 sets", got)
	}
	start = time.Now()
	if n, err := w.Verify(t.Context()); n != 0 || err != nil {
		t.Errorf("Verify of the table just built = %d, %v; want nothing to repair", n, err)
	}
	t.Logf("a drift check of 10,000 schedules took %s", time.Since(start).Round(time.Millisecond))
	before := netnstest.Ruleset(t, ns)

	if err := w.Apply(t.Context(), plan(t, now, ss...)); err != nil {
		t.Fatal(err)
	}
	if got := w.LastChange(); got != (netfilter.WindowsChange{}) {
		t.Errorf("applying an equal plan again sent %+v, want nothing", got)
	}
	if after := netnstest.Ruleset(t, ns); after != before {
		t.Errorf("applying an equal plan again changed the ruleset")
	}

	// s4321 cuts one device off (not a multiple of 7 or 10).
	ss[4321].Windows = ss[4321].Windows[2:]
	if err := w.Apply(t.Context(), plan(t, now, ss...)); err != nil {
		t.Fatal(err)
	}
	if got, want := w.LastChange(), (netfilter.WindowsChange{Sets: 1, Chains: 1}); got != want {
		t.Errorf("after one schedule's windows changed: %+v, want %+v (its new windows' set, its chain)", got, want)
	}

	ss[4321].Reach = curfew.ReachAllowlist
	ss[4321].AllowPrefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	if err := w.Apply(t.Context(), plan(t, now, ss...)); err != nil {
		t.Fatal(err)
	}
	// Its cutoff chain goes, its two allowlist chains and two allow sets
	// come, and its MAC and two addresses lead to the new chains.
	if got, want := w.LastChange(), (netfilter.WindowsChange{Sets: 2, Chains: 3, Elements: 2 + 4 + 4}); got != want {
		t.Errorf("after one schedule became an allowlist: %+v, want %+v", got, want)
	}
	// What the changes built is what a build from scratch builds.
	fresh := netnstest.New(t)
	if err := newWindows(t, fresh, "lan0").Apply(t.Context(), plan(t, now, ss...)); err != nil {
		t.Fatal(err)
	}
	if got, want := rulesetWords(t, ns), rulesetWords(t, fresh); got != want {
		t.Errorf("after changes the table differs from one built from scratch")
	}

	if err := w.Apply(t.Context(), plan(t, now)); err != nil {
		t.Fatal(err)
	}
	if out := netnstest.Ruleset(t, ns); strings.Contains(out, "times_") || strings.Contains(out, "jump o_") {
		t.Errorf("an empty plan left schedules in the table:\n%.2000s", out)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out := netnstest.Ruleset(t, ns); strings.Contains(out, netfilter.DefaultWindowsTable) {
		t.Errorf("Close left the table:\n%s", out)
	}
}
