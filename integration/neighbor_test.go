//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// TestRestrictedDeviceNewAddress checks that a restricted device is known
// as restricted from the first packet it sends from an address the gateway
// has not seen before (here its IPv6 address, first used after its IPv4
// one), at the resolver and at the notice server. Phones change their IPv6
// addresses all the time, so this is the common case, not a corner.
//
// Both place a client address through curfew's copy of the gateway's
// neighbour table, kept by netlink events: a query from an address the
// gateway has not resolved yet waits (briefly, off the packet path) for
// its neighbour entry, and is never answered as unrestricted meanwhile.
func TestRestrictedDeviceNewAddress(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]

	// The resolver: a cut-off device's first IPv6 query, right after its
	// first IPv4 one.
	r1 := g.restrictWith(device(c1), "--notice", "integration: new address")
	v4 := probeName("new4", lab.NewsName)
	if a, ok := query(t, c1, "udp", lab.LANV4, v4, "A"); ok {
		checkNotice(t, "client 1 (cut off): first IPv4 query "+v4, a, lab.LANV4, r1.EndsAt, edeProhibited)
	}
	after4 := time.Now()
	v6 := probeName("new6", lab.NewsName)
	if a, ok := query(t, c1, "udp", lab.LANV6, v6, "AAAA"); ok {
		if len(a.Addrs) != 1 || a.Addrs[0] != lab.LANV6 || len(a.EDE) == 0 {
			t.Errorf("client 1 (cut off): its first IPv6 query (%s AAAA, done %s after its first IPv4 one was answered) = %s, "+
				"want the notice address %s with an EDE: the resolver did not recognise the restricted device by its new address "+
				"and answered it as unrestricted (fail-open)", v6, time.Since(after4).Round(time.Millisecond), a, lab.LANV6)
		}
	}
	if qs := queriesFor(g, []string{v4, v6}); len(qs) != 0 {
		t.Errorf("upstream DNS received %d queries of the cut-off client (%v), want none: its queries must never reach an upstream", len(qs), qs)
	}
	later := probeName("later6", lab.NewsName)
	if a, ok := query(t, c1, "udp", lab.LANV6, later, "AAAA"); ok && (len(a.Addrs) != 1 || a.Addrs[0] != lab.LANV6) {
		t.Errorf("client 1 (cut off): its next IPv6 query %s AAAA = %s, want the notice address", later, a)
	}

	// The notice server: a cut-off device's first plain HTTP request over
	// IPv6, right after one over IPv4.
	g.restrictWith(device(c2), "--notice", "integration: new address")
	for i, url := range []string{
		lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, "/"),
		lab.UpstreamURL(lab.UpstreamV6, lab.HTTPPort, "/"),
	} {
		p := get(t, c2, url)
		if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, restrictedEN) {
			what := "want the notice page"
			if i == 1 {
				what += fmt.Sprintf(": the notice server did not recognise the restricted device by its new IPv6 address, sent right after its first IPv4 request, and showed it the page of an unrestricted client (free page: %v)", strings.Contains(p.body, freeEN))
			}
			t.Errorf("client 2 (cut off): GET %s = %s, %s", url, p, what)
		}
	}
}
