package lab_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
	"github.com/curfew/curfew/internal/netnstest"
)

// newLab builds a lab with a prefix unique to this test process and removes
// it at cleanup. It skips unless namespaces can be created (failing
// instead when CURFEW_REQUIRE_NETNS=1).
func newLab(t *testing.T, name string) *lab.Lab {
	t.Helper()
	netnstest.New(t) // the probe: skips or fails as the environment asks
	l, err := lab.New(t.Context(), lab.Config{Prefix: fmt.Sprintf("cflt%d-%s", os.Getpid(), name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	return l
}

func TestClientsReachUpstream(t *testing.T) {
	l := newLab(t, "reach")
	for _, c := range l.Clients {
		for _, f := range []struct {
			upstream, client netip.Addr
		}{
			{lab.UpstreamV4, c.V4},
			{lab.UpstreamV6, c.V6},
		} {
			for _, port := range []int{lab.HTTPPort, lab.AltPort} {
				url := lab.UpstreamURL(f.upstream, port, "/")
				r := c.Get(t.Context(), url, 5*time.Second)
				if !r.Reached() {
					t.Errorf("client %d: GET %s = %d %q, %v; want the upstream page", c.Index, url, r.Status, r.Body, r.Err)
					continue
				}
				// No NAT: the upstream sees the client's own address.
				if !strings.Contains(r.Body, f.client.String()) {
					t.Errorf("client %d: GET %s body %q, want it to name the client address %s", c.Index, url, r.Body, f.client)
				}
			}
		}
	}
}

func TestConnectClosedPortIsRefused(t *testing.T) {
	l := newLab(t, "refuse")
	c := l.Clients[0]
	r := c.Connect(t.Context(), "198.51.100.10:9", 5*time.Second)
	if !r.Refused() {
		t.Fatalf("Connect(closed port) = %v after %v, want refused", r.Err, r.Elapsed)
	}
	if r.Elapsed > 500*time.Millisecond {
		t.Errorf("Connect(closed port) took %v, want well under a second", r.Elapsed)
	}
}

func TestStream(t *testing.T) {
	l := newLab(t, "stream")
	c := l.Clients[1]
	s, err := c.OpenStream(t.Context(), lab.UpstreamURL(lab.UpstreamV6, lab.AltPort, "/stream"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n, _, err := s.State(); n < 4 || err != nil {
		t.Errorf("after 300ms: %d lines, err %v; want about 6 lines, no error", n, err)
	}
	// An undisturbed stream does not stop.
	if _, stopped := s.WaitStopped(300*time.Millisecond, time.Now().Add(500*time.Millisecond)); stopped {
		t.Errorf("WaitStopped: stream stopped, want it still flowing")
	}
	s.Close()
	select {
	case <-s.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("stream reader still running 2s after Close")
	}
}

func TestRun(t *testing.T) {
	l := newLab(t, "run")
	out, err := l.Clients[2].Run(t.Context(), "ip", "-o", "link", "show", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "02:c0:ff:ee:00:03") {
		t.Errorf("client 3 eth0: %q, want MAC 02:c0:ff:ee:00:03", out)
	}
}

func TestNewRemovesLeftovers(t *testing.T) {
	netnstest.New(t)
	prefix := fmt.Sprintf("cflt%d-left", os.Getpid())
	ctx := t.Context()
	first, err := lab.New(ctx, lab.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// A second lab with the same prefix, as after a crash: it replaces the
	// first one's namespaces.
	second, err := lab.New(ctx, lab.Config{Prefix: prefix})
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	if r := second.Clients[0].Get(ctx, lab.UpstreamURL(lab.UpstreamV4, lab.AltPort, "/"), 5*time.Second); !r.Reached() {
		t.Errorf("second lab: client 1 GET = %v, want the upstream page", r.Outcome())
	}
	if err := second.Close(); err != nil {
		t.Error(err)
	}
	first.Close()
	for _, suffix := range []string{"up", "gw", "c1", "c2", "c3"} {
		if _, err := os.Stat("/run/netns/" + prefix + "-" + suffix); err == nil {
			t.Errorf("namespace %s-%s still exists after Close", prefix, suffix)
		}
	}
}

func TestAPIForwarder(t *testing.T) {
	l := newLab(t, "fwd")
	ln, err := l.Gateway.Listen("tcp", lab.APIAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "gateway api")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	resp, err := http.Get(l.APIURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "gateway api" {
		t.Errorf("GET %s = %q, want the answer of the server in the gateway namespace", l.APIURL(), b)
	}
}

func TestUpstreamDNS(t *testing.T) {
	l := newLab(t, "dns")
	c := l.Clients[0]
	for _, server := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6, lab.Upstream2V4, lab.Upstream2V6} {
		for _, network := range []string{"udp", "tcp"} {
			for _, q := range []struct {
				name, qtype string
				rcode       string
				want        netip.Addr
			}{
				{lab.NewsName, "A", "NOERROR", lab.UpstreamV4},
				{"www." + lab.NewsName, "AAAA", "NOERROR", lab.UpstreamV6},
				{lab.OtherName, "A", "NOERROR", lab.Upstream2V4},
				{"m." + lab.SocialName, "AAAA", "NOERROR", lab.Upstream2V6},
				{"nowhere.example.org", "A", "NXDOMAIN", netip.Addr{}},
			} {
				a, err := c.Query(t.Context(), network, netip.AddrPortFrom(server, 53), q.name, q.qtype, 2*time.Second)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				var want []netip.Addr
				if q.want.IsValid() {
					want = []netip.Addr{q.want}
				}
				if a.Rcode != q.rcode || fmt.Sprint(a.Addrs) != fmt.Sprint(want) {
					t.Errorf("@%s over %s: %s %s = %s, want %s %v", server, network, q.name, q.qtype, a, q.rcode, want)
				}
			}
		}
	}
	qs := l.DNSQueries()
	if len(qs) != 4*2*5 {
		t.Errorf("upstream DNS logged %d queries, want %d", len(qs), 4*2*5)
	}
	if len(qs) > 0 {
		q := qs[0]
		if q.From != c.V4 || q.To != lab.UpstreamV4 || q.Name != lab.NewsName || q.Type != "A" || q.TCP {
			t.Errorf("first logged query %+v, want client 1's A %s over UDP to %s", q, lab.NewsName, lab.UpstreamV4)
		}
	}
	// The second site serves the same web pages.
	if r := c.Get(t.Context(), lab.UpstreamURL(lab.Upstream2V6, lab.HTTPPort, "/"), 5*time.Second); !r.Reached() {
		t.Errorf("GET second site: %s", r.Outcome())
	}
	if r := c.Get(t.Context(), lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, lab.FeedPath), 5*time.Second); r.Status != 200 || !strings.Contains(r.Body, lab.FeedHeadline) {
		t.Errorf("GET feed: %d %q", r.Status, r.Body)
	}
}
