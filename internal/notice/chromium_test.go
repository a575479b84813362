package notice_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/curfew/curfew/internal/browsertest"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/notice"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write ../../docs/notice.png from TestChromium")

// TestChromium renders the notice for a restricted client in headless
// Chromium: the page is served on 127.0.0.1 and the neighbour table maps
// 127.0.0.1 to a restricted MAC. It checks the text a person sees, that the
// page fits a 320 px screen, and with -update-screenshot writes the PNG the
// README shows.
func TestChromium(t *testing.T) {
	path := browsertest.Path(t)

	fs := newFeedServer(t)
	b := testBulletin(t, fs.URL+"/rss", fs.URL+"/atom", fs.URL+"/500")
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	s, err := notice.New(notice.Config{
		Now:         func() time.Time { return now },
		NetworkName: "Embassy guest Wi-Fi",
		Contact:     "it-desk@embassy.example",
		Zone:        madrid,
		Bulletin:    b,
		Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) {
			return cutMAC, a == netip.MustParseAddr("127.0.0.1")
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(t.Context(), snapshot())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	pageURL := "http://" + ln.Addr().String() + "/"

	ctx := chromiumContext(t, path)

	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(pageURL))
	if err != nil {
		t.Fatalf("opening the page in chromium: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Errorf("chromium got status %d, want 200", resp.Status)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("reading the page text: %v", err)
	}
	for _, want := range []string{
		"Internet access restricted",
		"The operator of Embassy guest Wi-Fi has restricted this device's internet access on purpose.",
		"Access is paused while the council reviews the incident of 1 March.",
		"21:00 (Tuesday 3 March)\nEurope/Madrid (UTC+01:00) · 20:00 UTC",
		"1 day 2 hours",
		"it-desk@embassy.example",
		"Newest story & more",
		"Atom first",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("visible text lacks %q; it is:\n%s", want, text)
		}
	}

	// At 320 px nothing may overflow sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(320, 640, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= 320`))
	if err != nil {
		t.Fatal(err)
	}
	if !fits {
		width, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("page is %d px wide on a 320 px screen", width)
	}

	// The same in Spanish, chosen with the language link.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(800, 900), chromedp.Click(chromedp.CSS(`a[hreflang="es"]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang="es"] h1`))); err != nil {
		t.Fatalf("switching to Spanish: %v", err)
	}
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if h1 != "Acceso a internet restringido" {
		t.Errorf("Spanish heading = %q", h1)
	}

	if !*updateScreenshot {
		return
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL), chromedp.EmulateViewport(720, 900, chromedp.EmulateScale(1))); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking the screenshot: %v", err)
	}
	if err := os.WriteFile("../../docs/notice.png", png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/notice.png (%d bytes)", len(png))
}

// chromiumContext starts a headless Chromium for the test, with a fresh
// profile, and returns a context for chromedp that ends with the test or
// after 90 seconds.
func chromiumContext(t *testing.T, path string) context.Context {
	t.Helper()
	allocCtx := browsertest.Allocator(t, path, 800, 900)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestChromiumAppeal sends an appeal with the page's form in headless
// Chromium: the message reaches the engine and the page shows it as text.
// A page of another origin that posts the same form gets 403, and nothing
// is stored.
func TestChromiumAppeal(t *testing.T) {
	path := browsertest.Path(t)
	f := newAppealFixture(t, notice.Config{
		PortalURL: "http://127.0.0.1/", // not this port: the page must work where it is served
		Identify: identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) {
			return cutMAC, a == netip.MustParseAddr("127.0.0.1")
		}),
	})
	f.restrict(t, "device:"+cutMAC.String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.srv.Serve(ln)
	pageURL := "http://" + ln.Addr().String() + "/"
	ctx := chromiumContext(t, path)

	const msg = "<script>document.title='pwned'</script> ¿Hasta cuándo?"
	err = chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.SendKeys(chromedp.CSS("#message"), msg),
		chromedp.Click(chromedp.CSS(`form.ask button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".note.ok")),
	)
	if err != nil {
		t.Fatalf("sending the form in chromium: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".appeal blockquote")))
	if err != nil {
		t.Fatal(err)
	}
	if shown != msg {
		t.Errorf("the page shows the message as %q, want %q", shown, msg)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	if err != nil || title == "pwned" {
		t.Errorf("document.title = %q, %v: the message ran as script", title, err)
	}
	if as := f.appeals(t); len(as) != 1 || as[0].Message != msg {
		t.Fatalf("Appeals() = %v, want the message alone", as)
	}

	// Another origin (the same address, another port) posts the form.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%sappeal"><input name="message" value="forged"></form>`+
			`<script>document.getElementById("f").submit()</script>`, pageURL)
	}))
	t.Cleanup(evil.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatalf("opening the other origin's page: %v", err)
	}
	_, ok := waitFor(10*time.Second, func() bool {
		u, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		return err == nil && strings.HasPrefix(u, pageURL)
	})
	if !ok {
		t.Fatal("the other origin's form was not posted")
	}
	if as := f.appeals(t); len(as) != 1 {
		t.Errorf("Appeals() = %d appeals after the forged post, want 1", len(as))
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "cross-origin request refused") {
		t.Errorf("the forged post got a page without %q", "cross-origin request refused")
	}
}

// waitFor polls cond every 50 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
