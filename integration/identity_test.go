//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// waitCut waits up to limit for c to be refused over both families, or to
// reach the upstream again if cut is false, and fails t otherwise.
func waitCut(t *testing.T, c *lab.Client, cut bool, limit time.Duration, what string) {
	t.Helper()
	for _, f := range families {
		took, ok := waitUntil(limit, 20*time.Millisecond, func() bool {
			if cut {
				return refused(t.Context(), c, f.upstream)
			}
			return reaches(t.Context(), c, f.upstream)
		})
		switch {
		case !ok && cut:
			t.Errorf("client %d over %s: not refused %v after %s", c.Index, f.name, took, what)
		case !ok:
			t.Errorf("client %d over %s: still cut off %v after %s", c.Index, f.name, took, what)
		default:
			t.Logf("client %d over %s: %s within %v of %s", c.Index, f.name, map[bool]string{true: "cut", false: "back"}[cut], took.Round(time.Millisecond), what)
		}
	}
}

// TestGroupRestriction restricts a group holding a person: the person's
// device is cut off; a device added to the group afterwards is cut within
// a second; a member taken out gets the internet back within a second;
// a client outside the group is never touched.
func TestGroupRestriction(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]

	g.mustCurfew("person", "add", "alice")
	g.mustCurfew("device", "add", c1.MAC.String(), "--owner", "alice")
	g.mustCurfew("group", "add", "residents")
	g.mustCurfew("group", "member", "add", "residents", "person:alice")
	g.restrict("group:residents", "10m", "integration: a group")
	waitCut(t, c1, true, time.Second, "restrict group:residents")
	checkReach(t, true, c2, c3)

	g.mustCurfew("group", "member", "add", "residents", device(c2))
	waitCut(t, c2, true, time.Second, "group member add")
	checkReach(t, true, c3)

	g.mustCurfew("group", "member", "remove", "residents", "person:alice")
	waitCut(t, c1, false, time.Second, "group member remove")
	checkReach(t, false, c2)
	checkReach(t, true, c3)
}

// newQuarantined returns a gateway with lan.unknown_devices: quarantine.
func newQuarantined(t *testing.T) *gateway {
	t.Helper()
	return newGatewayWith(t, lab.Config{UnknownDevices: "quarantine"})
}

// checkHeld fails t unless c, unregistered on a quarantining LAN, is
// held: refused on the forward path over both families, its DNS answered
// with the notice address, and its plain HTTP to anywhere shown the page
// saying it must be registered, with its MAC.
func checkHeld(t *testing.T, c *lab.Client, mac string) {
	t.Helper()
	for _, f := range families {
		if !refused(t.Context(), c, f.upstream) {
			t.Errorf("client %d over %s: not refused, want it held as unregistered", c.Index, f.name)
		}
		r := c.Get(t.Context(), lab.UpstreamURL(f.upstream, lab.HTTPPort, "/"), probeTimeout)
		if r.Reached() || !strings.Contains(r.Body, "Device not registered") || !strings.Contains(r.Body, mac) {
			t.Errorf("client %d over %s: plain HTTP = %s %q, want the page saying it is not registered, with %s", c.Index, f.name, r.Outcome(), short(r.Body), mac)
		}
	}
	for _, q := range qtypes {
		if a, ok := query(t, c, "udp", q.notice, probeName("held", lab.NewsName), q.qtype); ok && (len(a.Addrs) != 1 || a.Addrs[0] != q.notice) {
			t.Errorf("client %d %s query = %s, want the notice address %s", c.Index, q.qtype, a, q.notice)
		}
	}
}

// seenDevice returns what devices --seen -o json says of mac, or nil.
func seenDevice(t *testing.T, g *gateway, mac string) *api.Device {
	t.Helper()
	var ds []api.Device
	if err := json.Unmarshal([]byte(g.mustCurfew("devices", "--seen", "-o", "json")), &ds); err != nil {
		t.Fatalf("devices --seen -o json: %v", err)
	}
	for i := range ds {
		if ds[i].MAC == mac {
			return &ds[i]
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// TestQuarantine: with lan.unknown_devices: quarantine, a client whose MAC
// is not registered reaches only curfew's DNS and notice server, over IPv4
// and IPv6, and is listed by devices --seen; device approve admits it
// within a second; a restricted person whose device comes back with
// another MAC and other addresses stays off.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	g := newQuarantined(t)
	c1, c2 := g.Clients[0], g.Clients[1]

	g.mustCurfew("person", "add", "alice")
	g.mustCurfew("device", "add", c2.MAC.String(), "--owner", "alice")
	checkReach(t, true, c2)
	checkHeld(t, c1, c1.MAC.String())

	// The gateway saw the held client and says so.
	var held *api.Device
	if _, ok := waitUntil(5*time.Second, 100*time.Millisecond, func() bool {
		held = seenDevice(t, g, c1.MAC.String())
		return held != nil
	}); !ok {
		t.Errorf("devices --seen does not list the held client %s", c1.MAC)
	} else if held.Registered || !held.RandomMAC || held.FirstSeenAt == nil || len(held.SeenAddrs) == 0 {
		t.Errorf("devices --seen lists the held client as %+v, want unregistered, random_mac, first seen, with its addresses", held)
	}

	g.mustCurfew("device", "approve", c1.MAC.String(), "--owner", "alice", "--name", "laptop")
	waitCut(t, c1, false, time.Second, "device approve")

	// alice is restricted; her phone (client 2) takes a new MAC and new
	// addresses, as a phone's private Wi-Fi address does, and is still
	// off: unregistered now, so held.
	g.restrict("person:alice", "10m", "integration: quarantine holds a new MAC")
	waitCut(t, c2, true, time.Second, "restrict person:alice")
	newMAC := "06:c0:ff:ee:00:99"
	ctx := t.Context()
	for _, args := range [][]string{
		{"link", "set", "eth0", "down"},
		{"link", "set", "eth0", "address", newMAC},
		{"addr", "flush", "dev", "eth0"},
		{"addr", "add", "10.50.0.99/24", "dev", "eth0"},
		{"addr", "add", "fd00:50::99/64", "dev", "eth0", "nodad"},
		{"link", "set", "eth0", "up"},
		{"route", "replace", "default", "via", lab.LANV4.String()},
		{"-6", "route", "replace", "default", "via", lab.LANV6.String()},
	} {
		if out, err := c2.Run(ctx, "ip", args...); err != nil {
			t.Fatalf("ip %v in client 2: %v\n%s", args, err, out)
		}
	}
	checkHeld(t, c2, newMAC)
	checkReach(t, false, c2)
}
