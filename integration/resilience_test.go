//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKilledDaemonKeepsEnforcing kills the daemon with SIGKILL: the
// restricted client stays cut off, and a short restriction still ends on
// time, by the kernel's element timeouts alone.
func TestKilledDaemonKeepsEnforcing(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	ctx := t.Context()

	g.restrict(device(c1), "10m", "integration: stays cut")
	shortID, _ := g.restrict(device(c2), "3s", "integration: short")
	short, err := g.api.Restriction(ctx, restrictionID(shortID))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.KillDaemon(); err != nil {
		t.Fatal(err)
	}
	if time.Until(short.End) < 500*time.Millisecond {
		t.Fatalf("the daemon took too long to die: %v left of the short restriction", time.Until(short.End))
	}
	for _, f := range families {
		if !refused(ctx, c1, f.upstream) || !refused(ctx, c2, f.upstream) {
			t.Errorf("over %s: clients 1 and 2 not both refused with the daemon dead", f.name)
		}
	}
	checkReach(t, true, c3)

	// Client 2 gets through again once the short restriction ends.
	var back time.Time
	_, ok := waitUntil(time.Until(short.End)+3*time.Second, 20*time.Millisecond, func() bool {
		for _, f := range families {
			if !connects(ctx, c2, f.upstream) {
				return false
			}
		}
		back = time.Now()
		return true
	})
	if !ok {
		t.Fatalf("client 2 still cut off 3s after its restriction ended at %s (daemon dead)", short.End.Format(time.RFC3339Nano))
	}
	late := back.Sub(short.End)
	t.Logf("with the daemon dead, the 3s restriction ended %v after its end time", late.Round(time.Millisecond))
	if late < -100*time.Millisecond {
		t.Errorf("client 2 got through %v before its restriction ended", -late)
	}
	if late > 2*time.Second {
		t.Errorf("client 2 got through %v after its restriction ended, want within ~1–2 s", late)
	}
	checkReach(t, true, c2)
	checkReach(t, false, c1)
}

// TestRestartRebuildsDeletedTable deletes curfew's table while the daemon
// is down: the next start enforces again within a second, and the
// restriction is still listed.
func TestRestartRebuildsDeletedTable(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ctx := t.Context()

	id, _ := g.restrict(device(c1), "10m", "integration: restart")
	if err := g.KillDaemon(); err != nil {
		t.Fatal(err)
	}
	g.nft("delete", "table", "inet", "curfew")
	checkReach(t, true, c1) // nothing enforces now

	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := g.StartDaemon(sctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(start)
	for _, f := range families {
		took, ok := waitUntil(2*time.Second, 10*time.Millisecond, func() bool { return refused(ctx, c1, f.upstream) })
		if !ok {
			t.Errorf("client 1 over %s: not refused %v after the daemon was ready again", f.name, took)
			continue
		}
		t.Logf("client 1 over %s: refused again %v after the daemon started (its API and table were ready after %v)", f.name, (ready + took).Round(time.Millisecond), ready.Round(time.Millisecond))
		if ready+took > time.Second {
			t.Errorf("client 1 over %s: refused only %v after the daemon started, want within a second", f.name, ready+took)
		}
	}
	checkReach(t, true, c2)
	found := false
	for _, r := range g.restrictions(false) {
		if r.ID == id {
			found = true
			if r.Status != "active" {
				t.Errorf("curfew list: restriction %d has status %q, want active", id, r.Status)
			}
		}
	}
	if !found {
		t.Errorf("curfew list after restart does not show restriction %d", id)
	}
}

// debianNftablesConf is Debian's default /etc/nftables.conf, which
// `systemctl reload nftables` loads: it begins with flush ruleset.
const debianNftablesConf = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
`

// TestFirewallReloadLeavesTable reloads the gateway's other firewall under
// the running daemon, the ways Debian's nftables service does: curfew's
// table, owned by the daemon, is left as it is, so client 1 stays cut off
// throughout, and another process may not delete or flush it.
func TestFirewallReloadLeavesTable(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ctx := t.Context()
	g.restrict(device(c1), "10m", "integration: firewall reload")
	if rs := g.nft("list", "table", "inet", "curfew"); !strings.Contains(rs, "flags owner") {
		t.Fatalf("curfew's table is not owned by the daemon:\n%s", rs)
	}
	conf := filepath.Join(t.TempDir(), "nftables.conf")
	if err := os.WriteFile(conf, []byte(debianNftablesConf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, reload := range [][]string{
		{"flush", "ruleset"},
		{"-f", conf},
	} {
		g.nft(reload...)
		for _, f := range families {
			// At once: nothing needed repairing.
			if !refused(ctx, c1, f.upstream) {
				t.Errorf("after nft %v: client 1 over %s not refused", reload, f.name)
			}
		}
		checkReach(t, true, c2)
	}
	for _, tamper := range [][]string{
		{"flush", "table", "inet", "curfew"},
		{"delete", "table", "inet", "curfew"},
	} {
		if out, err := g.Gateway.Run(ctx, "nft", tamper...); err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
			t.Errorf("nft %v under the running daemon = %v (%s), want Operation not permitted", tamper, err, out)
		}
	}
	checkReach(t, false, c1)
}
