package notice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
)

// BulletinConfig configures a Bulletin. Feeds is required; the rest has
// defaults.
type BulletinConfig struct {
	// Feeds are the http or https URLs of the RSS and Atom feeds, shown in
	// this order.
	Feeds []string

	// Client fetches the feeds, through the gateway's own connection; nil
	// uses a client with no cookies and Timeout. Each fetch is also bounded
	// by Timeout through its context.
	Client *http.Client

	Interval time.Duration // between rounds of fetches; default 30 minutes
	Timeout  time.Duration // for one feed's fetch; default 20 seconds
	MaxBytes int64         // largest feed body read; default 2 MiB
	PerFeed  int           // headlines kept per feed; default 5

	// Logger receives fetch failures at Warn; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// A Feed is what the page shows of one configured feed.
type Feed struct {
	URL       string     // as configured
	Title     string     // the feed's own title, or its URL's host
	Headlines []Headline // newest first, at most BulletinConfig.PerFeed
	Fetched   time.Time  // when Headlines were fetched; zero if never
}

// A Headline is one item of a feed.
type Headline struct {
	Title     string
	Link      string    // absolute http or https URL, or empty
	Published time.Time // zero if the feed gave none
}

// A Bulletin fetches the configured feeds on a schedule and keeps the last
// good headlines of each. A feed that fails (unreachable, an HTTP error,
// too slow, too large, not a feed) keeps what it had, and the failure is
// logged; nothing the feeds do can break the page. Its methods are safe
// for concurrent use.
type Bulletin struct {
	cfg    BulletinConfig
	logger *slog.Logger
	now    func() time.Time
	urls   []*url.URL

	mu    sync.Mutex // guards feeds
	feeds []Feed     // one per cfg.Feeds, same order
}

const (
	defaultInterval = 30 * time.Minute
	defaultTimeout  = 20 * time.Second
	defaultMaxBytes = 2 << 20
	defaultPerFeed  = 5
	maxTitleRunes   = 200
)

// NewBulletin checks cfg and returns a Bulletin with no headlines yet; Run
// or Refresh fetches them.
func NewBulletin(cfg BulletinConfig) (*Bulletin, error) {
	b := &Bulletin{cfg: cfg, logger: cfg.Logger, now: cfg.Now}
	if b.logger == nil {
		b.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.cfg.Interval <= 0 {
		b.cfg.Interval = defaultInterval
	}
	if b.cfg.Timeout <= 0 {
		b.cfg.Timeout = defaultTimeout
	}
	if b.cfg.MaxBytes <= 0 {
		b.cfg.MaxBytes = defaultMaxBytes
	}
	if b.cfg.PerFeed <= 0 {
		b.cfg.PerFeed = defaultPerFeed
	}
	if b.cfg.Client == nil {
		b.cfg.Client = &http.Client{Timeout: b.cfg.Timeout}
	}
	if len(cfg.Feeds) == 0 {
		return nil, errors.New("checking bulletin: no feeds")
	}
	for _, f := range cfg.Feeds {
		u, err := url.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("parsing feed url %q: %w", f, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("checking feed url %q: want an absolute http or https URL", f)
		}
		b.urls = append(b.urls, u)
		b.feeds = append(b.feeds, Feed{URL: f, Title: u.Hostname()})
	}
	return b, nil
}

// Run fetches every feed at once and then every Interval, until ctx is
// done; then it returns ctx.Err() (and no other error: failures of feeds
// are logged). A fetch under way when ctx ends is abandoned.
func (b *Bulletin) Run(ctx context.Context) error {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		if err := b.Refresh(ctx); err != nil && ctx.Err() == nil {
			b.logger.WarnContext(ctx, "fetching feeds", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Refresh fetches every feed once, concurrently, and returns when all are
// done, with the failures joined (nil if every feed was fetched). A failed
// feed keeps its previous headlines.
func (b *Bulletin) Refresh(ctx context.Context) error {
	errs := make([]error, len(b.urls))
	var wg sync.WaitGroup
	for i, u := range b.urls {
		wg.Go(func() {
			f, err := b.fetch(ctx, u)
			if err != nil {
				errs[i] = fmt.Errorf("fetching feed %s: %w", u, err)
				return
			}
			b.mu.Lock()
			b.feeds[i] = f
			b.mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Feeds returns the feeds that have headlines, in configured order. The
// result is the caller's.
func (b *Bulletin) Feeds() []Feed {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Feed
	for _, f := range b.feeds {
		if len(f.Headlines) > 0 {
			f.Headlines = slices.Clone(f.Headlines)
			out = append(out, f)
		}
	}
	return out
}

func (b *Bulletin) fetch(ctx context.Context, u *url.URL) (Feed, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Feed{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "curfew-bulletin")
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		return Feed{}, err // already names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Feed{}, fmt.Errorf("checking response: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.cfg.MaxBytes+1))
	if err != nil {
		return Feed{}, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > b.cfg.MaxBytes {
		return Feed{}, fmt.Errorf("reading body: larger than %d bytes", b.cfg.MaxBytes)
	}
	parsed, err := gofeed.NewParser().ParseString(string(body))
	if err != nil {
		return Feed{}, fmt.Errorf("parsing feed: %w", err)
	}

	f := Feed{URL: u.String(), Title: clean(parsed.Title), Fetched: b.now()}
	if f.Title == "" {
		f.Title = u.Hostname()
	}
	for _, it := range parsed.Items {
		h := Headline{Title: clean(it.Title), Link: resolveLink(u, it.Link)}
		if h.Title == "" {
			continue
		}
		if it.PublishedParsed != nil {
			h.Published = *it.PublishedParsed
		} else if it.UpdatedParsed != nil {
			h.Published = *it.UpdatedParsed
		}
		f.Headlines = append(f.Headlines, h)
	}
	// Newest first; undated items keep the feed's order, after the dated.
	slices.SortStableFunc(f.Headlines, func(a, b Headline) int {
		switch {
		case a.Published.IsZero() && b.Published.IsZero():
			return 0
		case a.Published.IsZero():
			return 1
		case b.Published.IsZero():
			return -1
		}
		return cmp.Compare(b.Published.UnixNano(), a.Published.UnixNano())
	})
	if len(f.Headlines) > b.cfg.PerFeed {
		f.Headlines = f.Headlines[:b.cfg.PerFeed]
	}
	if len(f.Headlines) == 0 {
		return Feed{}, errors.New("parsing feed: no headlines")
	}
	return f, nil
}

// clean makes a feed's text one tidy line of bounded length. Markup stays
// text: the page escapes it.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if utf8.RuneCountInString(s) > maxTitleRunes {
		r := []rune(s)
		s = string(r[:maxTitleRunes-1]) + "…"
	}
	return s
}

// resolveLink makes an item's link absolute against the feed's URL and
// keeps it only if it is http or https.
func resolveLink(base *url.URL, link string) string {
	link = strings.TrimSpace(link)
	if link == "" {
		return ""
	}
	u, err := base.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}
