package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/identify"
	"github.com/miekg/dns"
)

// Defaults for the sizes in Config.
const (
	DefaultCacheSize    = 32 << 20 // bytes
	DefaultQueryLogSize = 1000
)

// Config is what a Resolver needs. Only Listen is required to serve.
type Config struct {
	// Logger receives state changes at Info and per-query detail at Debug.
	// Nil discards.
	Logger *slog.Logger

	// Listen is where clients are served, each address on UDP and TCP.
	// Port 0 picks a free port, the same for UDP and TCP (see LocalAddrs).
	// Replies to a wildcard address leave with the kernel's choice of
	// source address, so give the gateway's own addresses.
	Listen []netip.AddrPort
	// Upstreams are asked in order, the last one that answered first.
	// With none, every name not answered locally gets SERVFAIL.
	Upstreams []netip.AddrPort

	// NoticeAddr4 and NoticeAddr6 are the notice server's addresses,
	// answered to A and AAAA queries for names a client's restriction
	// refuses. An invalid NoticeAddr6 makes AAAA queries answer no
	// records instead.
	NoticeAddr4 netip.Addr
	NoticeAddr6 netip.Addr

	// Identify places each client: which device it is, and whether it is
	// served at all (clients from outside the LAN get REFUSED). It is
	// called for every query, so it must answer from memory; its Wait is
	// called off the packet path for clients that may be restricted
	// devices the gateway cannot place yet. Nil places every client as
	// routed (identify.Func(nil)), leaving only the devices' addresses listed
	// in the Snapshot and ip: prefixes to match.
	Identify identify.Identifier

	// OnAllowed is called, before the answer is sent, for every A and AAAA
	// address answered to a client in allowlist mode, with the record's
	// TTL (at least 30 s), so the firewall can open exactly that
	// destination for that long before the client connects. mac is the
	// client device's, or nil for a client restricted only as an ip:
	// subject. Answers from the cache are reported on the goroutine
	// that reads the clients' UDP queries, so it must return quickly
	// when the destination is open already (the common case: the same
	// answer again); others are answered on their own goroutines. It
	// must be safe for concurrent use. Nil does nothing.
	OnAllowed func(mac net.HardwareAddr, addr netip.Addr, ttl time.Duration)

	// Seen is told of the LAN devices that ask the resolver: each
	// query's Client, if Identify placed it by MAC, at most once a
	// second (seenEvery) for each client address and UDP socket, so that
	// a flood costs one map lookup per query and no more. The daemon
	// passes identify.Table.Saw, which makes a device that does nothing
	// but ask for names a device seen. It must be safe for concurrent
	// use and quick. Nil does nothing.
	Seen func(identify.Client)

	// Metrics receives counts and latencies. Nil discards them.
	Metrics Metrics

	// QueryLogSize is how many recent queries QueryLog keeps; 0 means
	// DefaultQueryLogSize and a negative value keeps none.
	QueryLogSize int
	// CacheSize is how many bytes the cache's answers may take, counted
	// as their wire form and a fixed overhead each; 0 means
	// DefaultCacheSize. Answers expired less than a day ago are kept
	// while there is room, and given when no upstream answers (RFC 8767).
	CacheSize int

	// Blocklists are network-wide blocklists, files or http(s) URLs, read
	// by Reload (see ParseList for the formats).
	Blocklists []string
	// HTTPClient fetches blocklist URLs. Nil uses a client that gives up
	// after a minute. Each fetch is bounded by MaxListBytes either way.
	HTTPClient *http.Client

	// Now is the clock for TTLs and restriction ends. Nil is time.Now.
	Now func() time.Time
}

// A Resolver is curfew's filtering DNS resolver and an enforce.Backend.
// Its methods are safe for concurrent use.
type Resolver struct {
	cfg     Config
	logger  *slog.Logger
	now     func() time.Time
	metrics Metrics

	ident     identify.Identifier
	unplaced  *rule                     // for clients that may be restricted devices not placed yet
	policy    atomic.Pointer[policy]    // the compiled last Snapshot
	blocklist atomic.Pointer[domainSet] // network-wide; nil until Reload
	cache     *cache
	fwd       *forwarder
	chain     handler
	qlog      *queryLog

	reloadMu sync.Mutex // serializes Reload

	mu      sync.Mutex // guards the fields below
	started bool
	closed  bool
	ctx     context.Context // ends when the resolver is closed
	cancel  context.CancelFunc
	stop    func() bool // unregisters the Start context's AfterFunc
	udp     []*net.UDPConn
	tcp     []*dns.Server
	addrs   []netip.AddrPort
	wg      sync.WaitGroup // serving goroutines
}

var _ enforce.Backend = (*Resolver)(nil)

