//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// RFC 8914 Extended DNS Error codes curfew sends.
const (
	edeBlocked    = 15
	edeFiltered   = 17
	edeProhibited = 18
)

// Resolver addresses a client may ask. Every DNS query from the LAN goes to
// curfew's resolver, whatever its destination.
var (
	gatewayDNS = []netip.Addr{lab.LANV4, lab.LANV6}
	// foreignDNS are resolvers other than the gateway: the upstream's real
	// DNS server on both of its sites, and addresses where nothing exists.
	foreignDNS = []netip.Addr{
		lab.UpstreamV4, lab.UpstreamV6, lab.Upstream2V4, lab.Upstream2V6,
		netip.MustParseAddr("203.0.113.53"), netip.MustParseAddr("2001:db8:ffff::53"),
	}
	allDNS = append(slices.Clone(gatewayDNS), foreignDNS...)
)

// queryTimeout bounds one DNS query. curfew answers at once, so the bound
// matters only when something is broken.
const queryTimeout = 2 * time.Second

var probeSeq atomic.Int64

// probeName returns a name under parent that no query asked before, so it
// is in no cache and the upstream's log tells whether it was forwarded.
func probeName(tag, parent string) string {
	return fmt.Sprintf("p%d-%s.%s", probeSeq.Add(1), tag, parent)
}

// query asks server (on port 53, over network) for name's records of
// qtype from c. It fails t and returns false if no answer came.
func query(t *testing.T, c *lab.Client, network string, server netip.Addr, name, qtype string) (lab.DNSAnswer, bool) {
	t.Helper()
	a, err := c.Query(t.Context(), network, netip.AddrPortFrom(server, 53), name, qtype, queryTimeout)
	if err != nil {
		t.Errorf("client %d: %v (after %v)", c.Index, err, a.Elapsed.Round(time.Millisecond))
		return a, false
	}
	return a, true
}

// families of a query type: the type and the address its answers hold.
var qtypes = []struct {
	qtype  string
	notice netip.Addr // the notice address curfew answers
}{
	{"A", lab.LANV4},
	{"AAAA", lab.LANV6},
}

// wantAddr picks the address of the pair v4, v6 that qtype asks for.
func wantAddr(qtype string, v4, v6 netip.Addr) netip.Addr {
	if qtype == "AAAA" {
		return v6
	}
	return v4
}

// checkResolves fails t unless a is the upstream's own answer: NOERROR
// with exactly want and no Extended DNS Error.
func checkResolves(t *testing.T, what string, a lab.DNSAnswer, want netip.Addr) {
	t.Helper()
	if a.Rcode != "NOERROR" || len(a.Addrs) != 1 || a.Addrs[0] != want || len(a.EDE) != 0 {
		t.Errorf("%s = %s, want NOERROR [%s] with no EDE", what, a, want)
	}
}

// checkNotice fails t unless a is curfew's answer for a restricted client:
// NOERROR with exactly the notice address, and an Extended DNS Error with
// code one of codes whose text says the access is restricted, until the
// restriction's end (RFC 3339, UTC).
func checkNotice(t *testing.T, what string, a lab.DNSAnswer, notice netip.Addr, until time.Time, codes ...uint16) {
	t.Helper()
	if a.Rcode != "NOERROR" || len(a.Addrs) != 1 || a.Addrs[0] != notice {
		t.Errorf("%s = %s, want NOERROR [%s] (the notice address)", what, a, notice)
	}
	checkEDE(t, what, a, until, codes...)
}

// checkEDE fails t unless a carries an Extended DNS Error with one of
// codes, whose text says the access is restricted, until until.
func checkEDE(t *testing.T, what string, a lab.DNSAnswer, until time.Time, codes ...uint16) {
	t.Helper()
	if len(a.EDE) != 1 {
		t.Errorf("%s = %s, want one Extended DNS Error (RFC 8914)", what, a)
		return
	}
	e := a.EDE[0]
	if !slices.Contains(codes, e.Code) {
		t.Errorf("%s: EDE code %d, want one of %v", what, e.Code, codes)
	}
	end := until.UTC().Format(time.RFC3339)
	if !strings.Contains(e.Text, "restricted") || !strings.Contains(e.Text, end) {
		t.Errorf("%s: EDE text %q, want it to say the access is restricted until %s", what, e.Text, end)
	}
}

