package notice_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce/enforcetest"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/notice"
)

var (
	now = time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)

	cutMAC   = mustMAC("02:00:00:00:00:01") // cut off, found through Identify
	allowMAC = mustMAC("02:00:00:00:00:02") // walled garden, static address

	cutClient   = "192.168.50.10:51000"
	allowClient = "192.168.50.20:51000"
	prefClient  = "[2001:db8:7::5]:51000" // inside a blocklisted ip: prefix
	freeClient  = "192.168.50.99:51000"
)

const noticeText = "Access is paused while the council reviews the incident of 1 March.\nYour organisation's mail keeps working."

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// snapshot restricts three clients in the three modes.
func snapshot() *curfew.Snapshot {
	return &curfew.Snapshot{
		At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: cutMAC, Enforcement: curfew.Enforcement{
				Reach: curfew.ReachCutoff, Since: now.Add(-2 * time.Hour),
				Until: now.Add(26 * time.Hour), RestrictedUntil: now.Add(26 * time.Hour),
				Restrictions: []curfew.RestrictionID{1}, Notice: noticeText,
			}},
			{MAC: allowMAC, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.20")}, Enforcement: curfew.Enforcement{
				Reach: curfew.ReachAllowlist, Since: now.Add(-time.Hour),
				Until: now.Add(3 * time.Hour), RestrictedUntil: now.Add(3 * time.Hour),
				Restrictions:  []curfew.RestrictionID{2},
				AllowNames:    []string{"mail.example.org", "wikipedia.org"},
				AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")},
			}},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("2001:db8:7::/64"), Enforcement: curfew.Enforcement{
				Reach: curfew.ReachBlocklist, Since: now.Add(-time.Hour),
				Until: now.Add(45 * time.Minute), RestrictedUntil: now.Add(45 * time.Minute),
				Restrictions: []curfew.RestrictionID{3}, BlockNames: []string{"video.example"},
			}},
		},
	}
}

// neighbors is the daemon's neighbour table as the tests see it.
func neighbors(a netip.Addr) (net.HardwareAddr, bool) {
	if a == netip.MustParseAddr("192.168.50.10") {
		return cutMAC, true
	}
	return nil, false
}

// newServer returns a server with cfg's fields, filled in with test
// defaults, that has applied snapshot().
func newServer(t *testing.T, cfg notice.Config) *notice.Server {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	if cfg.Identify == nil {
		cfg.Identify = identify.Func(neighbors)
	}
	if cfg.PortalURL == "" {
		cfg.PortalURL = "http://notice.test/"
	}
	if cfg.NetworkName == "" {
		cfg.NetworkName = "Embassy guest Wi-Fi"
	}
	if cfg.Contact == "" {
		cfg.Contact = "it-desk@embassy.example"
	}
	s, err := notice.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Apply(t.Context(), snapshot()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// request sends one request to h from remote and returns the response
// with its body read.
func request(t *testing.T, h http.Handler, method, target, remote string, header ...string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func wantLacks(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("page contains %q, want it absent", s)
		}
	}
}

func TestRestrictedPage(t *testing.T) {
	s := newServer(t, notice.Config{})
	resp, body := request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Cache-Control":    "no-store",
		"Content-Type":     "text/html; charset=utf-8",
		"Content-Language": "en",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	wantContains(t, body,
		`<html lang="en" dir="ltr">`,
		"<h1>Internet access restricted</h1>",
		"The operator of Embassy guest Wi-Fi has restricted this device&#39;s internet access on purpose.",
		"Access is paused while the council reviews the incident of 1 March.",
		`<time datetime="2026-03-02T16:00:00Z">16:00 (Monday 2 March)</time><span class="local">UTC</span>`,  // since
		`<time datetime="2026-03-03T20:00:00Z">20:00 (Tuesday 3 March)</time><span class="local">UTC</span>`, // until
		"1 day 2 hours",
		"Until then this device cannot reach the internet.",
		`<a href="mailto:it-desk@embassy.example">it-desk@embassy.example</a>`,
	)
	wantLacks(t, body, "<script", "Still reachable", "Headlines")
}

func TestPageTimeZone(t *testing.T) {
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, notice.Config{Zone: madrid})

	_, body := request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	// The gateway's zone first, then UTC.
	wantContains(t, body,
		`<time datetime="2026-03-03T20:00:00Z">21:00 (Tuesday 3 March)</time><span class="local">Europe/Madrid (UTC&#43;01:00) · 20:00 UTC</span>`,
		`<option value="Europe/Madrid" selected>`,
	)
	// In the page's language.
	_, body = request(t, s.Handler(), "GET", "http://notice.test/", cutClient, "Accept-Language", "es")
	wantContains(t, body, `21:00 (martes 3 de marzo)</time><span class="local">Europe/Madrid (UTC&#43;01:00) · 20:00 UTC</span>`)
	// A zone where it is already the next day: UTC's day is named too.
	_, body = request(t, s.Handler(), "GET", "http://notice.test/?tz=Asia/Tokyo", cutClient, "Cookie", "curfew_tz=UTC")
	wantContains(t, body, `05:00 (Wednesday 4 March)</time><span class="local">Asia/Tokyo (UTC&#43;09:00) · 20:00 UTC (Tuesday 3 March)</span>`)

	resp, body := request(t, s.Handler(), "GET", "http://notice.test/?tz=America/Mexico_City", cutClient)
	wantContains(t, body, `14:00 (Tuesday 3 March)</time><span class="local">America/Mexico City (UTC−06:00) · 20:00 UTC</span>`)
	wantLacks(t, body, "Europe/Madrid (UTC&#43;01:00)</span>")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "curfew_tz" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "America/Mexico_City" {
		t.Fatalf("cookies = %v, want curfew_tz=America/Mexico_City", resp.Cookies())
	}

	// The cookie keeps the choice on the next visit.
	_, body = request(t, s.Handler(), "GET", "http://notice.test/", cutClient, "Cookie", cookie.String())
	wantContains(t, body, "14:00 (Tuesday 3 March)</time><span class=\"local\">America/Mexico City (UTC−06:00)")

	// UTC alone, and a zone name that is not one, show only UTC.
	for _, q := range []string{"UTC", "Local", "../../etc/passwd", "Mars/Olympus_Mons"} {
		_, body = request(t, s.Handler(), "GET", "http://notice.test/?tz="+q, cutClient, "Cookie", "curfew_tz=UTC")
		wantContains(t, body, `20:00 (Tuesday 3 March)</time><span class="local">UTC</span>`)
		wantLacks(t, body, "· 20:00 UTC")
	}
}

