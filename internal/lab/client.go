package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A Client is one of the lab's client machines on br-lan.
type Client struct {
	*Netns
	Index int // 1, 2, 3
	MAC   net.HardwareAddr
	V4    netip.Addr
	V6    netip.Addr
}

// UpstreamURL returns the URL of path on the upstream web server at addr
// and port, such as http://[2001:db8:100::10]:8080/stream.
func UpstreamURL(addr netip.Addr, port int, path string) string {
	host := net.JoinHostPort(addr.String(), strconv.Itoa(port))
	if port == HTTPPort {
		host = addr.String()
		if addr.Is6() {
			host = "[" + host + "]"
		}
	}
	return "http://" + host + path
}

// A Result is the outcome of a connection attempt or request from a
// client.
type Result struct {
	Elapsed time.Duration // from the start of the attempt to its outcome
	Status  int           // HTTP status; 0 without an answer
	Body    string        // the answer's body, at most 64 KiB
	Err     error         // nil if connected (and, for Get, answered)
}

// Refused reports whether the attempt was refused with a TCP reset.
func (r Result) Refused() bool { return errors.Is(r.Err, syscall.ECONNREFUSED) }

// TimedOut reports whether the attempt ran out of time.
func (r Result) TimedOut() bool {
	return errors.Is(r.Err, context.DeadlineExceeded) || errors.Is(r.Err, os.ErrDeadlineExceeded)
}

// Reached reports whether a Get got the upstream's page.
func (r Result) Reached() bool {
	return r.Err == nil && r.Status == http.StatusOK && strings.HasPrefix(r.Body, Hello)
}

// Outcome describes r in a few words for a human: "ok", "refused (reset)",
// "timed out", or the error.
func (r Result) Outcome() string {
	switch {
	case r.Reached():
		return "ok"
	case r.Refused():
		return "refused (TCP reset)"
	case r.TimedOut():
		return "timed out"
	case r.Err != nil:
		return r.Err.Error()
	case r.Status != 0:
		return fmt.Sprintf("HTTP %d, not the upstream page", r.Status)
	}
	return "connected"
}

// Connect opens a TCP connection from c to addr (host:port) and closes it
// again, waiting at most timeout.
func (c *Client) Connect(ctx context.Context, addr string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := c.Dial(ctx, "tcp", addr)
	r := Result{Elapsed: time.Since(start), Err: err}
	if conn != nil {
		conn.Close()
	}
	return r
}

// httpClient returns an HTTP client whose connections start in c, are not
// reused and last at most timeout.
func (c *Client) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       c.Dial,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Get fetches url from c, waiting at most timeout.
func (c *Client) Get(ctx context.Context, url string, timeout time.Duration) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{Err: err}
	}
	resp, err := c.httpClient(timeout).Do(req)
	if err != nil {
		return Result{Elapsed: time.Since(start), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return Result{Elapsed: time.Since(start), Status: resp.StatusCode, Body: string(b), Err: err}
}

// A Transfer is a download a client made.
type Transfer struct {
	// Bytes are those of the body after its first read, which Elapsed
	// runs from, to the end: neither connecting nor the request counts.
	Bytes   int64
	Elapsed time.Duration
}

// Rate returns the transfer's rate in bits per second.
func (t Transfer) Rate() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Bytes*8) / t.Elapsed.Seconds()
}

// Download fetches url from c, reading the whole body (at most
// DownloadLimit bytes) within timeout, and times it.
func (c *Client) Download(ctx context.Context, url string, timeout time.Duration) (Transfer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Transfer{}, err
	}
	resp, err := c.httpClient(timeout).Do(req)
	if err != nil {
		return Transfer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Transfer{}, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body := io.LimitReader(resp.Body, DownloadLimit)
	buf := make([]byte, 64<<10)
	if _, err := io.ReadAtLeast(body, buf, 1); err != nil {
		return Transfer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	first := time.Now()
	rest, err := io.CopyBuffer(io.Discard, body, buf)
	t := Transfer{Bytes: rest, Elapsed: time.Since(first)}
	if err != nil {
		return t, fmt.Errorf("GET %s: after %d bytes: %w", url, t.Bytes, err)
	}
	return t, nil
}

// A Stream is an open /stream connection from a client, read in the
// background.
type Stream struct {
	body io.Closer

	started chan struct{} // closed when the first line arrives
	done    chan struct{} // closed when reading stops

	mu    sync.Mutex // guards the fields below
	lines int
	last  time.Time // when the last line arrived
	err   error     // why reading stopped; nil while it goes on
	ended time.Time // when reading stopped
}

// OpenStream requests /stream on the upstream at url from c and returns
// once the first line has arrived, or fails after timeout.
func (c *Client) OpenStream(ctx context.Context, url string, timeout time.Duration) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	hc := c.httpClient(0)
	hc.Transport.(*http.Transport).ResponseHeaderTimeout = timeout
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("opening stream %s: HTTP %d", url, resp.StatusCode)
	}
	s := &Stream{body: resp.Body, started: make(chan struct{}), done: make(chan struct{})}
	go s.read(resp.Body)
	select {
	case <-s.done:
		_, _, err := s.State()
		return nil, fmt.Errorf("opening stream %s: %w", url, err)
	case <-time.After(timeout):
		s.Close()
		return nil, fmt.Errorf("opening stream %s: no line within %v", url, timeout)
	case <-s.started:
		return s, nil
	}
}

// read counts lines until the body fails or ends; it returns then.
func (s *Stream) read(body io.Reader) {
	br := bufio.NewReader(body)
	for {
		_, err := br.ReadString('\n')
		now := time.Now()
		s.mu.Lock()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.err, s.ended = err, now
			s.mu.Unlock()
			close(s.done)
			return
		}
		s.lines++
		s.last = now
		n := s.lines
		s.mu.Unlock()
		if n == 1 {
			close(s.started)
		}
	}
}

// State returns the number of lines received, when the last one arrived
// and, once reading stopped, why (nil while it goes on).
func (s *Stream) State() (lines int, last time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines, s.last, s.err
}

// Done returns a channel closed when reading has stopped.
func (s *Stream) Done() <-chan struct{} { return s.done }

// WaitStopped waits, at most until deadline, for the stream to stop: for
// reading to fail, or for quiet to pass with no new line. It returns when
// the last line arrived (or reading failed, if later) and whether the
// stream did stop.
func (s *Stream) WaitStopped(quiet time.Duration, deadline time.Time) (stoppedAt time.Time, stopped bool) {
	for {
		_, last, err := s.State()
		if err != nil {
			s.mu.Lock()
			ended := s.ended
			s.mu.Unlock()
			return ended, true
		}
		now := time.Now()
		if now.Sub(last) >= quiet {
			return last, true
		}
		if now.After(deadline) {
			return time.Time{}, false
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }
