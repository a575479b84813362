package notice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/identify"
)

var _ enforce.Backend = (*Server)(nil)

// Config configures a Server. Only Listen is needed to Start; everything
// else has a working zero value.
type Config struct {
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	// Listen is the TCP address Start listens on (the config's
	// notice.listen). It is unused by Serve, which takes a listener from
	// the caller (a TLS listener, say, or one a test opened on port 0).
	Listen netip.AddrPort

	// Identify places each client: which device it is. Nil places every
	// client as routed (identify.Func(nil)), so only the snapshot's
	// statically known device addresses identify devices. It must be safe
	// for concurrent use. A client that may be a restricted device but
	// cannot be placed even after Identifier.Wait is shown the page of an
	// unrestricted client: the firewall, which sees its MAC, enforces
	// whatever applies to it.
	Identify identify.Identifier

	// Contact is how a restricted person reaches the operator (an email
	// address, a phone number, a URL or a room); shown as given, and linked
	// when it is an email address or an http(s) URL. Empty shows a generic
	// sentence instead.
	Contact string

	// NetworkName is the name people know this network by ("Embassy
	// guest Wi-Fi"); empty says "this network".
	NetworkName string

	// PortalURL is the page's absolute http or https URL as LAN clients
	// reach it, e.g. "http://192.168.50.1:8480/": the target of the
	// redirect sent for other sites' requests and the user-portal-url of
	// the captive-portal API. Empty serves the page in place instead.
	PortalURL string

	// Zone is the time zone most of the network's people live in; the page
	// shows times in it (and always in UTC) until the person picks another.
	// Nil shows UTC until they pick.
	Zone *time.Location

	// Bulletin supplies the headlines the page shows; nil shows none. The
	// Server does not run or stop it.
	Bulletin *Bulletin

	// Appeal stores the question a restricted person asks the operators
	// from the page (POST /appeal) and returns it; the daemon sets it to
	// the engine's. It is called only for a restricted client, with every
	// restriction on it, and its errors of kind curfew.ErrInvalid,
	// curfew.ErrForbidden and curfew.ErrRateLimited are shown to the person.
	// Nil offers no form.
	Appeal func(ctx context.Context, req curfew.AppealRequest) (*curfew.Appeal, error)

	// Appeals returns the appeals a filter selects, oldest first; the page
	// of a restricted client shows its own (curfew.AppealFilter.From is
	// always set), with their answers, since its restriction began. Nil
	// shows none; an error is logged and the page shown without them.
	Appeals func(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error)

	// TLSCert and TLSKey name the PEM files of a certificate (with its
	// chain) and its private key, the config's notice.tls_cert and
	// notice.tls_key; both or neither. With them the server answers TLS
	// as well as plain HTTP on its one listener (a connection whose first
	// byte starts a TLS handshake is served over TLS), so that the
	// captive-portal API can be announced with an https URI (RFC 8908)
	// while the firewall keeps sending plain HTTP to the same port. The
	// files are read by New, again by ReloadCert, and whenever they
	// change (checked every CertInterval).
	TLSCert, TLSKey string

	// CertInterval is how often the certificate files are checked for a
	// change; zero means DefaultCertInterval.
	CertInterval time.Duration

	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// A Server is the notice page and captive-portal API, and an
// [enforce.Backend] fed with the same Snapshots as the firewall and the
// resolver. Create it with New; its methods are safe for concurrent use.
type Server struct {
	cfg        Config
	logger     *slog.Logger
	now        func() time.Time
	portalHost string // host name of cfg.PortalURL, lower case, no port
	handler    http.Handler
	ident      identify.Identifier
	policy     atomic.Pointer[policy]
	certs      *certs        // nil without TLS
	done       chan struct{} // closed by Close

	mu     sync.Mutex   // guards the fields below
	srv    *http.Server // the server of Serve or Start; nil before
	closed bool
}

// New validates cfg and returns a Server that serves nothing until Serve or
// Start, and considers every client unrestricted until the first Apply.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, logger: cfg.Logger, now: cfg.Now, ident: cfg.Identify, done: make(chan struct{})}
	if s.ident == nil {
		s.ident = identify.Func(nil)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.PortalURL != "" {
		u, err := url.Parse(cfg.PortalURL)
		if err != nil {
			return nil, fmt.Errorf("parsing portal url %q: %w", cfg.PortalURL, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return nil, fmt.Errorf("checking portal url %q: want an absolute http or https URL", cfg.PortalURL)
		}
		s.portalHost = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	}
	switch {
	case cfg.TLSCert != "" && cfg.TLSKey != "":
		c, err := newCerts(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		s.certs = c
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return nil, errors.New("checking TLS configuration: want both a certificate and a key file, or neither")
	}
	if s.cfg.CertInterval <= 0 {
		s.cfg.CertInterval = DefaultCertInterval
	}
	s.policy.Store(compile(nil))

	// A third-party page a restricted person opens must not post appeals
	// in their name: browsers say where a form was posted from, and only
	// the page itself may post one.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))

	mux := http.NewServeMux()
	mux.Handle("POST /appeal", cop.Handler(http.HandlerFunc(s.appeal)))
	mux.HandleFunc("GET /captive-portal/api", s.captive)
	mux.HandleFunc("GET /favicon.ico", s.notFound)
	mux.HandleFunc("/", s.page)
	s.handler = mux
	return s, nil
}

// Apply implements [enforce.Backend]. It replaces the Snapshot requests are
// answered from; it never fails and never blocks a request. A nil Snapshot
// is the zero one.
func (s *Server) Apply(ctx context.Context, snap *curfew.Snapshot) error {
	s.policy.Store(compile(snap))
	if snap != nil {
		s.logger.DebugContext(ctx, "applied snapshot",
			"restricted_devices", len(snap.Devices), "restricted_prefixes", len(snap.Prefixes))
	}
	return nil
}

// Handler returns the handler Serve uses, for tests and for a caller that
// runs its own http.Server. It answers every path and Host (see the package
// documentation).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTP on ln until Close, and then returns nil; any other
// error of ln is returned. Serve takes ownership of ln. It may be called
// once per Server; use it rather than Start on a listener the daemon
// opened itself. With Config.TLSCert, it answers TLS on ln as well, and
// checks the certificate files for a change until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed || s.srv != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("serving notice: server closed or already serving")
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	srv := s.srv
	s.mu.Unlock()

	if s.certs != nil {
		ln = newSniffListener(ln, &tls.Config{
			GetCertificate: s.certs.get,
			MinVersion:     tls.VersionTLS12,
		}, srv.ReadHeaderTimeout)
		go s.watchCert()
	}
	s.logger.Info("serving notice", "addr", ln.Addr().String(), "tls", s.certs != nil)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving notice on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Start listens on Config.Listen and serves in a new goroutine, which ends
// at Close. It returns once the listener is open, so a bad address fails
// here; a later failure of the listener is logged.
func (s *Server) Start() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("starting notice server: closed")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("listening for notice on %s: %w", s.cfg.Listen, err)
	}
	go func() {
		if err := s.Serve(ln); err != nil {
			s.logger.Error("notice server stopped", "err", err)
		}
	}()
	return nil
}

// Close implements [enforce.Backend]. It stops the HTTP server, closing its
// listener and open connections, and forgets every restriction. Calling it
// again does nothing. It does not stop Config.Bulletin.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy.Store(compile(nil))
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if s.srv == nil {
		return nil
	}
	if err := s.srv.Close(); err != nil {
		return fmt.Errorf("closing notice server: %w", err)
	}
	return nil
}

