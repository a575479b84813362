//go:build linux

package netfilter_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// floodPort is where the upstream counts the connections that reach it.
const floodPort = 9100

// arrivals records when connections from client 1 reached the upstream.
type arrivals struct {
	mu     sync.Mutex
	v4, v6 []time.Time
}

// serveCount accepts connections on floodPort in ns, v4 and v6, and
// records those from client 1 (by source address) with their time.
func serveCount(t testing.TB, ns int) *arrivals {
	a := &arrivals{}
	var ln net.Listener
	if err := netnstest.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", floodPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			now := time.Now()
			ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
			c.Close()
			if err != nil {
				continue
			}
			a.mu.Lock()
			switch ap.Addr().Unmap() {
			case families[0].client1:
				a.v4 = append(a.v4, now)
			case families[1].client1:
				a.v6 = append(a.v6, now)
			}
			a.mu.Unlock()
		}
	}()
	return a
}

// since returns how many connections of each family arrived at or after
// from, and the time from from to the last of them (0 if none).
func (a *arrivals) since(from time.Time) (v4, v6 int, gap time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, l := range [][]time.Time{a.v4, a.v6} {
		for _, at := range l {
			if at.Before(from) {
				continue
			}
			if i == 0 {
				v4++
			} else {
				v6++
			}
			gap = max(gap, at.Sub(from))
		}
	}
	return v4, v6, gap
}

// flood connects from ns to dst as fast as it can, one connection after
// another, until ctx is done or maxAttempts, and returns how many it
// tried.
func flood(ctx context.Context, ns int, dst netip.AddrPort, maxAttempts int) (int, error) {
	var n int
	err := netnstest.Do(ns, func() error {
		d := net.Dialer{Timeout: 100 * time.Millisecond}
		for n < maxAttempts && ctx.Err() == nil {
			n++
			if c, err := d.DialContext(ctx, "tcp", dst.String()); err == nil {
				c.Close()
			}
		}
		return nil
	})
	return n, err
}

// repairer runs what the engine runs for the backend: Verify every
// second, and at once at each change Watch reports if watch is set.
type repairer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startRepairer(b *netfilter.Backend, watch bool) *repairer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &repairer{cancel: cancel}
	kick := make(chan struct{}, 1)
	if watch {
		r.wg.Go(func() {
			b.Watch(ctx, func() {
				select {
				case kick <- struct{}{}:
				default:
				}
			})
		})
	}
	r.wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-kick:
			}
			b.Verify(ctx)
		}
	})
	return r
}

func (r *repairer) stop() {
	r.cancel()
	r.wg.Wait()
}

// reloadLab is the traffic lab with client 1 cut off, an upstream that
// counts what reaches it, and the engine's repair loop running.
type reloadLab struct {
	*lab
	arrived *arrivals
	conf    *netfilter.Config
	watch   bool
	rep     *repairer
	snap    *curfew.Snapshot
}

func newReloadLab(t testing.TB, unowned, watch bool) *reloadLab {
	var conf *netfilter.Config
	l := newLab(t, func(_ *lab, c *netfilter.Config) { c.Unowned = unowned; conf = c })
	r := &reloadLab{lab: l, conf: conf, watch: watch, arrived: serveCount(t, l.upstream)}
	r.snap = cutDevice(l.mac1, time.Hour)
	mustApply(t, l.b, r.snap)
	r.rep = startRepairer(l.b, watch)
	t.Cleanup(func() { r.rep.stop() })
	return r
}

// A reloadEvent is something the rest of the gateway does to the ruleset.
type reloadEvent struct {
	name string
	do   func(t testing.TB, r *reloadLab)
}

func nftRun(args ...string) func(testing.TB, *reloadLab) {
	return func(t testing.TB, r *reloadLab) { netnstest.Run(t, r.gw, "nft", args...) }
}

var reloadEvents = []reloadEvent{
	{"nft flush ruleset", nftRun("flush", "ruleset")},
	// Debian's default /etc/nftables.conf, which begins with flush
	// ruleset: `systemctl reload nftables` and the service's start.
	{"nft -f nftables.conf", nftRun("-f", "testdata/debian-nftables.conf")},
	// `systemctl restart nftables`: the unit's ExecStop, then its
	// ExecStart, two processes.
	{"nftables restart", func(t testing.TB, r *reloadLab) {
		netnstest.Run(t, r.gw, "nft", "flush", "ruleset")
		netnstest.Run(t, r.gw, "nft", "-f", "testdata/debian-nftables.conf")
	}},
	// curfew's own restart: the daemon's sockets close as it exits, and
	// the next daemon builds the table again over what was left.
	{"curfew restart", func(t testing.TB, r *reloadLab) {
		r.rep.stop()
		r.b.Crash()
		nb, err := netfilter.New(r.conf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nb.Close() })
		if err := nb.Apply(context.Background(), r.snap); err != nil {
			t.Fatal(err)
		}
		r.b = nb
		r.rep = startRepairer(nb, r.watch)
	}},
}