func TestPageLanguage(t *testing.T) {
	s := newServer(t, notice.Config{})
	tests := []struct {
		name, header, query string
		want                string
	}{
		{"none", "", "", "en"},
		{"spanish", "es", "", "es"},
		{"regional spanish", "es-AR,es;q=0.9", "", "es"},
		{"qualities prefer spanish", "en;q=0.4, es;q=0.9", "", "es"},
		{"qualities prefer english", "es;q=0.1, en", "", "en"},
		{"unknown falls back", "fr-FR, de;q=0.5", "", "en"},
		{"parameter wins", "en", "?lang=es", "es"},
		{"unknown parameter ignored", "es", "?lang=xx", "es"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := request(t, s.Handler(), "GET", "http://notice.test/"+tt.query, cutClient, "Accept-Language", tt.header)
			if got := resp.Header.Get("Content-Language"); got != tt.want {
				t.Errorf("Content-Language = %q, want %q", got, tt.want)
			}
			wantContains(t, body, `<html lang="`+tt.want+`"`)
		})
	}

	_, body := request(t, s.Handler(), "GET", "http://notice.test/", cutClient, "Accept-Language", "es")
	wantContains(t, body,
		"<h1>Acceso a internet restringido</h1>",
		"El operador de Embassy guest Wi-Fi ha restringido a propósito",
		"1 día 2 horas",
		"Hasta entonces este dispositivo no puede acceder a internet.",
		"Mensaje del operador",
		`<a href="/?lang=en" hreflang="en" lang="en">English</a>`,
	)
}

func TestUnrestrictedPage(t *testing.T) {
	s := newServer(t, notice.Config{})
	for _, target := range []string{"http://notice.test/", "http://example.com/some/page"} {
		resp, body := request(t, s.Handler(), "GET", target, freeClient)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status = %d, want 200", target, resp.StatusCode)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		wantContains(t, body, "<h1>Not restricted</h1>", "is not restricted")
		wantLacks(t, body, "Internet access restricted", noticeText[:20])
	}
	_, body := request(t, s.Handler(), "GET", "http://notice.test/", freeClient, "Accept-Language", "es")
	wantContains(t, body, "<h1>Sin restricción</h1>")
}