// restrictWith runs `curfew restrict SUBJECT --for 10m` with extra flags
// and returns the new restriction as `curfew show -o json` gives it.
func (g *gateway) restrictWith(subject string, extra ...string) api.Restriction {
	g.t.Helper()
	args := append([]string{"restrict", subject, "--for", "10m", "--reason", "integration: " + g.t.Name()}, extra...)
	out := g.mustCurfew(args...)
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		g.t.Fatalf("curfew restrict printed %q, want the restriction id alone", out)
	}
	var r api.Restriction
	if err := json.Unmarshal([]byte(g.mustCurfew("show", itoa(id), "-o", "json")), &r); err != nil {
		g.t.Fatalf("decoding curfew show %d -o json: %v", id, err)
	}
	return r
}

// queriesFor returns the queries the upstream's DNS server received for
// any of names.
func queriesFor(g *gateway, names []string) []lab.DNSQuery {
	var qs []lab.DNSQuery
	for _, q := range g.DNSQueries() {
		if slices.Contains(names, q.Name) {
			qs = append(qs, q)
		}
	}
	return qs
}

// queriesFrom returns the queries the upstream's DNS server received from
// client c's addresses.
func queriesFrom(g *gateway, c *lab.Client) []lab.DNSQuery {
	var qs []lab.DNSQuery
	for _, q := range g.DNSQueries() {
		if q.From == c.V4 || q.From == c.V6 {
			qs = append(qs, q)
		}
	}
	return qs
}