// New returns a Resolver for cfg. It does no I/O: Start serves, Reload
// reads the blocklists.
func New(cfg *Config) (*Resolver, error) {
	c := *cfg
	if c.NoticeAddr4.IsValid() && !c.NoticeAddr4.Unmap().Is4() {
		return nil, fmt.Errorf("%w: notice address %s is not IPv4", curfew.ErrInvalid, c.NoticeAddr4)
	}
	c.NoticeAddr4 = c.NoticeAddr4.Unmap()
	if c.NoticeAddr6.IsValid() && !c.NoticeAddr6.Is6() {
		return nil, fmt.Errorf("%w: notice address %s is not IPv6", curfew.ErrInvalid, c.NoticeAddr6)
	}
	for _, u := range c.Upstreams {
		if !u.IsValid() || u.Port() == 0 {
			return nil, fmt.Errorf("%w: upstream %s has no address and port", curfew.ErrInvalid, u)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.QueryLogSize == 0 {
		c.QueryLogSize = DefaultQueryLogSize
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: listFetchTimeout}
	}
	r := &Resolver{
		cfg:     c,
		logger:  c.Logger,
		now:     c.Now,
		metrics: c.Metrics,
		cache:   newCache(c.CacheSize),
		fwd:     newForwarder(c.Upstreams, c.Metrics),
		qlog:    newQueryLog(c.QueryLogSize),
	}
	r.fwd.store = func(k cacheKey, m *dns.Msg, wire []byte) *cacheEntry { return r.cache.putWire(k, m, wire, r.now()) }
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if r.ident = c.Identify; r.ident == nil {
		r.ident = identify.Func(nil)
	}
	r.unplaced = newUnplacedRule()
	r.policy.Store(compile(nil))
	r.chain = r.newChain()
	return r, nil
}

// Apply implements [enforce.Backend]. It swaps in the policy of s for
// every later query; it never fails and never blocks queries.
func (r *Resolver) Apply(ctx context.Context, s *curfew.Snapshot) error {
	p := compile(s)
	r.policy.Store(p)
	r.logger.DebugContext(ctx, "applied snapshot", "restricted_devices", len(s.Devices), "restricted_prefixes", len(s.Prefixes))
	return nil
}

// Lookup returns the strictest restriction that applies to queries from
// client now, and whether there is one. It is what the resolver itself
// consults, for diagnostics and tests; it does not wait for a client to
// be placed.
func (r *Resolver) Lookup(client netip.Addr) (curfew.Enforcement, bool) {
	var buf [maxRules]*rule
	rules, unplaced := r.policy.Load().Match(r.ident.Identify(client), r.now(), buf[:0])
	if unplaced {
		rules = append(rules, r.unplaced)
	}
	if len(rules) == 0 {
		return curfew.Enforcement{}, false
	}
	return strictest(rules).Enforcement, true
}

// rulesFor appends to out the rules that apply to c's queries at now. A
// client that may be a restricted device the gateway cannot place is
// answered as restricted.
func (r *Resolver) rulesFor(c identify.Client, now time.Time, out []*rule) []*rule {
	p := r.policy.Load()
	if p.Empty() {
		return out
	}
	rules, unplaced := p.Match(c, now, out)
	if unplaced {
		rules = append(rules, r.unplaced)
	}
	return rules
}

// place identifies the client of a query that came over UDP (tcp false)
// or TCP, waiting a moment (Identifier.Wait) for one on a LAN link that
// the gateway has not resolved yet. ok is false if the query must get no
// answer: it came from outside the LAN, or over UDP from a LAN address the
// gateway cannot reach. An answer to such an address would wait in the
// kernel for a neighbour that never answers, holding a share of the
// socket's send buffer for seconds; a flood of queries from made-up
// addresses would then hold up every answer. Over TCP the kernel has
// reached the client already, so an unplaced client is answered, as
// restricted if some device is.
// c is what Identify said of the client on the packet path, so that it is
// not asked twice.
func (r *Resolver) place(ctx context.Context, c identify.Client, tcp bool) (identify.Client, bool) {
	if c.Kind == identify.Unknown {
		c = r.ident.Wait(ctx, c.Addr)
	}
	switch c.Kind {
	case identify.Foreign:
		return c, false
	case identify.Unknown:
		return c, tcp
	}
	return c, true
}

// Start listens on every Config.Listen address, UDP and TCP, and serves
// until ctx ends or Close is called. It returns once listening, or the
// first error, in which case nothing is left listening.
func (r *Resolver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("starting resolver: closed")
	}
	if r.started {
		return errors.New("starting resolver: already started")
	}
	for _, ap := range r.cfg.Listen {
		if err := r.listen(ctx, ap); err != nil {
			r.closeLocked()
			return err
		}
	}
	r.started = true
	for _, c := range r.udp {
		r.wg.Go(func() { r.serveUDP(c) })
	}
	r.stop = context.AfterFunc(ctx, func() { _ = r.Close() })
	r.logger.InfoContext(ctx, "serving dns", "listen", r.addrs, "upstreams", r.cfg.Upstreams)
	return nil
}

// LocalAddrs returns the addresses being served, with the ports chosen for
// port 0, or nil before Start.
func (r *Resolver) LocalAddrs() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.AddrPort(nil), r.addrs...)
}

// Close implements [enforce.Backend]. It stops serving and waits for the
// queries in progress; the resolver cannot be started again. Calling it
// more than once is harmless.
func (r *Resolver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	if r.stop != nil {
		r.stop()
	}
	r.closeLocked()
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

func (r *Resolver) closeLocked() {
	r.closed = true
	r.cancel()
	r.fwd.close()
	for _, c := range r.udp {
		_ = c.Close()
	}
	for _, s := range r.tcp {
		_ = s.Shutdown()
	}
}
