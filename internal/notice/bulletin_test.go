package notice_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/notice"
)

const rssFeed = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Radio Example</title>
<link>https://radio.example/</link>
<description>News</description>
<item><title>Older story</title><link>https://radio.example/older</link><pubDate>Sun, 01 Mar 2026 08:00:00 GMT</pubDate></item>
<item><title>Newest story &amp; more</title><link>/newest</link><pubDate>Mon, 02 Mar 2026 09:30:00 GMT</pubDate></item>
<item><title>Middle story</title><link>javascript:alert(1)</link><pubDate>Sun, 01 Mar 2026 20:00:00 GMT</pubDate></item>
<item><title>   </title><link>https://radio.example/untitled</link></item>
</channel></rss>`

const atomFeed = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Daily Example</title>
<id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
<updated>2026-03-02T10:00:00Z</updated>
<entry><title>Atom first</title><link href="https://daily.example/a1"/><id>urn:a1</id><updated>2026-03-02T10:00:00Z</updated></entry>
<entry><title>Atom second</title><link href="https://daily.example/a2"/><id>urn:a2</id><published>2026-03-01T10:00:00Z</published><updated>2026-03-01T11:00:00Z</updated></entry>
</feed>`

// feedServer serves the tests' feeds; /flaky serves RSS until failing is
// set, then 500.
type feedServer struct {
	*httptest.Server
	failing atomic.Bool
}

func newFeedServer(t *testing.T) *feedServer {
	t.Helper()
	fs := &feedServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, rssFeed)
	})
	mux.HandleFunc("/atom", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		io.WriteString(w, atomFeed)
	})
	mux.HandleFunc("/malformed", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Broken<item><title>x</ti`)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><html><body>Not a feed</body></html>`)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the client must give up
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>`)
		for range 2000 {
			io.WriteString(w, `<item><title>Padding padding padding padding</title></item>`)
		}
		io.WriteString(w, `</channel></rss>`)
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if fs.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, rssFeed)
	})
	mux.HandleFunc("/rich/{n}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, richRSS(r.PathValue("n"), 8))
	})
	fs.Server = httptest.NewServer(mux)
	t.Cleanup(fs.Close)
	return fs
}

// richRSS is a feed with long, realistic headlines, for the page size.
func richRSS(n string, items int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><rss version="2.0"><channel><title>Feed %s with a fairly long publication name</title>`, n)
	for i := range items {
		fmt.Fprintf(&b, `<item><title>Headline %d of feed %s: ministers meet again to discuss the regional agreement on water and power</title><link>https://news%s.example/2026/03/02/a-long-path-for-story-number-%d</link><pubDate>Mon, 02 Mar 2026 %02d:00:00 GMT</pubDate></item>`, i, n, n, i, i)
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

func richFeeds(t *testing.T, feeds, _ int) []string {
	fs := newFeedServer(t)
	var urls []string
	for i := range feeds {
		urls = append(urls, fmt.Sprintf("%s/rich/%d", fs.URL, i))
	}
	return urls
}

// deadURL is the URL of a port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/feed"
	ln.Close()
	return u
}

// testBulletin returns a Bulletin of urls that has refreshed once.
func testBulletin(t *testing.T, urls ...string) *notice.Bulletin {
	t.Helper()
	b, err := notice.NewBulletin(notice.BulletinConfig{
		Feeds: urls, Timeout: 500 * time.Millisecond, MaxBytes: 64 << 10,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("NewBulletin: %v", err)
	}
	b.Refresh(t.Context())
	return b
}

func TestBulletinFeeds(t *testing.T) {
	fs := newFeedServer(t)
	dead := deadURL(t)
	urls := []string{
		fs.URL + "/rss", fs.URL + "/malformed", fs.URL + "/atom", fs.URL + "/html",
		fs.URL + "/500", dead, fs.URL + "/slow", fs.URL + "/huge",
	}
	b, err := notice.NewBulletin(notice.BulletinConfig{
		Feeds: urls, Timeout: 300 * time.Millisecond, MaxBytes: 32 << 10, PerFeed: 2,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = b.Refresh(t.Context())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Refresh took %s; the slow feed must time out", took)
	}
	if err == nil {
		t.Fatal("Refresh = nil, want the failures of the bad feeds")
	}
	for _, bad := range []string{"/malformed", "/html", "/500", dead, "/slow", "/huge"} {
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("Refresh error does not name %s:\n%v", bad, err)
		}
	}
	for _, good := range []string{"/rss:", "/atom:"} {
		if strings.Contains(err.Error(), good) {
			t.Errorf("Refresh error names good feed %s:\n%v", good, err)
		}
	}
	if !strings.Contains(err.Error(), "500 Internal Server Error") || !strings.Contains(err.Error(), "larger than 32768 bytes") {
		t.Errorf("Refresh error does not say why:\n%v", err)
	}

	got := b.Feeds()
	if len(got) != 2 {
		t.Fatalf("Feeds() = %d feeds, want the RSS and Atom ones: %+v", len(got), got)
	}
	rss, atom := got[0], got[1]
	if rss.Title != "Radio Example" || atom.Title != "Daily Example" {
		t.Errorf("titles = %q, %q", rss.Title, atom.Title)
	}
	want := []notice.Headline{
		{Title: "Newest story & more", Link: fs.URL + "/newest", Published: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)},
		{Title: "Middle story", Link: "", Published: time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)},
	}
	if len(rss.Headlines) != len(want) {
		t.Fatalf("RSS headlines = %+v, want %+v", rss.Headlines, want)
	}
	for i := range want {
		h := rss.Headlines[i]
		if h.Title != want[i].Title || h.Link != want[i].Link || !h.Published.Equal(want[i].Published) {
			t.Errorf("RSS headline %d = %+v, want %+v", i, h, want[i])
		}
	}
	if len(atom.Headlines) != 2 || atom.Headlines[0].Title != "Atom first" || atom.Headlines[0].Link != "https://daily.example/a1" {
		t.Errorf("Atom headlines = %+v", atom.Headlines)
	}
	if !rss.Fetched.Equal(now) {
		t.Errorf("Fetched = %v, want %v", rss.Fetched, now)
	}
}

