//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/lab"
)

// noticePort is the notice server's port on the gateway's LAN addresses.
const noticePort = 8480

// A response is what a client's HTTP request got.
type response struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
	err     error
}

func (r response) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	b := r.body
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return fmt.Sprintf("HTTP %d %s %q", r.status, r.header.Get("Content-Type"), b)
}

// fetch sends method url from c with header (a "Host" entry sets the
// request's Host), follows no redirect and waits at most probeTimeout.
func fetch(t *testing.T, c *lab.Client, method, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	hc := &http.Client{
		Timeout:       probeTimeout,
		Transport:     &http.Transport{DialContext: c.Dial, DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return response{elapsed: time.Since(start), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{status: resp.StatusCode, header: resp.Header, body: string(b), elapsed: time.Since(start), err: err}
}

// get is fetch with GET and no extra header.
func get(t *testing.T, c *lab.Client, url string) response {
	t.Helper()
	return fetch(t, c, http.MethodGet, url, nil)
}

// noticeURL returns the URL of path on the notice server at the gateway's
// LAN address a.
func noticeURL(a netip.Addr, path string) string {
	return "http://" + net.JoinHostPort(a.String(), fmt.Sprint(noticePort)) + path
}

// outsideURLs are plain HTTP URLs outside the LAN that a restricted client
// might open: both upstream sites and an address where nothing exists,
// over IPv4 and IPv6.
var outsideURLs = []string{
	lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, "/"),
	lab.UpstreamURL(lab.UpstreamV6, lab.HTTPPort, "/"),
	lab.UpstreamURL(lab.Upstream2V4, lab.HTTPPort, "/some/page?q=1"),
	lab.UpstreamURL(lab.Upstream2V6, lab.HTTPPort, "/some/page?q=1"),
	"http://203.0.113.80/",
	"http://[2001:db8:ffff::80]/",
}

// Strings of the notice page, from internal/notice/lang.
const (
	restrictedEN = "Internet access restricted"
	restrictedES = "Acceso a internet restringido"
	freeEN       = "Not restricted"
	freeES       = "Sin restricción"
	blocklistEN  = "some services are blocked for this device"
	reachableEN  = "Still reachable"
)

// captiveState is the RFC 8908 API's answer.
type captiveState struct {
	Captive          bool   `json:"captive"`
	UserPortalURL    string `json:"user-portal-url"`
	SecondsRemaining *int64 `json:"seconds-remaining"`
}

// captive asks the notice server at the gateway's address a for c's
// RFC 8908 state, and returns it with when the answer came.
func captive(t *testing.T, c *lab.Client, a netip.Addr) (captiveState, time.Time, bool) {
	t.Helper()
	url := noticeURL(a, "/captive-portal/api")
	r := fetch(t, c, http.MethodGet, url, http.Header{"Accept": {"application/captive+json"}})
	at := time.Now()
	var st captiveState
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("client %d: GET %s = %s, want 200", c.Index, url, r)
		return st, at, false
	}
	if ct := r.header.Get("Content-Type"); ct != "application/captive+json" {
		t.Errorf("client %d: GET %s: Content-Type %q, want application/captive+json", c.Index, url, ct)
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Errorf("client %d: GET %s: %v in %q", c.Index, url, err, r.body)
		return st, at, false
	}
	return st, at, true
}

// TestNoticePage checks what a restricted person sees: plain HTTP to any
// outside address, over IPv4 and IPv6, gets the notice page with the
// operator's text, the expiry in UTC, the contact and the headlines the
// gateway fetched; the RFC 8908 API says captive with the right seconds
// remaining; HTTPS fails at once; Spanish is served for Accept-Language:
// es. Another client is not captive, reaches the internet and gets the
// "not restricted" page from the gateway.
func TestNoticePage(t *testing.T) {
	t.Parallel()
	const (
		network = "the lab residence network"
		contact = "helpdesk@lab.example"
		text    = "Access is paused while the residence network is audited."
	)
	g := newGatewayWith(t, lab.Config{Notice: lab.Notice{
		NetworkName: network,
		Contact:     contact,
		Feeds:       []string{lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, lab.FeedPath)},
	}})
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	listenUpstream(t, g, 443)
	online(t, c1, c2, c3)
	r := g.restrictWith(device(c1), "--notice", text)
	r3 := g.restrictWith(device(c3), "--mode", "allowlist", "--allow", lab.NewsName)
	untilUTC := pageTime(r.EndsAt)
	untilISO := r.EndsAt.UTC().Format(time.RFC3339)

	for _, url := range outsideURLs {
		p := get(t, c1, url)
		if p.err != nil || p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("client 1 (restricted): GET %s = %s, want the notice page (200, text/html)", url, p)
			continue
		}
		for _, want := range []string{restrictedEN, text, untilUTC, untilISO, contact, network} {
			if !strings.Contains(p.body, want) {
				t.Errorf("client 1 (restricted): GET %s: the page does not say %q", url, want)
			}
		}
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("client 1 (restricted): GET %s: Cache-Control %q, want no-store", url, cc)
		}
	}

	// The bulletin: the gateway fetched the upstream's feed for the page.
	took, ok := waitUntil(10*time.Second, 100*time.Millisecond, func() bool {
		return strings.Contains(get(t, c1, outsideURLs[0]).body, lab.FeedHeadline)
	})
	if !ok {
		t.Errorf("client 1 (restricted): the page has no headline %q %v after restrict", lab.FeedHeadline, took)
	}

	for _, a := range gatewayDNS {
		st, at, ok := captive(t, c1, a)
		if !ok {
			continue
		}
		want := r.EndsAt.Sub(at).Seconds()
		switch {
		case !st.Captive:
			t.Errorf("client 1 (restricted) @%s: captive-portal API %+v, want captive: true", a, st)
		case st.SecondsRemaining == nil:
			t.Errorf("client 1 (restricted) @%s: captive-portal API without seconds-remaining", a)
		case float64(*st.SecondsRemaining) < want-2 || float64(*st.SecondsRemaining) > want+2:
			t.Errorf("client 1 (restricted) @%s: seconds-remaining %d, want %.0f ± 2", a, *st.SecondsRemaining, want)
		default:
			t.Logf("client 1 (restricted) @%s: captive, seconds-remaining %d (expected %.1f)", a, *st.SecondsRemaining, want)
		}
		if st, _, ok := captive(t, c2, a); ok && (st.Captive || st.SecondsRemaining != nil) {
			t.Errorf("client 2 (free) @%s: captive-portal API %+v, want captive: false", a, st)
		}
	}

	for _, up := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
		addr := net.JoinHostPort(up.String(), "443")
		res := c1.Connect(t.Context(), addr, probeTimeout)
		if res.Err == nil || res.Elapsed >= time.Second {
			t.Errorf("client 1 (restricted): HTTPS connect to %s = %s after %v, want it to fail in under a second", addr, res.Outcome(), res.Elapsed)
		} else {
			t.Logf("client 1 (restricted): HTTPS connect to %s failed in %v (%s)", addr, res.Elapsed, res.Outcome())
		}
		if res := c2.Connect(t.Context(), addr, probeTimeout); res.Err != nil {
			t.Errorf("client 2 (free): HTTPS connect to %s = %s, want connected", addr, res.Outcome())
		}
	}

	es := http.Header{"Accept-Language": {"es"}}
	for _, url := range []string{outsideURLs[0], outsideURLs[1], noticeURL(lab.LANV4, "/")} {
		p := fetch(t, c1, http.MethodGet, url, es)
		if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, restrictedES) || !strings.Contains(p.body, `lang="es"`) || !strings.Contains(p.body, untilUTC) {
			t.Errorf("client 1 (restricted): GET %s with Accept-Language: es = %s, want the page in Spanish (%q) with the expiry %s", url, p, restrictedES, untilUTC)
		}
	}

	// A walled garden: plain HTTP outside it gets the page, which lists
	// what is still reachable as links.
	for _, url := range []string{outsideURLs[2], outsideURLs[3]} {
		p := get(t, c3, url)
		until3 := pageTime(r3.EndsAt)
		link := `href="http://` + lab.NewsName
		if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, reachableEN) || !strings.Contains(p.body, link) || !strings.Contains(p.body, until3) {
			t.Errorf("client 3 (allowlist): GET %s = %s, want the notice page with the expiry %s and a link to %s under %q", url, p, until3, lab.NewsName, reachableEN)
		}
	}

	// Another client: the internet as usual, and a short page from the
	// gateway saying it is not restricted.
	checkReach(t, true, c2)
	for _, url := range []string{outsideURLs[0], outsideURLs[1]} {
		if p := get(t, c2, url); p.err != nil || !strings.HasPrefix(p.body, lab.Hello) {
			t.Errorf("client 2 (free): GET %s = %s, want the upstream's page", url, p)
		}
	}
	for _, a := range gatewayDNS {
		for _, url := range []string{lab.UpstreamURL(a, lab.HTTPPort, "/"), noticeURL(a, "/")} {
			p := get(t, c2, url)
			if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, freeEN) || strings.Contains(p.body, restrictedEN) || strings.Contains(p.body, text) {
				t.Errorf("client 2 (free): GET %s = %s, want the %q page", url, p, freeEN)
			}
			if p := fetch(t, c2, http.MethodGet, url, es); p.err != nil || !strings.Contains(p.body, freeES) {
				t.Errorf("client 2 (free): GET %s with Accept-Language: es = %s, want %q", url, p, freeES)
			}
		}
	}
}

