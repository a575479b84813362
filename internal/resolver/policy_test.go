package resolver_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce/enforcetest"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

var (
	macCut   = mustMAC("02:00:00:00:00:01")
	macBlock = mustMAC("02:00:00:00:00:02")
	until    = t0.Add(2 * time.Hour)
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Clients of the policy tests, each a loopback address:
//   - 127.0.0.1 is not restricted;
//   - 127.0.0.2 is a cut-off device known by its static address;
//   - 127.0.0.3 is a device in blocklist mode, found through Neighbors;
//   - 127.0.0.4 is an ip: subject in allowlist mode;
//   - 127.0.0.5 is an ip: subject throttled, nothing else.
//
// The blocklisted device is throttled too: the rate changes no answer.
func policySnapshot() *curfew.Snapshot {
	e := func(m curfew.Reach) curfew.Enforcement {
		return curfew.Enforcement{Reach: m, Since: t0, Until: until, RestrictedUntil: until, Restrictions: []curfew.RestrictionID{1}}
	}
	block := e(curfew.ReachBlocklist)
	block.BlockNames = []string{"blocked.example"}
	block.Rate, block.RateUntil = 2_000_000, until
	slow := e(curfew.ReachOpen)
	slow.Until, slow.Rate, slow.RateUntil = time.Time{}, 512_000, until
	allow := e(curfew.ReachAllowlist)
	allow.AllowNames = []string{"news.example"}
	allow.AllowPrefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	return &curfew.Snapshot{
		At: t0,
		Devices: []*curfew.DeviceRule{
			{MAC: macCut, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, Enforcement: e(curfew.ReachCutoff)},
			{MAC: macBlock, Enforcement: block},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("127.0.0.4/32"), Enforcement: allow},
			{Prefix: netip.MustParsePrefix("127.0.0.5/32"), Enforcement: slow},
		},
	}
}

func neighbors(a netip.Addr) (net.HardwareAddr, bool) {
	if a == netip.MustParseAddr("127.0.0.3") {
		return macBlock, true
	}
	return nil, false
}

type allowed struct {
	mac  string
	addr string
	ttl  time.Duration
}

type policyEnv struct {
	up   *upstream
	r    *resolver.Resolver
	addr netip.AddrPort
	clk  *clock

	mu      sync.Mutex // guards allowed
	allowed []allowed
}

