package engine_test

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

func seenMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x06, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

// TestRecordSeen: sightings merge into one record per MAC (first and last
// seen, the latest addresses, the lease's hostname); a MAC seen for the
// first time is audited once; and a registered device's look-alike
// carries a hint.
func TestRecordSeen(t *testing.T) {
	f := newFixture(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := f.eng.AddPerson(f.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Name: "Alice iPhone", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}

	a4, a6 := netip.MustParseAddr("192.168.50.20"), netip.MustParseAddr("fd00:50::20")
	for _, batch := range [][]curfew.Sighting{
		{{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, At: t0, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10")}, Hostname: "alice-laptop", ClientID: "01:02"}},
		{{MAC: seenMAC(1), At: t0, Addrs: []netip.Addr{a4}}},
		{{MAC: seenMAC(1), At: t0.Add(time.Minute), Addrs: []netip.Addr{a6}, Hostname: "Alice-iPhone"}},
		{{MAC: seenMAC(2), At: t0, ClientID: "01:02"}},
	} {
		if err := f.eng.RecordSeen(f.ctx, batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	seen, err := f.eng.SeenDevices(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range seen {
		got = append(got, fmt.Sprintf("%s registered=%v first=%s last=%s addrs=%v host=%q id=%q resembles=%v",
			s.MAC, s.Registered, s.FirstSeen.Sub(t0), s.LastSeen.Sub(t0), s.Addrs, s.Hostname, s.ClientID, s.Resembles))
	}
	want := []string{
		`02:00:00:00:00:01 registered=true first=0s last=0s addrs=[192.168.50.10] host="alice-laptop" id="01:02" resembles=[]`,
		`06:00:00:00:00:01 registered=false first=0s last=1m0s addrs=[fd00:50::20 192.168.50.20] host="Alice-iPhone" id="" resembles=[02:00:00:00:00:01]`,
		`06:00:00:00:00:02 registered=false first=0s last=0s addrs=[] host="" id="01:02" resembles=[02:00:00:00:00:01]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SeenDevices =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var recorded []string
	for _, e := range events(t, f.db) {
		if e.Kind == audit.KindDeviceSeen {
			recorded = append(recorded, fmt.Sprintf("%s %s addrs=%v host=%q random=%v", e.Actor, e.Subject, e.After.Addrs, e.After.Hostname, e.After.RandomMAC))
		}
	}
	wantSeen := []string{
		`curfew device:02:00:00:00:00:01 addrs=[192.168.50.10] host="alice-laptop" random=true`,
		`curfew device:06:00:00:00:00:01 addrs=[192.168.50.20] host="" random=true`,
		`curfew device:06:00:00:00:00:02 addrs=[] host="" random=true`,
	}
	if strings.Join(recorded, "\n") != strings.Join(wantSeen, "\n") {
		t.Errorf("device.seen events:\n%s\nwant one for each new MAC, as first seen:\n%s", strings.Join(recorded, "\n"), strings.Join(wantSeen, "\n"))
	}
}

// TestRecordSeenIsBounded floods the engine with 12,000 made-up MACs: the
// store keeps at most MaxUnregistered of them (and every registered
// device), the audit log grows by at most the budget's burst plus a
// summary, and an unregistered device not seen for MaxAge is forgotten.
func TestRecordSeenIsBounded(t *testing.T) {
	f := newFixtureSeen(t, curfew.SeenLimits{MaxUnregistered: 1000, MaxAge: time.Hour})
	registered := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: registered}); err != nil {
		t.Fatal(err)
	}
	now := f.now
	if err := f.eng.RecordSeen(f.ctx, []curfew.Sighting{{MAC: registered, At: now.Add(-2 * time.Hour)}}, 0); err != nil {
		t.Fatal(err)
	}
	before := events(t, f.db)
	const flood, batch = 12000, 3000
	for i := 0; i < flood; i += batch {
		ss := make([]curfew.Sighting, batch)
		for j := range ss {
			ss[j] = curfew.Sighting{MAC: seenMAC(i + j), At: now}
		}
		if err := f.eng.RecordSeen(f.ctx, ss, 7); err != nil {
			t.Fatal(err)
		}
	}
	seen, err := f.eng.SeenDevices(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	unregistered, kept := 0, false
	for _, s := range seen {
		if s.Registered {
			kept = true
		} else {
			unregistered++
		}
	}
	if unregistered != 1000 || !kept {
		t.Errorf("after %d made-up MACs: %d unregistered kept (want the cap, 1000), registered device kept = %v", flood, unregistered, kept)
	}
	after := events(t, f.db)
	if n := len(after) - len(before); n > 101 {
		t.Errorf("a flood of %d new MACs added %d audit entries, want at most 101 (the burst and a summary)", flood, n)
	}
	var summaries []int64
	for _, e := range after[len(before):] {
		if e.Kind == audit.KindDeviceSeenSummary {
			summaries = append(summaries, e.After.Unaudited)
		}
	}
	// What is left of the burst of 100 after the registered device (99)
	// is recorded one by one; the rest of the first batch, and its 7
	// dropped, are counted by its summary, the only one a minute.
	if want := []int64{3000 - 99 + 7}; !slices.Equal(summaries, want) {
		t.Errorf("the flood was summarised as %v new MACs not recorded one by one, want %v (one summary: the clock stands still)", summaries, want)
	}

	// Past MaxAge, unregistered devices are forgotten; registered ones stay.
	f.now = f.now.Add(2 * time.Hour)
	if err := f.eng.RecordSeen(f.ctx, []curfew.Sighting{{MAC: seenMAC(flood + 1), At: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	seen, _ = f.eng.SeenDevices(f.ctx)
	if len(seen) != 2 {
		t.Errorf("after MaxAge: %d seen devices, want the registered one and the newest", len(seen))
	}
}

// newFixtureSeen is newFixture with seen-device limits l and a clock that
// stands still, so that the audit budget does not refill.
func newFixtureSeen(t *testing.T, l curfew.SeenLimits) *seenFixture {
	sf := &seenFixture{now: time.Now().UTC()}
	sf.fixture = newFixtureConfig(t, func(c *engine.Config) { c.Seen, c.Now = l, func() time.Time { return sf.now } })
	return sf
}

// seenFixture is a fixture whose clock moves only when now is set.
type seenFixture struct {
	*fixture
	now time.Time
}

// TestSeenHintsFollowDevices: the registered devices a seen one resembles
// are what they are at each listing, though the engine keeps their names
// between listings: a device registered, removed or repaired after one
// listing shows in the next.
func TestSeenHintsFollowDevices(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	if err := f.eng.RecordSeen(f.ctx, []curfew.Sighting{{MAC: seenMAC(1), At: now, Hostname: "Kitchen-TV"}}, 0); err != nil {
		t.Fatal(err)
	}
	resembles := func() []net.HardwareAddr {
		t.Helper()
		seen, err := f.eng.SeenDevices(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range seen {
			if string(s.MAC) == string(seenMAC(1)) {
				return s.Resembles
			}
		}
		t.Fatalf("SeenDevices lacks %s", seenMAC(1))
		return nil
	}
	if got := resembles(); len(got) != 0 {
		t.Fatalf("before any device is registered, it resembles %v", got)
	}
	tv := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	if _, err := f.eng.AddDevice(f.ctx, &curfew.Device{MAC: tv, Name: "kitchen tv"}); err != nil {
		t.Fatal(err)
	}
	if got := resembles(); len(got) != 1 || string(got[0]) != string(tv) {
		t.Errorf("after registering %s, \"kitchen tv\", Kitchen-TV resembles %v, want it", tv, got)
	}
	if _, err := f.eng.RemoveDevice(f.ctx, tv, "sold"); err != nil {
		t.Fatal(err)
	}
	if got := resembles(); len(got) != 0 {
		t.Errorf("after removing %s, Kitchen-TV still resembles %v", tv, got)
	}
}