// TestRedirectedRequests checks what a restricted client gets when the
// firewall sends its request for another site here.
func TestRedirectedRequests(t *testing.T) {
	s := newServer(t, notice.Config{})
	resp, _ := request(t, s.Handler(), "GET", "http://connectivitycheck.example/generate_204", cutClient)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://notice.test/" {
		t.Errorf("GET other site = %d to %q, want 302 to the portal", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("redirect Cache-Control = %q, want no-store", got)
	}

	resp, body := request(t, s.Handler(), "POST", "http://api.example/v1/upload", cutClient)
	if resp.StatusCode != http.StatusNetworkAuthenticationRequired {
		t.Errorf("POST other site = %d, want 511", resp.StatusCode)
	}
	wantContains(t, body, "Internet access restricted")

	// The portal's own address, as an IP literal with a port, is not
	// another site.
	resp, _ = request(t, s.Handler(), "GET", "http://NOTICE.test:80/whatever", cutClient)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET portal host in capitals with a port = %d, want 200", resp.StatusCode)
	}

	// Without a portal URL the page is served in place.
	s2, err := notice.New(notice.Config{Now: func() time.Time { return now }, Identify: identify.Func(neighbors)})
	if err != nil {
		t.Fatal(err)
	}
	s2.Apply(t.Context(), snapshot())
	resp, body = request(t, s2.Handler(), "GET", "http://example.com/", cutClient)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET other site without portal URL = %d, want 200", resp.StatusCode)
	}
	wantContains(t, body, noticeText[:30])

	resp, body = request(t, s.Handler(), "HEAD", "http://notice.test/", cutClient)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD = %d with %d bytes, want 200 with none", resp.StatusCode, len(body))
	}
}

func TestAllowlistLinks(t *testing.T) {
	s := newServer(t, notice.Config{})
	_, body := request(t, s.Handler(), "GET", "http://notice.test/", allowClient)
	wantContains(t, body,
		"Still reachable",
		`<a href="https://mail.example.org/">mail.example.org</a>`,
		`<a href="https://wikipedia.org/">wikipedia.org</a>`,
		"<li>10.20.0.0/16</li>",
		"Until then this device can reach only the services listed below.",
		"3 hours",
	)
	_, body = request(t, s.Handler(), "GET", "http://notice.test/", prefClient)
	wantContains(t, body, "Until then some services are blocked for this device", "45 minutes")
	wantLacks(t, body, "Still reachable")
}

func TestPageEscapesOperatorText(t *testing.T) {
	s, err := notice.New(notice.Config{
		Now:         func() time.Time { return now },
		Identify:    identify.Func(neighbors),
		NetworkName: `Lobby"><script>alert(1)</script>`,
		Contact:     "javascript:alert(2)",
	})
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot()
	snap.Devices[0].Notice = `</blockquote><script>alert(3)</script><img src=x onerror="alert(4)"> & more`
	snap.Devices[1].AllowNames = []string{`"><script>alert(5)</script>`, "javascript:alert(6)"}
	s.Apply(t.Context(), snap)
	for _, client := range []string{cutClient, allowClient} {
		_, body := request(t, s.Handler(), "GET", "http://notice.test/", client)
		wantLacks(t, body, "<script", "<img", `href="javascript`, "onerror=\"")
	}
	_, body := request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	wantContains(t, body,
		"&lt;/blockquote&gt;&lt;script&gt;alert(3)&lt;/script&gt;",
		"&amp; more",
		"<strong>javascript:alert(2)</strong>",
	)
}

func TestPageSize(t *testing.T) {
	b := testBulletin(t, richFeeds(t, 3, 5)...)
	s := newServer(t, notice.Config{Bulletin: b})
	snap := snapshot()
	snap.Devices[1].Notice = strings.Repeat("A long explanation of the measure. ", 20)
	for i := range 10 {
		snap.Devices[1].AllowNames = append(snap.Devices[1].AllowNames, strings.Repeat("x", 20)+string(rune('a'+i))+".example.org")
	}
	s.Apply(t.Context(), snap)
	_, body := request(t, s.Handler(), "GET", "http://notice.test/?tz=Asia/Tokyo", allowClient, "Accept-Language", "es")
	if len(body) >= 20<<10 {
		t.Errorf("page is %d bytes, want under 20 KiB", len(body))
	}
	wantContains(t, body, "Titulares", "Headline 3 of feed 2")
	t.Logf("page with 15 headlines and 13 allowed entries: %d bytes", len(body))
}

