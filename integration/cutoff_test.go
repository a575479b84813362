//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// TestCutoffDevice restricts one device: it alone loses the internet, over
// IPv4 and IPv6, its new connections are refused with a reset at once, and
// lift gives it back.
func TestCutoffDevice(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	checkReach(t, true, c1, c2, c3)

	id, returned := g.restrict(device(c1), "10m", "integration: cut one device")
	for _, f := range families {
		r := c1.Connect(t.Context(), altAddr(f.upstream), probeTimeout)
		if !r.Refused() {
			t.Errorf("client 1 connect over %s %v after restrict returned: %s after %v, want refused with a reset", f.name, time.Since(returned).Round(time.Millisecond), r.Outcome(), r.Elapsed)
			continue
		}
		t.Logf("client 1 over %s: refused in %v (attempt started %v after restrict returned)", f.name, r.Elapsed, time.Since(returned)-r.Elapsed)
		if r.Elapsed > 250*time.Millisecond {
			t.Errorf("client 1 over %s: refused only after %v, want well under a second", f.name, r.Elapsed)
		}
	}
	checkReach(t, false, c1)
	checkReach(t, true, c2, c3)

	g.mustCurfew("lift", itoa(id), "--reason", "integration: done")
	for _, f := range families {
		took, ok := waitUntil(2*time.Second, 20*time.Millisecond, func() bool { return reaches(t.Context(), c1, f.upstream) })
		if !ok {
			t.Errorf("client 1 over %s: still cut off %v after lift", f.name, took)
		}
	}
	checkReach(t, true, c1, c2, c3)
}

// TestCutoffEndsEstablishedStreams opens long-lived TCP streams and checks
// that those of the restricted device stop within a second of `curfew
// restrict` returning, while another device's stream carries on.
func TestCutoffEndsEstablishedStreams(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ctx := t.Context()

	type stream struct {
		name string
		s    *lab.Stream
	}
	var cut, kept []stream
	for _, f := range families {
		for _, c := range []*lab.Client{c1, c2} {
			s, err := c.OpenStream(ctx, lab.UpstreamURL(f.upstream, lab.AltPort, "/stream"), 5*time.Second)
			if err != nil {
				t.Fatalf("client %d: %v", c.Index, err)
			}
			t.Cleanup(func() { s.Close() })
			st := stream{name: "client " + itoa(int64(c.Index)) + " over " + f.name, s: s}
			if c == c1 {
				cut = append(cut, st)
			} else {
				kept = append(kept, st)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // a few lines on every stream

	_, returned := g.restrict(device(c1), "10m", "integration: cut streams")
	const quiet = 500 * time.Millisecond // silence that counts as stopped
	for _, st := range cut {
		at, stopped := st.s.WaitStopped(quiet, returned.Add(3*time.Second))
		if !stopped {
			n, _, _ := st.s.State()
			t.Errorf("%s: stream still flowing 3s after restrict returned (%d lines)", st.name, n)
			continue
		}
		lag := at.Sub(returned)
		_, _, err := st.s.State()
		how := "went silent"
		if err != nil {
			how = "failed: " + err.Error()
		}
		t.Logf("%s: stream stopped %v after restrict returned (%s)", st.name, lag.Round(time.Millisecond), how)
		if lag > time.Second {
			t.Errorf("%s: stream stopped %v after restrict returned, want within a second", st.name, lag)
		}
	}
	for _, st := range kept {
		before, _, _ := st.s.State()
		time.Sleep(3 * lab.StreamInterval)
		after, _, err := st.s.State()
		if err != nil || after <= before {
			t.Errorf("%s: stream of an unrestricted device stopped (%d → %d lines, err %v), want it flowing", st.name, before, after, err)
		}
	}
}

// TestPersonCoversLaterDevices restricts a person before any device is
// theirs; a device registered to them afterwards is cut off too.
func TestPersonCoversLaterDevices(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]

	g.mustCurfew("person", "add", "alice")
	id, _ := g.restrict("person:alice", "10m", "integration: a person")
	checkReach(t, true, c1, c2) // alice owns nothing yet

	g.mustCurfew("device", "add", c1.MAC.String(), "--owner", "alice", "--name", "alice-laptop")
	registered := time.Now()
	for _, f := range families {
		took, ok := waitUntil(2*time.Second, 20*time.Millisecond, func() bool { return refused(t.Context(), c1, f.upstream) })
		if !ok {
			t.Errorf("client 1 over %s: not refused %v after it was registered to alice", f.name, took)
		}
	}
	t.Logf("alice's new device cut off %v after device add returned", time.Since(registered).Round(time.Millisecond))
	checkReach(t, false, c1)
	checkReach(t, true, c2)

	g.mustCurfew("lift", itoa(id), "--reason", "integration: done")
	for _, f := range families {
		if _, ok := waitUntil(2*time.Second, 20*time.Millisecond, func() bool { return reaches(t.Context(), c1, f.upstream) }); !ok {
			t.Errorf("client 1 over %s: still cut off after lift", f.name)
		}
	}
}