// listenUpstream accepts TCP connections on port of every upstream address
// and closes them at once, until the test ends, so that whether a client
// connects there depends only on the gateway.
func listenUpstream(t *testing.T, g *gateway, port int) {
	t.Helper()
	ln, err := g.Upstream.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// online makes clients talk to the internet over IPv4 and IPv6 (and fails
// t unless they can), so that the gateway's neighbour table knows all
// their addresses before a test restricts them, as it does for a device
// that was in use. TestRestrictedDeviceNewAddress covers the other case.
func online(t *testing.T, clients ...*lab.Client) {
	t.Helper()
	checkReach(t, true, clients...)
}

// checkResolvesNormally fails t unless c resolves the upstream's names
// through the gateway, over UDP and TCP, A and AAAA.
func checkResolvesNormally(t *testing.T, c *lab.Client) {
	t.Helper()
	for _, server := range gatewayDNS {
		for _, network := range []string{"udp", "tcp"} {
			for _, q := range qtypes {
				for _, n := range []struct {
					name   string
					v4, v6 netip.Addr
				}{
					{lab.NewsName, lab.UpstreamV4, lab.UpstreamV6},
					{"www." + lab.SocialName, lab.Upstream2V4, lab.Upstream2V6},
				} {
					if a, ok := query(t, c, network, server, n.name, q.qtype); ok {
						checkResolves(t, fmt.Sprintf("client %d: @%s %s %s %s", c.Index, server, network, n.name, q.qtype), a, wantAddr(q.qtype, n.v4, n.v6))
					}
				}
			}
		}
	}
}

// connectByName resolves name through the gateway for the family of qtype
// and connects c to the answer on port, as an application would. It
// returns the address and the outcome.
func connectByName(t *testing.T, c *lab.Client, name, qtype string, port int) (netip.Addr, lab.Result, bool) {
	t.Helper()
	a, ok := query(t, c, "udp", lab.LANV4, name, qtype)
	if !ok {
		return netip.Addr{}, lab.Result{}, false
	}
	if len(a.Addrs) == 0 {
		t.Errorf("client %d: %s %s = %s, want an address", c.Index, name, qtype, a)
		return netip.Addr{}, lab.Result{}, false
	}
	addr := a.Addrs[0]
	return addr, c.Connect(t.Context(), net.JoinHostPort(addr.String(), strconv.Itoa(port)), probeTimeout), true
}

// TestResolverUnrestricted checks that clients no one restricted resolve
// names through the gateway, and through any other resolver address, whose
// queries the gateway redirects to curfew: the answer still comes, and the
// upstream sees the query from the gateway, never from the client.
func TestResolverUnrestricted(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c := g.Clients[1]
	checkResolvesNormally(t, c)

	var names []string
	for _, server := range allDNS {
		for _, network := range []string{"udp", "tcp"} {
			for _, q := range qtypes {
				name := probeName("free", lab.NewsName)
				names = append(names, name)
				if a, ok := query(t, c, network, server, name, q.qtype); ok {
					checkResolves(t, fmt.Sprintf("client 2: @%s %s %s %s", server, network, name, q.qtype), a, wantAddr(q.qtype, lab.UpstreamV4, lab.UpstreamV6))
				}
			}
		}
	}
	fwd := queriesFor(g, names)
	if len(fwd) != len(names) {
		t.Errorf("upstream DNS received %d of the %d probe names, want each forwarded once", len(fwd), len(names))
	}
	for _, q := range fwd {
		if q.From != lab.WANV4 && q.From != lab.WANV6 {
			t.Errorf("upstream DNS received %s %s from %s, want it only from the gateway (%s, %s): the query was not redirected to curfew", q.Name, q.Type, q.From, lab.WANV4, lab.WANV6)
		}
	}
	if qs := queriesFrom(g, c); len(qs) != 0 {
		t.Errorf("upstream DNS received %d queries straight from client 2, want none (all DNS goes to curfew): first %+v", len(qs), qs[0])
	}
	t.Logf("%d probe queries to %d resolver addresses; upstream received %d, all from the gateway", len(names), len(allDNS), len(fwd))

	// The canary tells Firefox not to switch to its own DoH resolver, for
	// every client (see the resolver's package doc).
	for _, server := range gatewayDNS {
		if a, ok := query(t, c, "udp", server, "use-application-dns.net", "A"); ok && (a.Rcode != "NXDOMAIN" || len(a.Addrs) != 0) {
			t.Errorf("client 2: @%s use-application-dns.net A = %s, want NXDOMAIN", server, a)
		}
	}

	// Resolve, then connect, as an application does.
	for _, q := range qtypes {
		addr, r, ok := connectByName(t, c, lab.OtherName, q.qtype, lab.AltPort)
		if ok && r.Err != nil {
			t.Errorf("client 2: connect to %s (%s) = %s, want connected", lab.OtherName, addr, r.Outcome())
		}
	}
}

// TestResolverCutoff checks that a cut-off client gets curfew's notice
// address for every name, with an Extended DNS Error saying why and until
// when, whichever resolver address it asks, and that none of its queries
// reaches the upstream; that the Firefox canary answers NXDOMAIN; that DoT
// is refused fast; and that other clients are unaffected.
func TestResolverCutoff(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	listenUpstream(t, g, 853)
	online(t, c1, c2)
	checkResolvesNormally(t, c1)
	r := g.restrictWith(device(c1), "--notice", "integration: resolver cut-off")

	var names []string
	start := time.Now()
	n := 0
	for _, server := range allDNS {
		for _, network := range []string{"udp", "tcp"} {
			for _, q := range qtypes {
				for _, parent := range []string{lab.NewsName, lab.OtherName, "nowhere.example.org"} {
					name := probeName("cut", parent)
					names = append(names, name)
					if a, ok := query(t, c1, network, server, name, q.qtype); ok {
						n++
						checkNotice(t, fmt.Sprintf("client 1 (cut off): @%s %s %s %s", server, network, name, q.qtype), a, q.notice, r.EndsAt, edeProhibited)
					}
				}
			}
		}
	}
	t.Logf("client 1 (cut off): %d queries to %d resolver addresses answered by curfew in %v", n, len(allDNS), time.Since(start).Round(time.Millisecond))
	if qs := queriesFor(g, names); len(qs) != 0 {
		t.Errorf("upstream DNS received %d of the cut-off client's queries, want none: first %+v", len(qs), qs[0])
	}
	if qs := queriesFrom(g, c1); len(qs) != 0 {
		t.Errorf("upstream DNS received %d queries straight from the cut-off client, want none: first %+v", len(qs), qs[0])
	}

	for _, server := range gatewayDNS {
		for _, q := range qtypes {
			if a, ok := query(t, c1, "udp", server, "use-application-dns.net", q.qtype); ok {
				what := fmt.Sprintf("client 1 (cut off): @%s use-application-dns.net %s", server, q.qtype)
				if a.Rcode != "NXDOMAIN" || len(a.Addrs) != 0 {
					t.Errorf("%s = %s, want NXDOMAIN", what, a)
				}
				checkEDE(t, what, a, r.EndsAt, edeBlocked, edeFiltered, edeProhibited)
			}
		}
	}

	// DoT is refused with a reset, not left to time out.
	for _, up := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
		addr := net.JoinHostPort(up.String(), "853")
		res := c1.Connect(t.Context(), addr, probeTimeout)
		if !res.Refused() || res.Elapsed > 250*time.Millisecond {
			t.Errorf("client 1 (cut off): DoT connect to %s = %s after %v, want refused with a reset at once", addr, res.Outcome(), res.Elapsed)
		} else {
			t.Logf("client 1 (cut off): DoT to %s refused in %v", addr, res.Elapsed)
		}
		if res := c2.Connect(t.Context(), addr, probeTimeout); res.Err != nil {
			t.Errorf("client 2 (free): DoT connect to %s = %s, want connected", addr, res.Outcome())
		}
	}

	checkResolvesNormally(t, c2)
	checkReach(t, true, c2)

	// The operator sees the refused queries in the query log.
	stdout := g.mustCurfew("queries", "-o", "json")
	var qlog api.DNSLogResponse
	if err := json.Unmarshal([]byte(stdout), &qlog); err != nil {
		t.Fatalf("curfew queries -o json = %q: %v", stdout, err)
	}
	var refused uint64
	for _, cl := range qlog.Clients {
		if cl.Client == c1.V4.String() || cl.Client == c1.V6.String() {
			refused += cl.Refused
		}
	}
	if refused < uint64(n) {
		t.Errorf("curfew queries counts %d refused queries of client 1, want at least the %d it was answered", refused, n)
	}
}