func TestCaptiveAPI(t *testing.T) {
	clock := now
	s := newServer(t, notice.Config{Now: func() time.Time { return clock }})
	tests := []struct {
		name   string
		client string
		at     time.Time
		want   string
	}{
		{"cut off", cutClient, now, `{"captive":true,"user-portal-url":"http://notice.test/","seconds-remaining":93600}`},
		{"rounds up", cutClient, now.Add(90*time.Second + 500*time.Millisecond), `{"captive":true,"user-portal-url":"http://notice.test/","seconds-remaining":93510}`},
		{"walled garden", allowClient, now, `{"captive":true,"user-portal-url":"http://notice.test/","seconds-remaining":10800}`},
		{"ip prefix", prefClient, now, `{"captive":true,"user-portal-url":"http://notice.test/","seconds-remaining":2700}`},
		{"not restricted", freeClient, now, `{"captive":false}`},
		{"over though no new snapshot came", prefClient, now.Add(45 * time.Minute), `{"captive":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = tt.at
			resp, body := request(t, s.Handler(), "GET", "http://notice.test/captive-portal/api", tt.client)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/captive+json" {
				t.Errorf("Content-Type = %q, want application/captive+json", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := strings.TrimSpace(body); got != tt.want {
				t.Errorf("body = %s, want %s", got, tt.want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
		})
	}
}

func TestApplyReplacesAndCloseForgets(t *testing.T) {
	s := newServer(t, notice.Config{})
	api := "http://notice.test/captive-portal/api"
	if _, body := request(t, s.Handler(), "GET", api, cutClient); !strings.Contains(body, `"captive":true`) {
		t.Fatalf("before lift: %s", body)
	}
	s.Apply(t.Context(), &curfew.Snapshot{At: now})
	if _, body := request(t, s.Handler(), "GET", api, cutClient); !strings.Contains(body, `"captive":false`) {
		t.Errorf("after the zero snapshot: %s, want captive false", body)
	}
	s.Apply(t.Context(), snapshot())
	s.Close()
	if _, body := request(t, s.Handler(), "GET", api, cutClient); !strings.Contains(body, `"captive":false`) {
		t.Errorf("after Close: %s, want captive false", body)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestNewRejectsBadPortalURL(t *testing.T) {
	for _, u := range []string{"notice.test", "ftp://notice.test/", "http://", "http://[::1"} {
		if _, err := notice.New(notice.Config{PortalURL: u}); err == nil {
			t.Errorf("New(PortalURL %q) = nil error, want one", u)
		}
	}
}

// TestServe runs the real server on loopback: a request addressed to the
// address the connection arrived on is for the portal even when the portal
// URL names another host.
func TestServe(t *testing.T) {
	s := newServer(t, notice.Config{
		Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) { return cutMAC, a.IsLoopback() }),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET own address = %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	req.Host = "example.com"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("GET with another Host = %d, want 302", resp.StatusCode)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // find a free port
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	s := newServer(t, notice.Config{Listen: addr})
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	resp, err := http.Get("http://" + addr.String() + "/captive-portal/api")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != `{"captive":false}` {
		t.Errorf("captive API from loopback = %s, want captive false", b)
	}
	s.Close()
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded, want an error")
	}
}

// TestConformance runs the backend suite, observing the server through its
// captive-portal API: a device is found by the neighbour table, an ip:
// prefix by the client's address.
func TestConformance(t *testing.T) {
	enforcetest.Run(t, func(t *testing.T) *enforcetest.Harness {
		byAddr := map[netip.Addr]net.HardwareAddr{}
		s, err := notice.New(notice.Config{Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) {
			m, ok := byAddr[a]
			return m, ok
		})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ask := func(a netip.Addr) (time.Time, bool, error) {
			r := httptest.NewRequest("GET", "http://notice.test/captive-portal/api", nil)
			r.RemoteAddr = netip.AddrPortFrom(a, 40000).String()
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			var st struct {
				Captive bool  `json:"captive"`
				Seconds int64 `json:"seconds-remaining"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
				return time.Time{}, false, err
			}
			return time.Now().Add(time.Duration(st.Seconds) * time.Second), st.Captive, nil
		}
		return &enforcetest.Harness{
			Backend: s,
			LookupMAC: func(_ context.Context, mac net.HardwareAddr) (time.Time, bool, error) {
				a := netip.AddrFrom4([4]byte{172, 31, 0, mac[5]})
				byAddr[a] = mac
				return ask(a)
			},
			LookupAddr: func(_ context.Context, a netip.Addr) (time.Time, bool, error) { return ask(a) },
			Slack:      2 * time.Second,
		}
	})
}

