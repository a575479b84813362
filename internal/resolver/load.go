package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const (
	// MaxListBytes bounds one blocklist, file or download.
	MaxListBytes = 128 << 20
	// listFetchTimeout bounds one blocklist download.
	listFetchTimeout = time.Minute
)

// Reload reads every blocklist in Config.Blocklists into a new set and
// swaps it in for later queries, so lists can change without a restart
// (the daemon calls it after Start, and on SIGHUP or a timer). It returns
// a report for each list read.
//
// If a list cannot be read, the error names it and, if an earlier Reload
// succeeded, that set stays in force: a list server being down must not
// unblock everything. On the first Reload, whatever could be read is used.
func (r *Resolver) Reload(ctx context.Context) ([]ListReport, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	start := time.Now()
	b := newDomainSetBuilder()
	var reports []ListReport
	var errs []error
	for _, src := range r.cfg.Blocklists {
		rep, err := r.loadList(ctx, src, b.add)
		rep.Source = src
		reports = append(reports, rep)
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil && r.blocklist.Load() != nil {
		return reports, fmt.Errorf("reloading blocklists, keeping the previous ones: %w", err)
	}
	set := b.build()
	r.blocklist.Store(set)
	r.logger.InfoContext(ctx, "loaded blocklists", "lists", len(reports), "domains", set.Len(),
		"bytes", set.Bytes(), "duration", time.Since(start))
	if err != nil {
		return reports, fmt.Errorf("loading blocklists: %w", err)
	}
	return reports, nil
}

// loadList reads one list, a file name or an http(s) URL.
func (r *Resolver) loadList(ctx context.Context, src string, add func(string)) (ListReport, error) {
	var body io.ReadCloser
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		ctx, cancel := context.WithTimeout(ctx, listFetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return ListReport{}, fmt.Errorf("fetching blocklist %s: %w", src, err)
		}
		resp, err := r.cfg.HTTPClient.Do(req)
		if err != nil {
			return ListReport{}, fmt.Errorf("fetching blocklist: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return ListReport{}, fmt.Errorf("fetching blocklist %s: status %s", src, resp.Status)
		}
		body = resp.Body
	} else {
		f, err := os.Open(strings.TrimPrefix(src, "file://"))
		if err != nil {
			return ListReport{}, fmt.Errorf("opening blocklist: %w", err)
		}
		body = f
	}
	defer body.Close()
	rep, err := ParseList(&limitReader{r: body, left: MaxListBytes}, add)
	if err != nil {
		return rep, fmt.Errorf("reading blocklist %s: %w", src, err)
	}
	return rep, nil
}

var errListTooLarge = fmt.Errorf("list larger than %d bytes", MaxListBytes)

// A limitReader fails with errListTooLarge past left bytes, where
// io.LimitReader would end quietly with a truncated list. It reads one
// byte beyond left to tell the two apart.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return 0, errListTooLarge
	}
	l.left -= int64(n)
	return n, err
}