func TestBulletinKeepsLastGoodHeadlines(t *testing.T) {
	fs := newFeedServer(t)
	b := testBulletin(t, fs.URL+"/flaky")
	if got := b.Feeds(); len(got) != 1 || len(got[0].Headlines) == 0 {
		t.Fatalf("Feeds() after a good fetch = %+v", got)
	}
	fs.failing.Store(true)
	if err := b.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh of a failing feed = nil, want an error")
	}
	got := b.Feeds()
	if len(got) != 1 || len(got[0].Headlines) == 0 || got[0].Headlines[0].Title != "Newest story & more" {
		t.Errorf("Feeds() after a failed fetch = %+v, want the last good headlines", got)
	}
}

// TestPageWithBrokenFeeds checks that the page shows the good headlines
// whatever the other feeds do.
func TestPageWithBrokenFeeds(t *testing.T) {
	fs := newFeedServer(t)
	b := testBulletin(t, fs.URL+"/500", fs.URL+"/rss", deadURL(t), fs.URL+"/malformed", fs.URL+"/slow", fs.URL+"/atom")
	s := newServer(t, notice.Config{Bulletin: b})
	resp, body := request(t, s.Handler(), "GET", "http://notice.test/", cutClient)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	wantContains(t, body,
		"<h2 id=\"bulletin\">Headlines</h2>",
		"<h3>Radio Example</h3>",
		`<a href="`+fs.URL+`/newest">Newest story &amp; more</a>`,
		"<li>Middle story", // its javascript: link was dropped
		`<time datetime="2026-03-02T09:30:00Z">2026-03-02</time>`,
		"<h3>Daily Example</h3>",
		"Atom first",
	)
	wantLacks(t, body, "Broken", "javascript:", "upstream exploded")

	// The unrestricted page does not carry the bulletin.
	_, body = request(t, s.Handler(), "GET", "http://notice.test/", freeClient)
	wantLacks(t, body, "Radio Example")
}

func TestNewBulletinRejects(t *testing.T) {
	for _, feeds := range [][]string{nil, {"radio.example/rss"}, {"file:///etc/passwd"}, {"http://%zz"}} {
		if _, err := notice.NewBulletin(notice.BulletinConfig{Feeds: feeds}); err == nil {
			t.Errorf("NewBulletin(%q) = nil error, want one", feeds)
		}
	}
}

// roundTripper answers every request with rssFeed and counts them.
type roundTripper struct{ n atomic.Int32 }

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.n.Add(1)
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Request: r,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(rssFeed)),
	}, nil
}

// TestBulletinRun checks the schedule on a fake clock: one round at once,
// one per interval, and Run returning ctx's error when it is cancelled.
func TestBulletinRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &roundTripper{}
		b, err := notice.NewBulletin(notice.BulletinConfig{
			Feeds:    []string{"https://radio.example/rss", "https://daily.example/rss"},
			Client:   &http.Client{Transport: rt},
			Interval: 10 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()

		synctest.Wait()
		if got := rt.n.Load(); got != 2 {
			t.Errorf("fetches at start = %d, want 2", got)
		}
		if len(b.Feeds()) != 2 {
			t.Errorf("Feeds() after the first round = %d feeds, want 2", len(b.Feeds()))
		}
		time.Sleep(25 * time.Minute)
		synctest.Wait()
		if got := rt.n.Load(); got != 6 {
			t.Errorf("fetches after 25 minutes = %d, want 6", got)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
	})
}
