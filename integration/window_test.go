//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"
)

// TestScheduleWindowDaemonKilled adds a schedule whose window starts at
// the next minute and lasts one, then kills the daemon with -9 before the
// window starts: the kernel alone cuts the client off within a second of
// the start, over IPv4 and IPv6, and lets it back within a second of the
// end. Another client is left alone.
func TestScheduleWindowDaemonKilled(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ctx := t.Context()

	start := nextMinute(15 * time.Second)
	end := start.Add(time.Minute)
	g.mustCurfew("schedule", "add", device(c1), "--days", "daily", "--tz", "UTC",
		"--from", start.Format("15:04"), "--to", end.Format("15:04"),
		"--until", start.Add(24*time.Hour).Format(time.RFC3339), "--reason", "integration: a window while the daemon is dead")
	if rs := g.nft("list", "table", "inet", "curfew_windows"); !strings.Contains(rs, "meta time @times_") {
		t.Fatalf("the schedule's windows are not in the kernel:\n%s", rs)
	}
	if err := g.KillDaemon(); err != nil {
		t.Fatal(err)
	}
	if time.Until(start) < 2*time.Second {
		t.Fatalf("the daemon took too long to die: %v left before the window", time.Until(start))
	}

	// Before the start: still on, up to the last moment.
	for time.Until(start) > 700*time.Millisecond {
		for _, f := range families {
			if !connects(ctx, c1, f.upstream) {
				t.Fatalf("client 1 over %s cut off %v before its window starts (daemon dead)", f.name, time.Until(start))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cut := waitReach(ctx, c1, false, start.Add(5*time.Second))
	for _, f := range families {
		at, ok := cut[f.name]
		if !ok {
			t.Errorf("client 1 over %s not cut off 5s after its window started (daemon dead)", f.name)
			continue
		}
		late := at.Sub(start)
		t.Logf("daemon dead: client 1 over %s cut off %v after the window's start", f.name, late.Round(time.Millisecond))
		if late < -100*time.Millisecond || late > time.Second {
			t.Errorf("client 1 over %s cut off %v after the window's start, want within a second of it", f.name, late)
		}
	}
	checkReach(t, true, c2)

	back := waitReach(ctx, c1, true, end.Add(5*time.Second))
	for _, f := range families {
		at, ok := back[f.name]
		if !ok {
			t.Errorf("client 1 over %s still cut off 5s after its window ended (daemon dead)", f.name)
			continue
		}
		late := at.Sub(end)
		t.Logf("daemon dead: client 1 over %s back %v after the window's end", f.name, late.Round(time.Millisecond))
		if late < -100*time.Millisecond || late > time.Second {
			t.Errorf("client 1 over %s back %v after the window's end, want within a second of it", f.name, late)
		}
	}
	checkReach(t, true, c2)
}