// TestOverlappingRules checks a client restricted through its device and an
// ip: prefix at once: the strictest mode shows, and the restriction lasts
// until the last rule ends; a mode that eases before the end says when.
func TestOverlappingRules(t *testing.T) {
	s := newServer(t, notice.Config{})
	snap := snapshot()
	snap.Devices[0].Enforcement.RestrictedUntil = now.Add(50 * time.Hour) // cut off for 26 h, then blocklisted
	snap.Prefixes = append(snap.Prefixes, curfew.PrefixRule{
		Prefix: netip.MustParsePrefix("192.168.50.0/28"),
		Enforcement: curfew.Enforcement{
			Reach: curfew.ReachBlocklist, Since: now.Add(-72 * time.Hour),
			Until: now.Add(60 * time.Hour), RestrictedUntil: now.Add(60 * time.Hour),
			Restrictions: []curfew.RestrictionID{9}, BlockNames: []string{"video.example"},
		},
	})
	s.Apply(t.Context(), snap)
	_, body := request(t, s.Handler(), "GET", "http://notice.test/captive-portal/api", cutClient)
	if want := `"seconds-remaining":216000`; !strings.Contains(body, want) {
		t.Errorf("captive API = %s, want %s (the prefix rule ends last)", body, want)
	}
	_, body = request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	wantContains(t, body,
		"Until then this device cannot reach the internet.", // the device's cut-off is stricter
		"<dt>Since</dt>\n<dd><time datetime=\"2026-02-27T18:00:00Z\">",
		"<dt>At the current level until</dt>\n<dd><time datetime=\"2026-03-03T20:00:00Z\">",
		"06:00 (Thursday 5 March)", // until, 60 h on
		"2 days 12 hours",
	)
}

// TestThrottledPage checks what a throttled person is told: that their
// connection is slowed to the rate until the throttle ends, not that they
// are cut off; and that the captive-portal API does not call a throttled
// client captive, while a blocklisted and throttled one is both.
func TestThrottledPage(t *testing.T) {
	slowMAC, bothMAC := mustMAC("02:00:00:00:00:03"), mustMAC("02:00:00:00:00:04")
	const slowClient, bothClient = "192.168.50.30:51000", "[fd00:50::40]:51000"
	s := newServer(t, notice.Config{})
	snap := snapshot()
	snap.Devices = append(snap.Devices,
		&curfew.DeviceRule{MAC: slowMAC, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.30")}, Enforcement: curfew.Enforcement{
			Reach: curfew.ReachOpen, Rate: 2_000_000, RateUntil: now.Add(4 * time.Hour),
			Since: now.Add(-time.Hour), RestrictedUntil: now.Add(4 * time.Hour), Restrictions: []curfew.RestrictionID{5},
		}},
		&curfew.DeviceRule{MAC: bothMAC, Addrs: []netip.Addr{netip.MustParseAddr("fd00:50::40")}, Enforcement: curfew.Enforcement{
			Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour), ReachUntil: now.Add(time.Hour), BlockNames: []string{"games.example"},
			Rate: 512_000, RateUntil: now.Add(3 * time.Hour),
			Since: now.Add(-time.Hour), RestrictedUntil: now.Add(3 * time.Hour), Restrictions: []curfew.RestrictionID{6, 7},
		}},
	)
	s.Apply(t.Context(), snap)

	_, body := request(t, s.Handler(), "GET", "http://notice.test/", slowClient)
	wantContains(t, body,
		"Until then this device can reach the whole internet, but its connection is slowed.",
		"Its connection is slowed to 2 Mbit/s in each direction.",
		`<time datetime="2026-03-02T22:00:00Z">22:00 (Monday 2 March)</time>`, // until
	)
	wantLacks(t, body, "cannot reach the internet", "some services are blocked", "At the current level until")

	_, body = request(t, s.Handler(), "GET", "http://notice.test/", bothClient)
	wantContains(t, body,
		"Until then some services are blocked for this device; the rest of the internet works.",
		"Its connection is slowed to 512 kbit/s in each direction.",
		`<time datetime="2026-03-02T21:00:00Z">21:00 (Monday 2 March)</time>`, // until
		`<time datetime="2026-03-02T19:00:00Z">19:00 (Monday 2 March)</time>`, // the blocklist eases
	)

	_, body = request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	wantLacks(t, body, "slowed")

	for client, want := range map[string]string{
		slowClient: `{"captive":false}`,
		bothClient: `{"captive":true,"user-portal-url":"http://notice.test/","seconds-remaining":3600}`, // until the blocklist ends
	} {
		if _, body := request(t, s.Handler(), "GET", "http://notice.test/captive-portal/api", client); strings.TrimSpace(body) != want {
			t.Errorf("captive-portal API for %s = %s, want %s", client, strings.TrimSpace(body), want)
		}
	}
}