func newPolicyEnv(t *testing.T) *policyEnv {
	env := &policyEnv{up: newUpstream(t), clk: newClock(t0)}
	env.r, env.addr = start(t, resolver.Config{
		Upstreams: []netip.AddrPort{env.up.addr},
		Identify:  identify.Func(neighbors),
		Now:       env.clk.now,
		OnAllowed: func(mac net.HardwareAddr, a netip.Addr, ttl time.Duration) {
			env.mu.Lock()
			defer env.mu.Unlock()
			env.allowed = append(env.allowed, allowed{mac.String(), a.String(), ttl})
		},
	})
	if err := env.r.Apply(t.Context(), policySnapshot()); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestPolicy(t *testing.T) {
	const (
		forwarded = -1 // want no EDE
		upA       = "192.0.2.1"
		upAAAA    = "2001:db8::1"
	)
	tests := []struct {
		name    string
		client  string
		qname   string
		qtype   uint16
		want    []string // answered addresses
		wantEDE int      // the Extended DNS Error's code, or forwarded
	}{
		{"unrestricted client", "127.0.0.1", "blocked.example", dns.TypeA, []string{upA}, forwarded},
		{"cutoff A gets the notice address", "127.0.0.2", "www.example.org", dns.TypeA, []string{notice4.String()}, int(dns.ExtendedErrorCodeProhibited)},
		{"cutoff AAAA gets the notice address", "127.0.0.2", "www.example.org", dns.TypeAAAA, []string{notice6.String()}, int(dns.ExtendedErrorCodeProhibited)},
		{"cutoff MX gets nothing", "127.0.0.2", "example.org", dns.TypeMX, nil, int(dns.ExtendedErrorCodeProhibited)},
		{"cutoff even for allowed-elsewhere names", "127.0.0.2", "news.example", dns.TypeA, []string{notice4.String()}, int(dns.ExtendedErrorCodeProhibited)},
		{"blocklist blocks the name", "127.0.0.3", "blocked.example", dns.TypeA, []string{notice4.String()}, int(dns.ExtendedErrorCodeBlocked)},
		{"blocklist blocks subdomains", "127.0.0.3", "a.b.Blocked.Example", dns.TypeAAAA, []string{notice6.String()}, int(dns.ExtendedErrorCodeBlocked)},
		{"blocklist forwards other names", "127.0.0.3", "notblocked.example", dns.TypeA, []string{upA}, forwarded},
		{"blocklist forwards look-alike names", "127.0.0.3", "xblocked.example", dns.TypeA, []string{upA}, forwarded},
		{"allowlist resolves the name", "127.0.0.4", "news.example", dns.TypeA, []string{upA}, forwarded},
		{"allowlist resolves subdomains", "127.0.0.4", "cdn.news.example", dns.TypeAAAA, []string{upAAAA}, forwarded},
		{"allowlist refuses other names", "127.0.0.4", "other.example", dns.TypeA, []string{notice4.String()}, int(dns.ExtendedErrorCodeProhibited)},
		{"allowlist refuses parents", "127.0.0.4", "example", dns.TypeA, []string{notice4.String()}, int(dns.ExtendedErrorCodeProhibited)},
		{"throttle changes no answer", "127.0.0.5", "blocked.example", dns.TypeA, []string{upA}, forwarded},
		{"throttle changes no answer, v6", "127.0.0.5", "www.example.org", dns.TypeAAAA, []string{upAAAA}, forwarded},
	}
	env := newPolicyEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, opts := range [][]qopt{{edns(1232)}, {edns(1232), overTCP}} {
				before := env.up.queries.Load()
				m := ask(t, env.addr, tt.qname, tt.qtype, append(opts, from(tt.client))...)
				if m.Rcode != dns.RcodeSuccess {
					t.Errorf("rcode = %s, want NOERROR", dns.RcodeToString[m.Rcode])
				}
				if diff := cmp.Diff(tt.want, addrs(m)); diff != "" {
					t.Errorf("addresses (-want +got):\n%s", diff)
				}
				e := ede(m)
				switch {
				case tt.wantEDE == forwarded && e != nil:
					t.Errorf("EDE = %v, want none", e)
				case tt.wantEDE != forwarded && e == nil:
					t.Errorf("no EDE, want code %d", tt.wantEDE)
				case tt.wantEDE != forwarded:
					if int(e.InfoCode) != tt.wantEDE {
						t.Errorf("EDE code = %d, want %d", e.InfoCode, tt.wantEDE)
					}
					for _, s := range []string{"restricted on purpose", "until 2026-03-01T23:00:00Z"} {
						if !strings.Contains(e.ExtraText, s) {
							t.Errorf("EDE text %q does not say %q", e.ExtraText, s)
						}
					}
					if got := env.up.queries.Load() - before; got != 0 {
						t.Errorf("refused query reached the upstream %d times", got)
					}
				}
			}
		})
	}
}

func TestCutoffNeverReachesUpstream(t *testing.T) {
	env := newPolicyEnv(t)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeTXT, dns.TypePTR, dns.TypeANY} {
		for _, o := range []qopt{overTCP, edns(4096)} {
			ask(t, env.addr, "anything.example.net", qt, from("127.0.0.2"), o)
		}
	}
	ask(t, env.addr, "2.0.0.127.in-addr.arpa", dns.TypePTR, from("127.0.0.2"))
	if n := env.up.queries.Load(); n != 0 {
		t.Errorf("upstream asked %d times by a cut-off client, want 0", n)
	}
}

