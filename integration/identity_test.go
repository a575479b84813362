//go:build integration

package integration

import (
	"testing"
	"time"

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
