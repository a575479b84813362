package resolver_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/resolver"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// fakeMetrics records what the resolver reports.
type fakeMetrics struct {
	mu        sync.Mutex // guards the fields below
	results   map[string]int
	upstreams int
	failures  int
}

func (m *fakeMetrics) Query(r resolver.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results[r.String()]++
}

func (m *fakeMetrics) Upstream(_ netip.AddrPort, d time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upstreams++
	if err != nil {
		m.failures++
	}
}

func TestMetrics(t *testing.T) {
	up := newUpstream(t)
	m := &fakeMetrics{results: map[string]int{}}
	list := writeFile(t, t.TempDir(), "ads.txt", "ads.example\n")
	r, addr := start(t, resolver.Config{
		Upstreams:  []netip.AddrPort{deadUpstream(t), up.addr},
		Blocklists: []string{list},
		Metrics:    m,
	})
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	ask(t, addr, "a.example", dns.TypeA)               // forwarded, after a timeout on the dead upstream
	ask(t, addr, "a.example", dns.TypeA)               // cached
	ask(t, addr, "a.example", dns.TypeA, overTCP)      // cached, through the chain
	ask(t, addr, "ads.example", dns.TypeA)             // blocked
	ask(t, addr, "use-application-dns.net", dns.TypeA) // canary

	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]int{"forwarded": 1, "cached": 2, "blocked": 1, "canary": 1}
	if diff := cmp.Diff(want, m.results); diff != "" {
		t.Errorf("queries by result (-want +got):\n%s", diff)
	}
	if m.upstreams != 2 || m.failures != 1 {
		t.Errorf("upstream exchanges = %d with %d failures, want 2 with 1", m.upstreams, m.failures)
	}
}
