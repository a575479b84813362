//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// nextMinute returns the start of the next whole minute (UTC) at least
// lead away.
func nextMinute(lead time.Duration) time.Time {
	return time.Now().UTC().Add(lead).Truncate(time.Minute).Add(time.Minute)
}

// waitReach polls client c over both families until the upstream answers
// it on both (want) or refuses it on both (!want), or limit passes, and
// returns when each family first did (absent if never).
func waitReach(ctx context.Context, c *lab.Client, want bool, limit time.Time) map[string]time.Time {
	at := map[string]time.Time{}
	for time.Now().Before(limit) && len(at) < len(families) {
		for _, f := range families {
			if _, done := at[f.name]; done {
				continue
			}
			if want && connects(ctx, c, f.upstream) || !want && refused(ctx, c, f.upstream) {
				at[f.name] = time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return at
}

// TestScheduleWindow adds a schedule whose window starts at the next
// minute and lasts one: the client has the internet until the start, is
// cut off within a second of it over IPv4 and IPv6, is listed as
// restricted by a window of the schedule, and gets the internet back at
// the window's end, the daemon running throughout. Another client is left
// alone.
func TestScheduleWindow(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ctx := t.Context()

	start := nextMinute(15 * time.Second)
	end := start.Add(time.Minute)
	out := g.mustCurfew("schedule", "add", device(c1), "--days", "daily", "--tz", "UTC",
		"--from", start.Format("15:04"), "--to", end.Format("15:04"),
		"--until", start.Add(24*time.Hour).Format(time.RFC3339), "--reason", "integration: a window", "--notice", "Bedtime: back at the end of the window.")
	sid, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("curfew schedule add printed %q, want the schedule id alone", out)
	}
	var ss []api.Schedule
	if err := json.Unmarshal([]byte(g.mustCurfew("schedules", "-o", "json")), &ss); err != nil || len(ss) != 1 || ss[0].NextWindow == nil {
		t.Fatalf("curfew schedules -o json = %+v, %v", ss, err)
	}
	if w := ss[0].NextWindow; !w.StartsAt.Equal(start) || !w.EndsAt.Equal(end) || w.Open {
		t.Errorf("next window = %+v, want %s to %s, not open", w, start, end)
	}

	// Before the start: still on, up to the last moment.
	for time.Until(start) > 700*time.Millisecond {
		for _, f := range families {
			if !connects(ctx, c1, f.upstream) {
				t.Fatalf("client 1 over %s cut off %v before its window starts", f.name, time.Until(start))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cut := waitReach(ctx, c1, false, start.Add(5*time.Second))
	for _, f := range families {
		at, ok := cut[f.name]
		if !ok {
			t.Errorf("client 1 over %s not cut off 5s after its window started", f.name)
			continue
		}
		late := at.Sub(start)
		t.Logf("client 1 over %s cut off %v after the window's start", f.name, late.Round(time.Millisecond))
		if late < -100*time.Millisecond || late > time.Second {
			t.Errorf("client 1 over %s cut off %v after the window's start, want within a second of it", f.name, late)
		}
	}
	checkReach(t, true, c2)
	var windowID int64
	for _, r := range g.restrictions(false) {
		if r.ScheduleID != nil && *r.ScheduleID == sid && r.Subject == device(c1) && r.EndsAt.Equal(end) {
			windowID = r.ID
		}
	}
	if windowID == 0 {
		t.Errorf("curfew list shows no window of schedule %d ending %s: %+v", sid, end, g.restrictions(false))
	}
	// The notice page and the captive-portal API tell the client, with the
	// window's end.
	for _, url := range outsideURLs[:2] {
		p := get(t, c1, url)
		for _, want := range []string{"Bedtime: back at the end of the window.", end.Format(time.RFC3339)} {
			if !strings.Contains(p.body, want) {
				t.Errorf("client 1 in the window: GET %s: the notice page does not say %q", url, want)
			}
		}
	}
	for _, a := range gatewayDNS {
		st, at, ok := captive(t, c1, a)
		if !ok {
			continue
		}
		want := end.Sub(at).Seconds()
		if !st.Captive || st.SecondsRemaining == nil || float64(*st.SecondsRemaining) < want-2 || float64(*st.SecondsRemaining) > want+2 {
			t.Errorf("client 1 in the window @%s: captive-portal API %+v, want captive with %.0f ± 2 seconds remaining", a, st, want)
		}
	}

	back := waitReach(ctx, c1, true, end.Add(5*time.Second))
	for _, f := range families {
		at, ok := back[f.name]
		if !ok {
			t.Errorf("client 1 over %s still cut off 5s after its window ended", f.name)
			continue
		}
		late := at.Sub(end)
		t.Logf("client 1 over %s back %v after the window's end", f.name, late.Round(time.Millisecond))
		if late < -100*time.Millisecond || late > time.Second {
			t.Errorf("client 1 over %s back %v after the window's end, want within a second of it", f.name, late)
		}
	}
}