func TestAllowlistReportsAnsweredAddresses(t *testing.T) {
	env := newPolicyEnv(t)
	ask(t, env.addr, "news.example", dns.TypeA, from("127.0.0.4"))
	ask(t, env.addr, "www.news.example", dns.TypeAAAA, from("127.0.0.4"))
	env.clk.advance(100 * time.Second) // from the cache, with a lower TTL
	ask(t, env.addr, "news.example", dns.TypeA, from("127.0.0.4"))
	ask(t, env.addr, "other.example", dns.TypeA, from("127.0.0.4"))      // refused: nothing to open
	ask(t, env.addr, "news.example", dns.TypeA, from("127.0.0.1"))       // not in allowlist mode
	ask(t, env.addr, "notblocked.example", dns.TypeA, from("127.0.0.3")) // blocklist mode

	want := []allowed{
		{"", "192.0.2.1", upstreamTTL * time.Second},
		{"", "2001:db8::1", upstreamTTL * time.Second},
		{"", "192.0.2.1", (upstreamTTL - 100) * time.Second},
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if diff := cmp.Diff(want, env.allowed, cmp.AllowUnexported(allowed{})); diff != "" {
		t.Errorf("OnAllowed calls (-want +got):\n%s", diff)
	}
}

func TestRestrictionEndsOnTimeWithoutNewSnapshot(t *testing.T) {
	env := newPolicyEnv(t)
	if m := ask(t, env.addr, "www.example.org", dns.TypeA, from("127.0.0.2")); ede(m) != nil {
		t.Errorf("non-EDNS client got an EDE: %v", m)
	}
	env.clk.set(until)
	m := ask(t, env.addr, "www.example.org", dns.TypeA, from("127.0.0.2"))
	if diff := cmp.Diff([]string{"192.0.2.1"}, addrs(m)); diff != "" {
		t.Errorf("after the end (-want +got):\n%s", diff)
	}
}

func TestApplyZeroSnapshotLiftsEverything(t *testing.T) {
	env := newPolicyEnv(t)
	if err := env.r.Apply(t.Context(), &curfew.Snapshot{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		m := ask(t, env.addr, "blocked.example", dns.TypeA, from(c), edns(1232))
		if ede(m) != nil || len(addrs(m)) != 1 || addrs(m)[0] != "192.0.2.1" {
			t.Errorf("client %s after lifting: %v", c, m)
		}
	}
}

func TestCanaryDomain(t *testing.T) {
	env := newPolicyEnv(t)
	for _, c := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.4"} {
		m := ask(t, env.addr, "use-application-dns.net", dns.TypeA, from(c), edns(1232))
		if m.Rcode != dns.RcodeNameError || ede(m) == nil {
			t.Errorf("canary from %s = %v, want NXDOMAIN with EDE", c, m)
		}
	}
	if n := env.up.queries.Load(); n != 0 {
		t.Errorf("canary reached the upstream %d times", n)
	}
}

func TestLookup(t *testing.T) {
	env := newPolicyEnv(t)
	for _, tt := range []struct {
		client string
		want   curfew.Reach
	}{
		{"127.0.0.1", ""},
		{"127.0.0.2", curfew.ReachCutoff},
		{"::ffff:127.0.0.2", curfew.ReachCutoff},
		{"127.0.0.3", curfew.ReachBlocklist},
		{"127.0.0.4", curfew.ReachAllowlist},
		{"127.0.0.5", ""}, // throttled: nothing the resolver holds it to
	} {
		e, _ := env.r.Lookup(netip.MustParseAddr(tt.client))
		if e.Reach != tt.want {
			t.Errorf("Lookup(%s) reach = %q, want %q", tt.client, e.Reach, tt.want)
		}
	}
}

// TestConformance runs the Backend conformance suite, observing the
// resolver through Lookup: devices are found through Neighbors at
// addresses of 10.250.0.0/24.
func TestConformance(t *testing.T) {
	macs := map[netip.Addr]net.HardwareAddr{}
	probe := func(mac net.HardwareAddr) netip.Addr {
		return netip.AddrFrom4([4]byte{10, 250, 0, mac[5]})
	}
	for _, s := range []string{"02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"} {
		m := mustMAC(s)
		macs[probe(m)] = m
	}
	enforcetest.Run(t, func(t *testing.T) *enforcetest.Harness {
		r, err := resolver.New(&resolver.Config{Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) {
			m, ok := macs[a]
			return m, ok
		})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		lookup := func(a netip.Addr) (time.Time, bool, error) {
			e, ok := r.Lookup(a)
			return e.Until, ok, nil
		}
		return &enforcetest.Harness{
			Backend:    r,
			LookupMAC:  func(_ context.Context, mac net.HardwareAddr) (time.Time, bool, error) { return lookup(probe(mac)) },
			LookupAddr: func(_ context.Context, a netip.Addr) (time.Time, bool, error) { return lookup(a) },
		}
	})
}