// TestResolverBlocklist checks a client restricted in blocklist mode: the
// blocked names and their subdomains answer the notice address, with an
// Extended DNS Error; other names resolve and connect as usual; DoT is
// refused; another client resolves the blocked names normally.
func TestResolverBlocklist(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	listenUpstream(t, g, 853)
	online(t, c1, c2)
	r := g.restrictWith(device(c1), "--mode", "blocklist", "--block", lab.SocialName)

	for _, server := range allDNS {
		for _, q := range qtypes {
			for _, name := range []string{lab.SocialName, "www." + lab.SocialName, probeName("block", lab.SocialName)} {
				if a, ok := query(t, c1, "udp", server, name, q.qtype); ok {
					checkNotice(t, fmt.Sprintf("client 1 (blocklist): @%s %s %s", server, name, q.qtype), a, q.notice, r.EndsAt, edeBlocked)
				}
			}
			for _, n := range []struct {
				name   string
				v4, v6 netip.Addr
			}{
				{lab.NewsName, lab.UpstreamV4, lab.UpstreamV6},
				{lab.OtherName, lab.Upstream2V4, lab.Upstream2V6},
				// A name that merely ends like a blocked one is not under it.
				{"not" + lab.SocialName + "." + lab.NewsName, lab.UpstreamV4, lab.UpstreamV6},
			} {
				if a, ok := query(t, c1, "tcp", server, n.name, q.qtype); ok {
					checkResolves(t, fmt.Sprintf("client 1 (blocklist): @%s %s %s", server, n.name, q.qtype), a, wantAddr(q.qtype, n.v4, n.v6))
				}
			}
		}
	}
	for _, q := range qtypes {
		addr, res, ok := connectByName(t, c1, lab.NewsName, q.qtype, lab.AltPort)
		if ok && res.Err != nil {
			t.Errorf("client 1 (blocklist): connect to %s (%s) = %s, want connected", lab.NewsName, addr, res.Outcome())
		}
	}
	for _, up := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
		addr := net.JoinHostPort(up.String(), "853")
		res := c1.Connect(t.Context(), addr, probeTimeout)
		if !res.Refused() || res.Elapsed > 250*time.Millisecond {
			t.Errorf("client 1 (blocklist): DoT connect to %s = %s after %v, want refused with a reset at once", addr, res.Outcome(), res.Elapsed)
		} else {
			t.Logf("client 1 (blocklist): DoT to %s refused in %v", addr, res.Elapsed)
		}
	}
	checkReach(t, true, c1, c2)
	checkResolvesNormally(t, c2)
}

