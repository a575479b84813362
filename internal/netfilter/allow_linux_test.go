//go:build linux

package netfilter_test

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

func allowlisted(at time.Time, mac net.HardwareAddr, d time.Duration) *curfew.Snapshot {
	return &curfew.Snapshot{At: at, Devices: []*curfew.DeviceRule{{MAC: mac,
		Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: at.Add(d), AllowNames: []string{"news.example"}}}}}
}

// timeoutOf returns the timeout nft lists for the element of mac and a in
// the set named set, or "" if there is none.
func timeoutOf(t *testing.T, ns int, set string, mac net.HardwareAddr, a netip.Addr) string {
	t.Helper()
	out := netnstest.Run(t, ns, "nft", "list", "set", "inet", "curfew", set)
	m := regexp.MustCompile(regexp.QuoteMeta(mac.String()+" . "+a.String()) + ` timeout ([0-9dhms]+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestAllowDestinationKeepsLongerAndClamps(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	a := netip.MustParseAddr("203.0.113.7")
	if err := b.AllowDestination(macA, a, time.Hour); err == nil {
		t.Error("AllowDestination before the first Apply succeeded")
	}
	mustApply(t, b, allowlisted(time.Now(), macA, 2*time.Hour))

	steps := []struct {
		addr netip.Addr
		ttl  time.Duration
		want string
	}{
		{a, time.Hour, "1h"},
		{a, 10 * time.Minute, "1h"}, // a shorter TTL keeps the longer one
		{a, 90 * time.Minute, "1h30m"},
		{a, 5 * time.Hour, "1h59m"}, // not past the restriction's end
		{netip.MustParseAddr("::ffff:203.0.113.8"), time.Minute, "1m"},
	}
	for _, st := range steps {
		if err := b.AllowDestination(macA, st.addr, st.ttl); err != nil {
			t.Fatalf("AllowDestination(%s, %s): %v", st.addr, st.ttl, err)
		}
		// A clamped timeout is a few milliseconds short of the round
		// figure: compare the leading units.
		if got := timeoutOf(t, ns, "allow_v4", macA, st.addr.Unmap()); got == "" || !strings.HasPrefix(got, st.want) {
			t.Errorf("after AllowDestination(%s, %s) the timeout is %q, want %q", st.addr, st.ttl, got, st.want)
		}
	}

	if err := b.AllowDestination(nil, a, time.Hour); err != nil {
		t.Errorf("AllowDestination with no MAC (an ip: subject) = %v, want nil", err)
	}
	for _, bad := range []struct {
		mac  net.HardwareAddr
		addr netip.Addr
		ttl  time.Duration
	}{
		{net.HardwareAddr{1, 2, 3}, a, time.Hour},
		{macA, netip.Addr{}, time.Hour},
		{macA, a, 0},
	} {
		if err := b.AllowDestination(bad.mac, bad.addr, bad.ttl); err == nil {
			t.Errorf("AllowDestination(%v, %v, %v) succeeded", bad.mac, bad.addr, bad.ttl)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.AllowDestination(macA, a, time.Hour); err == nil {
		t.Error("AllowDestination after Close succeeded")
	}
}

// TestAllowDestinationConcurrent adds destinations from several goroutines
// while Apply and Verify run, and checks that every one ends up in the
// kernel and Verify sees no drift. Run it with -race.
func TestAllowDestinationConcurrent(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	at := time.Now()
	base := allowlisted(at, macA, time.Hour)
	mustApply(t, b, base)
	// The other snapshot also cuts a device off: each Apply sends a batch.
	other := allowlisted(at, macA, time.Hour)
	other.Devices = append(other.Devices, &curfew.DeviceRule{MAC: macB, Enforcement: cut(at.Add(time.Hour), 2)})

	const workers, each = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers*each+100)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				a := netip.AddrFrom4([4]byte{10, 77, byte(w), byte(i)})
				if i%2 == 1 {
					a = netip.MustParseAddr(fmt.Sprintf("2001:db8:77::%x:%x", w, i))
				}
				if err := b.AllowDestination(macA, a, time.Hour); err != nil {
					errs <- err
				}
			}
		})
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := base
			if i%2 == 0 {
				s = other
			}
			if err := b.Apply(t.Context(), s); err != nil {
				errs <- err
			}
			if _, err := b.Verify(t.Context()); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(stop)
	side.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	mustApply(t, b, base)
	if n := verifyAll(t, b); n != 0 {
		t.Errorf("Verify repaired %d, want 0", n)
	}
	rs := ruleset(t, ns)
	for w := range workers {
		for i := range each {
			want := fmt.Sprintf("10.77.%d.%d", w, i)
			if i%2 == 1 {
				want = netip.MustParseAddr(fmt.Sprintf("2001:db8:77::%x:%x", w, i)).String()
			}
			if !strings.Contains(rs, macA.String()+" . "+want+" ") {
				t.Fatalf("destination %s missing from the ruleset:\n%s", want, rs)
			}
		}
	}
}
