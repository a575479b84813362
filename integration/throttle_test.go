//go:build integration

package integration

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// throttleRate is the integration tests' throttle, in bits per second, as
// given to the CLI.
const (
	throttleRate     = 2_000_000
	throttleRateFlag = "2mbit"
)

// throttle runs `curfew restrict SUBJECT --mode throttle --rate 2mbit`
// and returns the new restriction's id.
func (g *gateway) throttle(subject, duration, reason string) int64 {
	g.t.Helper()
	out := g.mustCurfew("restrict", subject, "--mode", "throttle", "--rate", throttleRateFlag, "--for", duration, "--reason", reason)
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		g.t.Fatalf("curfew restrict printed %q, want the restriction id alone", out)
	}
	return id
}

// download times a download of n bytes of the upstream's /download page
// from c over the family's upstream address.
func download(t *testing.T, c *lab.Client, upstream string, n int) (lab.Transfer, error) {
	return c.Download(t.Context(), upstream+"/download?bytes="+strconv.Itoa(n), 30*time.Second)
}

// TestThrottleDevice throttles one device through the CLI: its downloads,
// over IPv4 and IPv6, run within 20% of the rate over 5 s, while another
// client's, at the same time, are not slowed; lift gives it its speed back.
func TestThrottleDevice(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	id := g.throttle(device(c1), "10m", "integration: slow lane")
	for _, f := range families {
		base := lab.UpstreamURL(f.upstream, lab.AltPort, "")
		var other lab.Transfer
		var otherErr error
		var wg sync.WaitGroup
		wg.Go(func() { other, otherErr = download(t, c2, base, 32<<20) })
		got, err := download(t, c1, base, throttleRate*5/8) // 5 s at the rate
		wg.Wait()
		if err != nil || otherErr != nil {
			t.Fatalf("over %s: throttled download: %v; other client's: %v", f.name, err, otherErr)
		}
		t.Logf("over %s: throttled client %.0f kbit/s in %v; other client %.0f kbit/s", f.name, got.Rate()/1000, got.Elapsed.Round(time.Millisecond), other.Rate()/1000)
		if r := got.Rate(); r < 0.8*throttleRate || r > 1.2*throttleRate {
			t.Errorf("over %s: throttled client downloads at %.0f kbit/s, want within 20%% of %d kbit/s", f.name, r/1000, throttleRate/1000)
		}
		if r := other.Rate(); r < 10*throttleRate {
			t.Errorf("over %s: other client downloads at %.0f kbit/s, want at least ten times the throttle", f.name, r/1000)
		}
	}
	g.mustCurfew("lift", itoa(id), "--reason", "integration: done")
	for _, f := range families {
		base := lab.UpstreamURL(f.upstream, lab.AltPort, "")
		var last lab.Transfer
		if _, ok := waitUntil(5*time.Second, 50*time.Millisecond, func() bool {
			tr, err := download(t, c1, base, 4<<20)
			last = tr
			return err == nil && tr.Rate() > 10*throttleRate
		}); !ok {
			t.Errorf("over %s: client 1 still at %.0f kbit/s after lift", f.name, last.Rate()/1000)
		}
	}
}

// TestThrottleEndsWithDaemonDead kills the daemon with -9 during a short
// throttle: the kernel holds the rate while the daemon is dead, and ends
// the throttle on time by itself.
func TestThrottleEndsWithDaemonDead(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1 := g.Clients[0]
	id := g.throttle(device(c1), "15s", "integration: short slow lane")
	r, err := g.api.Restriction(t.Context(), restrictionID(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.KillDaemon(); err != nil {
		t.Fatal(err)
	}
	base := lab.UpstreamURL(lab.UpstreamV6, lab.AltPort, "")
	during, err := download(t, c1, base, throttleRate*2/8) // 2 s at the rate
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with the daemon dead: %.0f kbit/s", during.Rate()/1000)
	if during.Rate() > 1.2*throttleRate {
		t.Errorf("with the daemon dead the throttled client downloads at %.0f kbit/s, want at most %d", during.Rate()/1000, throttleRate*12/10/1000)
	}
	var last lab.Transfer
	took, ok := waitUntil(time.Until(r.End)+5*time.Second, 100*time.Millisecond, func() bool {
		tr, err := download(t, c1, base, 256<<10) // 1 s at the rate: a poll, not a measurement
		last = tr
		return err == nil && tr.Rate() > 10*throttleRate && time.Now().After(r.End.Add(-time.Second))
	})
	if !ok {
		t.Fatalf("client 1 still at %.0f kbit/s %v after its throttle's end (daemon dead)", last.Rate()/1000, time.Since(r.End).Round(time.Millisecond))
	}
	t.Logf("full speed again %v after the throttle's end, with the daemon dead (%v of polling)", time.Since(r.End).Round(time.Millisecond), took.Round(time.Millisecond))
}

// TestThrottleBesideOperatorQdisc puts a qdisc of the operator's own at
// the root of the gateway's WAN interface: curfew leaves it alone, still
// holds the throttled client's downloads (shaped on the LAN side), and
// every restriction still applies.
func TestThrottleBesideOperatorQdisc(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	if out, err := g.Gateway.Command(t.Context(), "tc", "qdisc", "add", "dev", lab.WANInterface, "root", "handle", "1:",
		"tbf", "rate", "1gbit", "burst", "64k", "latency", "50ms").CombinedOutput(); err != nil {
		t.Fatalf("tc qdisc add: %v: %s", err, out)
	}
	g.throttle(device(c1), "10m", "integration: slow lane beside the operator's qdisc")
	g.restrict(device(c2), "10m", "integration: cut beside it")
	checkReach(t, false, c2)
	base := lab.UpstreamURL(lab.UpstreamV4, lab.AltPort, "")
	got, err := download(t, c1, base, throttleRate*3/8) // 3 s at the rate
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Rate(); r < 0.8*throttleRate || r > 1.2*throttleRate {
		t.Errorf("throttled client downloads at %.0f kbit/s, want within 20%% of %d kbit/s", r/1000, throttleRate/1000)
	}
	out, err := g.Gateway.Command(t.Context(), "tc", "qdisc", "show", "dev", lab.WANInterface).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tbf 1:") || strings.Contains(string(out), "htb") {
		t.Errorf("tc qdisc show dev %s = %q (%v), want the operator's tbf alone", lab.WANInterface, out, err)
	}
}

// TestThrottleRoutedSubject throttles a client by its addresses, as for a
// client behind another router (ip: subjects, one per family): its
// downloads over each family are held to the rate.
func TestThrottleRoutedSubject(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1 := g.Clients[0]
	g.throttle("ip:"+c1.V4.String()+"/32", "10m", "integration: routed slow lane")
	g.throttle("ip:"+c1.V6.String()+"/128", "10m", "integration: routed slow lane")
	for _, f := range families {
		got, err := download(t, c1, lab.UpstreamURL(f.upstream, lab.AltPort, ""), throttleRate*3/8) // 3 s at the rate
		if err != nil {
			t.Fatalf("over %s: %v", f.name, err)
		}
		t.Logf("over %s: %.0f kbit/s", f.name, got.Rate()/1000)
		if r := got.Rate(); r < 0.8*throttleRate || r > 1.2*throttleRate {
			t.Errorf("over %s: the throttled addresses download at %.0f kbit/s, want within 20%% of %d kbit/s", f.name, r/1000, throttleRate/1000)
		}
	}
}