// TestResolverAllowlist checks two walled gardens: client 1 may use
// news.example.org alone, by name; client 3 may use the upstream's second
// site alone, by address prefix. Each reaches what it is allowed, over IPv4
// and IPv6, and is refused fast everywhere else, by name and by raw
// address; client 2 is unaffected.
func TestResolverAllowlist(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	listenUpstream(t, g, 853)
	online(t, c1, c2, c3)
	r1 := g.restrictWith(device(c1), "--mode", "allowlist", "--allow", lab.NewsName)
	r3 := g.restrictWith(device(c3), "--mode", "allowlist", "--allow",
		netip.PrefixFrom(lab.Upstream2V4, 32).String()+","+netip.PrefixFrom(lab.Upstream2V6, 128).String())

	// Client 1: its site by name, and nothing else.
	for _, q := range qtypes {
		want := wantAddr(q.qtype, lab.UpstreamV4, lab.UpstreamV6)
		for _, name := range []string{lab.NewsName, "www." + lab.NewsName} {
			if a, ok := query(t, c1, "udp", lab.LANV4, name, q.qtype); ok {
				checkResolves(t, fmt.Sprintf("client 1 (allowlist): %s %s", name, q.qtype), a, want)
			}
		}
		addr, res, ok := connectByName(t, c1, lab.NewsName, q.qtype, lab.AltPort)
		if ok && res.Err != nil {
			t.Errorf("client 1 (allowlist): connect to the allowed %s (%s) right after resolving it = %s after %v, want connected", lab.NewsName, addr, res.Outcome(), res.Elapsed)
		}
		if ok {
			if got := c1.Get(t.Context(), lab.UpstreamURL(addr, lab.HTTPPort, "/"), probeTimeout); !got.Reached() {
				t.Errorf("client 1 (allowlist): HTTP to the allowed %s (%s) = %s, want the site's page", lab.NewsName, addr, got.Outcome())
			}
		}
		for _, server := range allDNS {
			for _, name := range []string{lab.OtherName, lab.SocialName} {
				if a, ok := query(t, c1, "udp", server, name, q.qtype); ok {
					checkNotice(t, fmt.Sprintf("client 1 (allowlist): @%s %s %s", server, name, q.qtype), a, q.notice, r1.EndsAt, edeProhibited, edeFiltered, edeBlocked)
				}
			}
		}
		other := wantAddr(q.qtype, lab.Upstream2V4, lab.Upstream2V6)
		res = c1.Connect(t.Context(), altAddr(other), probeTimeout)
		if !res.Refused() || res.Elapsed > 250*time.Millisecond {
			t.Errorf("client 1 (allowlist): connect to the raw address %s of another site = %s after %v, want refused with a reset at once", other, res.Outcome(), res.Elapsed)
		} else {
			t.Logf("client 1 (allowlist): raw %s refused in %v", other, res.Elapsed)
		}
		dot := net.JoinHostPort(want.String(), "853")
		if res := c1.Connect(t.Context(), dot, probeTimeout); !res.Refused() || res.Elapsed > 250*time.Millisecond {
			t.Errorf("client 1 (allowlist): DoT connect to its allowed site %s = %s after %v, want refused with a reset at once", dot, res.Outcome(), res.Elapsed)
		}
	}

	// Client 3: the allowed prefixes by raw address, nothing by name.
	for _, q := range qtypes {
		allowed := wantAddr(q.qtype, lab.Upstream2V4, lab.Upstream2V6)
		if res := c3.Connect(t.Context(), altAddr(allowed), probeTimeout); res.Err != nil {
			t.Errorf("client 3 (allowlist of prefixes): connect to allowed %s = %s, want connected", allowed, res.Outcome())
		}
		other := wantAddr(q.qtype, lab.UpstreamV4, lab.UpstreamV6)
		if res := c3.Connect(t.Context(), altAddr(other), probeTimeout); !res.Refused() || res.Elapsed > 250*time.Millisecond {
			t.Errorf("client 3 (allowlist of prefixes): connect to %s = %s after %v, want refused with a reset at once", other, res.Outcome(), res.Elapsed)
		}
		if a, ok := query(t, c3, "udp", lab.LANV4, lab.NewsName, q.qtype); ok {
			checkNotice(t, fmt.Sprintf("client 3 (allowlist of prefixes): %s %s", lab.NewsName, q.qtype), a, q.notice, r3.EndsAt, edeProhibited, edeFiltered, edeBlocked)
		}
	}

	checkResolvesNormally(t, c2)
	checkReach(t, true, c2)
}

