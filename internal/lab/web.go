package lab

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Limits of the upstream's /stream page: a line every StreamInterval, for
// at most StreamLimit.
const (
	StreamInterval = 50 * time.Millisecond
	StreamLimit    = 60 * time.Second
)

// The upstream's RSS feed, for the notice page's bulletin: FeedPath on
// either web port, with one item whose title is FeedHeadline.
const (
	FeedPath     = "/feed.xml"
	FeedHeadline = "Lab news: the gateway fetched this headline"
)

// startWeb serves the upstream pages on HTTPPort and AltPort (v4 and v6)
// from listeners created inside the upstream namespace.
func (l *Lab) startWeb() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveHello)
	mux.HandleFunc("GET /stream", serveStream)
	mux.HandleFunc("GET "+FeedPath, serveFeed)
	for _, port := range []int{HTTPPort, AltPort} {
		ln, err := l.Upstream.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("listening in the upstream namespace: %w", err)
		}
		s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		l.web = append(l.web, s)
		go s.Serve(ln) // returns when Close closes s
	}
	return nil
}

// serveHello answers with Hello and the client's address.
func serveHello(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s, %s\n", Hello, host)
}

// serveStream sends a numbered line every StreamInterval until the client
// goes away, the server closes or StreamLimit has passed.
func serveStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(StreamInterval)
	defer tick.Stop()
	end := time.After(StreamLimit)
	for i := 1; ; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-end:
			return
		case <-tick.C:
		}
	}
}

// serveFeed answers with an RSS 2.0 feed of one item, FeedHeadline.
func serveFeed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Lab news</title><link>http://%s/</link><description>The lab upstream's news</description>
<item><title>%s</title><link>http://%s/</link><pubDate>%s</pubDate></item>
</channel></rss>
`, NewsName, FeedHeadline, NewsName, time.Now().UTC().Format(time.RFC1123Z))
}