// client returns what restricts the client of r, or nil.
func (s *Server) client(r *http.Request, now time.Time) *curfew.Enforcement {
	return s.visit(r, now).e
}

// A visit is the client of one request as the gateway placed it, and what
// restricts it.
type visit struct {
	client identify.Client
	found  []*curfew.Enforcement // every target that applies to the client
	e      *curfew.Enforcement   // found combined; nil if the client is not restricted
}

// visit places the client of r and finds what restricts it at now.
func (s *Server) visit(r *http.Request, now time.Time) visit {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return visit{}
	}
	p := s.policy.Load()
	if p.Empty() {
		return visit{client: identify.Client{Addr: ap.Addr().Unmap().WithZone("")}}
	}
	var buf [4]*curfew.Enforcement
	c := s.ident.Identify(ap.Addr())
	found, unplaced := p.Match(c, now, buf[:0])
	if unplaced {
		// A TCP client has just been answered by the kernel, which
		// therefore resolved its address: give the event a moment.
		c = s.ident.Wait(r.Context(), ap.Addr())
		found, _ = p.Match(c, now, buf[:0])
	}
	return visit{client: c, found: found, e: combine(found, now)}
}

// forPortal reports whether r was addressed to the portal itself rather
// than redirected here from another site: its Host is the portal URL's
// host, or the address the connection arrived on, or missing.
func (s *Server) forPortal(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" || (s.portalHost != "" && host == s.portalHost) {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lap, err := netip.ParseAddrPort(la.String())
	return err == nil && lap.Addr().Unmap() == a.Unmap()
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	http.NotFound(w, r)
}

// ReloadCert reads the certificate and key files again (the daemon calls
// it on SIGHUP), whether or not they seem to have changed. If they cannot
// be read, or do not match, the server keeps the certificate it has and
// the error is returned. Without Config.TLSCert it does nothing.
func (s *Server) ReloadCert() error {
	if s.certs == nil {
		return nil
	}
	if _, err := s.certs.reload(true); err != nil {
		return err
	}
	s.logger.Info("read TLS certificate", "cert", s.cfg.TLSCert)
	return nil
}

// watchCert reads the certificate again whenever its files change,
// checking every Config.CertInterval, until Close.
func (s *Server) watchCert() {
	t := time.NewTicker(s.cfg.CertInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			switch changed, err := s.certs.reload(false); {
			case err != nil:
				s.logger.Error("reading changed TLS certificate; keeping the current one", "err", err)
			case changed:
				s.logger.Info("read changed TLS certificate", "cert", s.cfg.TLSCert)
			}
		}
	}
}