// TestResolverNetworkBlocklist checks the operator's network-wide
// blocklist (dns.blocklists): a listed name and its subdomains answer the
// null address for every client, with an Extended DNS Error, and are never
// forwarded; other names resolve.
func TestResolverNetworkBlocklist(t *testing.T) {
	t.Parallel()
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	content := "# integration\n" + lab.SocialName + "\n0.0.0.0 ads." + lab.OtherName + "\n||track." + lab.NewsName + "^\n"
	if err := os.WriteFile(list, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newGatewayWith(t, lab.Config{Blocklists: []string{list}})
	var blocked []string
	for _, c := range g.Clients {
		for _, server := range []netip.Addr{lab.LANV4, lab.LANV6, lab.UpstreamV4} {
			for _, q := range qtypes {
				for _, name := range []string{
					lab.SocialName, probeName("nb", lab.SocialName),
					"ads." + lab.OtherName, probeName("nb", "ads."+lab.OtherName),
					"track." + lab.NewsName, probeName("nb", "track."+lab.NewsName),
				} {
					blocked = append(blocked, name)
					what := fmt.Sprintf("client %d: @%s %s %s", c.Index, server, name, q.qtype)
					a, ok := query(t, c, "udp", server, name, q.qtype)
					if !ok {
						continue
					}
					null := wantAddr(q.qtype, netip.IPv4Unspecified(), netip.IPv6Unspecified())
					if a.Rcode != "NOERROR" || len(a.Addrs) != 1 || a.Addrs[0] != null {
						t.Errorf("%s = %s, want NOERROR [%s] (blocked network-wide)", what, a, null)
					}
					if len(a.EDE) != 1 || a.EDE[0].Code != edeBlocked || !strings.Contains(a.EDE[0].Text, "blocklist") {
						t.Errorf("%s: EDE %v, want one with code %d saying the name is on the blocklist", what, a.EDE, edeBlocked)
					}
				}
				if a, ok := query(t, c, "udp", server, lab.NewsName, q.qtype); ok {
					checkResolves(t, fmt.Sprintf("client %d: @%s %s %s", c.Index, server, lab.NewsName, q.qtype), a, wantAddr(q.qtype, lab.UpstreamV4, lab.UpstreamV6))
				}
			}
		}
	}
	if qs := queriesFor(g, blocked); len(qs) != 0 {
		t.Errorf("upstream DNS received %d queries for names on the network-wide blocklist, want none: first %+v", len(qs), qs[0])
	}
}