// TestNoticePortalURL checks a gateway with notice.portal_url: a cut-off
// client's plain HTTP to an outside site is redirected there (302), which
// is how operating systems detect a portal; the page is served at the
// portal; other methods get 511; the RFC 8908 API announces the URL. A
// blocklist client that opens a blocked site by name lands on the portal
// too, and browses other sites as usual.
func TestNoticePortalURL(t *testing.T) {
	t.Parallel()
	portal := noticeURL(lab.LANV4, "/")
	g := newGatewayWith(t, lab.Config{Notice: lab.Notice{PortalURL: portal}})
	c1, c3 := g.Clients[0], g.Clients[2]
	online(t, c1, c3)
	r := g.restrictWith(device(c1), "--notice", "integration: portal")
	r3 := g.restrictWith(device(c3), "--mode", "blocklist", "--block", lab.SocialName)

	for _, url := range outsideURLs {
		p := get(t, c1, url)
		if p.err != nil || p.status != http.StatusFound || p.header.Get("Location") != portal {
			t.Errorf("client 1 (restricted): GET %s = %s, Location %q; want 302 to %s", url, p, p.header.Get("Location"), portal)
		}
		if p := fetch(t, c1, http.MethodPost, url, nil); p.err != nil || p.status != http.StatusNetworkAuthenticationRequired || !strings.Contains(p.body, restrictedEN) {
			t.Errorf("client 1 (restricted): POST %s = %s, want 511 with the notice page", url, p)
		}
	}
	p := get(t, c1, portal)
	until := pageTime(r.EndsAt)
	if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, restrictedEN) || !strings.Contains(p.body, until) {
		t.Errorf("client 1 (restricted): GET %s = %s, want the notice page with the expiry %s", portal, p, until)
	}
	if st, _, ok := captive(t, c1, lab.LANV4); ok && (!st.Captive || st.UserPortalURL != portal) {
		t.Errorf("client 1 (restricted): captive-portal API %+v, want captive with user-portal-url %s", st, portal)
	}

	// The blocklist client: the blocked site by name leads to the portal,
	// over IPv4 and IPv6; another site works.
	for _, q := range qtypes {
		a, ok := query(t, c3, "udp", lab.LANV4, lab.SocialName, q.qtype)
		if !ok || len(a.Addrs) != 1 || a.Addrs[0] != q.notice {
			t.Errorf("client 3 (blocklist): %s %s = %s, want the notice address %s", lab.SocialName, q.qtype, a, q.notice)
			continue
		}
		url := lab.UpstreamURL(a.Addrs[0], lab.HTTPPort, "/")
		p := fetch(t, c3, http.MethodGet, url, http.Header{"Host": {lab.SocialName}})
		if p.err != nil || p.status != http.StatusFound || p.header.Get("Location") != portal {
			t.Errorf("client 3 (blocklist): GET http://%s/ (at %s) = %s, Location %q; want 302 to %s", lab.SocialName, a.Addrs[0], p, p.header.Get("Location"), portal)
		}
	}
	p = get(t, c3, portal)
	until3 := pageTime(r3.EndsAt)
	if p.err != nil || p.status != http.StatusOK || !strings.Contains(p.body, restrictedEN) || !strings.Contains(p.body, until3) || !strings.Contains(p.body, blocklistEN) {
		t.Errorf("client 3 (blocklist): GET %s = %s, want the notice page saying %q with the expiry %s", portal, p, blocklistEN, until3)
	}
	checkReach(t, true, c3)
	if p := get(t, c3, lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, "/")); p.err != nil || !strings.HasPrefix(p.body, lab.Hello) {
		t.Errorf("client 3 (blocklist): GET another site over plain HTTP = %s, want the site's page", p)
	}
}

// pageTime is how the notice page writes t: on the gateway's clocks first
// (the lab's gateway is in this machine's zone), then its day.
func pageTime(t time.Time) string {
	return `<time datetime="` + t.UTC().Format(time.RFC3339) + `">` + t.In(config.LocalZone()).Format("15:04") + " ("
}
