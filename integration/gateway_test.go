//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/lab"
	"github.com/curfew/curfew/internal/netnstest"
)

// gateway is one test's lab network with curfew running on its gateway.
type gateway struct {
	*lab.Lab
	t     *testing.T
	token string
	api   *api.Client
}

var labSeq atomic.Int64 // makes lab prefixes unique within the process

// labPrefix returns a namespace prefix no other test or lab uses.
func labPrefix() string {
	return fmt.Sprintf("cfi%d-%d", os.Getpid(), labSeq.Add(1))
}

// newGateway builds a lab, initialises curfew and starts its daemon. It
// skips (or fails, with CURFEW_REQUIRE_NETNS=1) where namespaces cannot be
// created. Everything is removed at cleanup; if the test failed, the end
// of the daemon's log is logged first.
func newGateway(t *testing.T) *gateway {
	t.Helper()
	return newGatewayWith(t, lab.Config{})
}

// newGatewayWith is newGateway with the lab's configuration conf, whose
// Prefix, Dir and Binary it sets.
func newGatewayWith(t *testing.T, conf lab.Config) *gateway {
	t.Helper()
	netnstest.New(t) // the probe
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conf.Prefix, conf.Dir, conf.Binary = labPrefix(), t.TempDir(), curfewBin
	l, err := lab.New(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the daemon log:\n%s", l.LogTail(40))
		}
	})
	token, err := l.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(l.APIURL(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{Lab: l, t: t, token: token, api: c}
}

// curfew runs the curfew CLI against the gateway's API and returns its
// standard output and error and its exit code.
func (g *gateway) curfew(args ...string) (stdout, stderr string, code int) {
	g.t.Helper()
	return runCurfew(g.t, g.APIURL(), g.token, args...)
}

func runCurfew(t *testing.T, server, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curfewBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CURFEW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CURFEW_SERVER="+server)
	if token != "" {
		cmd.Env = append(cmd.Env, "CURFEW_TOKEN="+token)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running curfew %s: %v", strings.Join(args, " "), err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// mustCurfew runs the curfew CLI and fails the test unless it succeeds. It
// returns the standard output.
func (g *gateway) mustCurfew(args ...string) string {
	g.t.Helper()
	out, errOut, code := g.curfew(args...)
	if code != 0 {
		g.t.Fatalf("curfew %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errOut))
	}
	return out
}

// restrict runs `curfew restrict` and returns the new restriction's id and
// when the command returned.
func (g *gateway) restrict(subject, duration, reason string) (id int64, returned time.Time) {
	g.t.Helper()
	out := g.mustCurfew("restrict", subject, "--for", duration, "--reason", reason)
	returned = time.Now()
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		g.t.Fatalf("curfew restrict printed %q, want the restriction id alone", out)
	}
	return id, returned
}

// restrictions returns `curfew list [--all] -o json`, decoded.
func (g *gateway) restrictions(all bool) []api.Restriction {
	g.t.Helper()
	args := []string{"list", "-o", "json"}
	if all {
		args = []string{"list", "--all", "-o", "json"}
	}
	var rs []api.Restriction
	if err := json.Unmarshal([]byte(g.mustCurfew(args...)), &rs); err != nil {
		g.t.Fatalf("decoding curfew %s: %v", strings.Join(args, " "), err)
	}
	return rs
}

// nft runs nft with args in the gateway namespace.
func (g *gateway) nft(args ...string) string {
	g.t.Helper()
	out, err := g.Gateway.Run(g.t.Context(), "nft", args...)
	if err != nil {
		g.t.Fatal(err)
	}
	return out
}

// device returns the subject that names client c.
func device(c *lab.Client) string { return "device:" + c.MAC.String() }

// families are the two address families every check covers.
var families = []struct {
	name     string
	upstream netip.Addr
}{
	{"IPv4", lab.UpstreamV4},
	{"IPv6", lab.UpstreamV6},
}

// altAddr returns upstream's host:port on lab.AltPort, an ordinary TCP
// port that no notice redirect touches.
func altAddr(upstream netip.Addr) string {
	return net.JoinHostPort(upstream.String(), strconv.Itoa(lab.AltPort))
}

// probeTimeout bounds one reachability probe. A cut-off client is refused
// with a reset at once, so the bound matters only for a broken setup.
const probeTimeout = 2 * time.Second

// reaches reports whether c fetches the upstream page over the family of
// upstream.
func reaches(ctx context.Context, c *lab.Client, upstream netip.Addr) bool {
	return c.Get(ctx, lab.UpstreamURL(upstream, lab.AltPort, "/"), probeTimeout).Reached()
}

// checkReach fails t unless each client reaches the upstream, over both
// families, exactly when want says so.
func checkReach(t *testing.T, want bool, clients ...*lab.Client) {
	t.Helper()
	for _, c := range clients {
		for _, f := range families {
			r := c.Get(t.Context(), lab.UpstreamURL(f.upstream, lab.AltPort, "/"), probeTimeout)
			if r.Reached() != want {
				if want {
					t.Errorf("client %d over %s: %s after %v, want the upstream page", c.Index, f.name, r.Outcome(), r.Elapsed)
				} else {
					t.Errorf("client %d over %s: reached the upstream, want it cut off", c.Index, f.name)
				}
			}
		}
	}
}

// waitUntil polls cond every interval until it holds or limit has passed,
// and returns how long that took and whether cond held.
func waitUntil(limit, interval time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for i := 0; ; i++ {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(interval)
	}
}

// refused reports whether a connection from c to upstream's AltPort is
// refused with a reset.
func refused(ctx context.Context, c *lab.Client, upstream netip.Addr) bool {
	return c.Connect(ctx, altAddr(upstream), probeTimeout).Refused()
}

// connects reports whether a connection from c to upstream's AltPort
// succeeds.
func connects(ctx context.Context, c *lab.Client, upstream netip.Addr) bool {
	return c.Connect(ctx, altAddr(upstream), probeTimeout).Err == nil
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func restrictionID(id int64) curfew.RestrictionID { return curfew.RestrictionID(id) }

// auditEvents returns the events of the gateway's audit log, oldest first,
// from an export through the API, with the hash of each.
func (g *gateway) auditEvents(t *testing.T) ([]*audit.Event, []audit.Hash) {
	t.Helper()
	var b bytes.Buffer
	if err := g.api.ExportAudit(t.Context(), 1, &b); err != nil {
		t.Fatal(err)
	}
	var (
		es []*audit.Event
		hs []audit.Hash
	)
	for line := range bytes.Lines(b.Bytes()) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		e, _, err := audit.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if e != nil {
			es, hs = append(es, e), append(hs, audit.Sum(line))
		}
	}
	return es, hs
}
