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

// The upstream's /download page sends ?bytes=N bytes (DownloadSize if
// not given), at most DownloadLimit: a file whose download time shows a
// throttle.
const (
	DownloadSize  = 1_250_000 // 5 s at 2 Mbit/s
	DownloadLimit = 64 << 20
)

// startWeb serves the upstream pages on HTTPPort and AltPort (v4 and v6)
// from listeners created inside the upstream namespace.
func (l *Lab) startWeb() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveHello)
	mux.HandleFunc("GET /stream", serveStream)
	mux.HandleFunc("GET /download", serveDownload)
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

// serveDownload sends the number of bytes the query asks for.
func serveDownload(w http.ResponseWriter, r *http.Request) {
	n := int64(DownloadSize)
	if q := r.URL.Query().Get("bytes"); q != "" {
		v, err := strconv.ParseInt(q, 10, 64)
		if err != nil || v < 1 || v > DownloadLimit {
			http.Error(w, fmt.Sprintf("bytes=%q: want a number from 1 to %d", q, DownloadLimit), http.StatusBadRequest)
			return
		}
		n = v
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	chunk := make([]byte, 32<<10)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
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