// trial floods the upstream from client 1, v4 and v6 at once, from lead
// before the event until window after its end, and returns how many
// connections of each family reached the upstream after the event began,
// how long after it the last one arrived, and how many connections each
// family tried. The flood is bounded: at most 200,000 attempts a family,
// and a minute.
func (r *reloadLab) trial(t testing.TB, ev reloadEvent, lead, window time.Duration) (v4, v6 int, gap time.Duration, tried [2]int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i, f := range families {
		wg.Go(func() {
			n, err := flood(ctx, r.client1, netip.AddrPortFrom(f.upstream, floodPort), 200_000)
			if err != nil {
				t.Error(err)
			}
			tried[i] = n
		})
	}
	// The flood's length is the measurement, not a wait for a condition.
	time.Sleep(lead)
	at := time.Now()
	ev.do(t, r)
	time.Sleep(window)
	cancel()
	wg.Wait()
	v4, v6, gap = r.arrived.since(at)
	return v4, v6, gap, tried
}

// TestReloadLetsNothingThrough is the goal of the owned table: while
// client 1, cut off, connects to the internet as fast as it can, v4 and
// v6, the gateway's other firewall manager flushes the ruleset, loads
// Debian's default nftables.conf, restarts, and curfew itself restarts;
// not one connection gets through.
func TestReloadLetsNothingThrough(t *testing.T) {
	r := newReloadLab(t, false, true)
	for _, f := range families {
		mustBeRefusedPort(t, "client 1 over "+f.name, r.client1, netip.AddrPortFrom(f.upstream, floodPort))
	}
	for _, ev := range reloadEvents {
		v4, v6, gap, tried := r.trial(t, ev, 50*time.Millisecond, 300*time.Millisecond)
		t.Logf("%s: %d and %d connections tried (v4, v6), %d and %d through", ev.name, tried[0], tried[1], v4, v6)
		if v4+v6 > 0 {
			t.Errorf("%s: %d v4 and %d v6 connections reached the internet, the last %v after it began; want none", ev.name, v4, v6, gap)
		}
		if tried[0] < 20 || tried[1] < 20 {
			t.Errorf("%s: client 1 tried only %d v4 and %d v6 connections: the flood did not run", ev.name, tried[0], tried[1])
		}
	}
	for _, f := range families {
		mustBeRefusedPort(t, "client 1 over "+f.name+" at the end", r.client1, netip.AddrPortFrom(f.upstream, floodPort))
		mustConnect(t, "client 2 over "+f.name, r.client2, f.upstream)
	}
}

// BenchmarkReloadGap measures, for each way the rest of the gateway
// reloads the ruleset, how many of a cut-off client's connections reach
// the internet, v4 and v6, and for how long, with the owned table (kernel
// 6.9 and later), with the table rebuilt on nftables events (older
// kernels), and with the table rebuilt by the periodic check alone (no
// events, as before): the median of b.N trials. docs/benchmarks.md has the
// figures.
func BenchmarkReloadGap(b *testing.B) {
	modes := []struct {
		name           string
		unowned, watch bool
	}{
		{"owned", false, true},
		{"events", true, true},
		{"poll", true, false},
	}
	for _, m := range modes {
		for _, ev := range reloadEvents {
			b.Run(m.name+"/"+ev.name, func(b *testing.B) {
				r := newReloadLab(b, m.unowned, m.watch)
				var v4s, v6s, gaps, tries []float64
				for b.Loop() {
					v4, v6, gap, tried := r.trial(b, ev, 50*time.Millisecond, 1500*time.Millisecond)
					v4s, v6s = append(v4s, float64(v4)), append(v6s, float64(v6))
					gaps = append(gaps, float64(gap)/float64(time.Millisecond))
					tries = append(tries, float64(tried[0]+tried[1])/1.55)
					// The next trial starts from an enforced table.
					for _, f := range families {
						mustBeRefusedPort(b, "client 1 over "+f.name, r.client1, netip.AddrPortFrom(f.upstream, floodPort))
					}
				}
				b.ReportMetric(medianOf(v4s), "v4-through")
				b.ReportMetric(medianOf(v6s), "v6-through")
				b.ReportMetric(medianOf(gaps), "gap-ms")
				b.ReportMetric(medianOf(tries), "attempts/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
