package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/notice"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/curfew/curfew/internal/shaper"
	"github.com/curfew/curfew/internal/web"
)

// runDaemon runs `curfew daemon --config FILE` until SIGINT or SIGTERM.
func runDaemon(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "/etc/curfew/curfew.yaml", "configuration `FILE`")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, stdout, stderr, "daemon", "[--config FILE]", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "daemon", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError(stderr, "daemon", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Log.Level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon(ctx, cfg, config.SystemMachine(), logger); err != nil {
		if se := (*stateError)(nil); errors.As(err, &se) {
			fmt.Fprintf(stderr, "curfew: daemon: %v\n", err) // several lines, for a human to act on
			return 1
		}
		if se := (*setupError)(nil); errors.As(err, &se) {
			fmt.Fprintln(stderr, errorLine("daemon", fmt.Errorf("config %s: %w", *path, err)))
			return 1
		}
		logger.Error("daemon stopped", "err", err)
		return 1
	}
	return 0
}

// daemon wires the parts together and runs until ctx is done: the config,
// settled on machine, gives the store, the store and the enforcers
// give the engine, the engine and the store's operators give the API.
//
// On the way out it leaves the nftables table in place, so the kernel keeps
// enforcing (and ending on time) every restriction while the daemon is
// down; the next start reconciles it.
func daemon(ctx context.Context, cfg *config.Config, machine config.Machine, logger *slog.Logger) error {
	// First, before anything touches the kernel: a state directory that
	// is refused, or a configuration the machine cannot honour, leaves the
	// nftables table as the last run left it.
	db, auditKey, err := openState(ctx, cfg.StateDir, logger.With("component", "sqlite"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := settle(cfg, machine); err != nil {
		return err
	}
	if cfg.DNS.SystemResolvers {
		logger.Info("forwarding to the system's resolvers", "upstreams", cfg.DNS.Upstreams)
	}

	memLimit := setMemoryLimit(cfg)

	started := time.Now()
	nft, err := netfilter.New(&netfilter.Config{
		Logger:        logger.With("component", "netfilter"),
		LANInterfaces: cfg.LAN.Interfaces,
		DNS4:          cfg.DNS.Listen,
		DNS6:          on6(cfg, cfg.DNS.Listen.Port()),
		Notice4:       cfg.Notice.Listen,
		Notice6:       on6(cfg, cfg.Notice.Listen.Port()),
		DoHFile:       cfg.DNS.DoHList,
	})
	if err != nil && cfg.DNS.DoHList != "" && strings.Contains(err.Error(), cfg.DNS.DoHList) {
		why := strings.TrimPrefix(strings.TrimPrefix(errorLine("", err), "curfew: "), "netfilter: DoH endpoint list ")
		return &setupError{msg: fmt.Sprintf("dns.doh_list: %s; fix the line or remove the key to use the list curfew carries", why)}
	}
	if err != nil {
		return err
	}
	nf := &checkedFirewall{Backend: nft}

	ident, err := identify.New(&identify.Config{
		Logger:     logger.With("component", "identify"),
		Interfaces: cfg.LAN.Interfaces,
		Routed:     cfg.DNS.AllowFrom,
		Leases:     cfg.LAN.DHCPLeases,
	})
	if err != nil {
		return err
	}
	defer ident.Close()
	if a := cfg.API.Listen.Addr(); !cfg.API.AllowLAN && ident.OnLAN(a) {
		return fmt.Errorf("api.listen %s is on a LAN interface, so controlled clients could reach the admin API; use a management address such as %s, or set api.allow_lan: true",
			cfg.API.Listen, config.DefaultAPIListen)
	}

	m := newMetrics()
	m.upstreams = newUpstreamLog(cfg.DNS.Upstreams)
	res, err := resolver.New(&resolver.Config{
		Logger:      logger.With("component", "resolver"),
		Listen:      dnsListen(cfg),
		Upstreams:   cfg.DNS.Upstreams,
		NoticeAddr4: cfg.LAN.Address,
		NoticeAddr6: cfg.LAN.Address6,
		Identify:    ident,
		Seen:        ident.Saw,
		OnAllowed: func(mac net.HardwareAddr, addr netip.Addr, ttl time.Duration) {
			if mac == nil {
				return // an ip: subject: allowlists bind to devices
			}
			if err := nf.AllowDestination(mac, addr, ttl); err != nil {
				logger.Error("opening an allowed destination", "mac", mac.String(), "addr", addr, "err", err)
			}
		},
		Metrics:    m.resolver(),
		Blocklists: cfg.DNS.Blocklists,
		CacheSize:  int(cfg.DNS.CacheSize),
	})
	if err != nil {
		return err
	}
	if err := res.Start(ctx); err != nil {
		return fmt.Errorf("starting the resolver: %w", err)
	}
	defer res.Close()
	reloadBlocklists(ctx, res, logger)

	var bulletin *notice.Bulletin
	if len(cfg.Notice.Feeds) > 0 {
		bulletin, err = notice.NewBulletin(notice.BulletinConfig{
			Feeds:    cfg.Notice.Feeds,
			Interval: cfg.Notice.FeedInterval,
			Logger:   logger.With("component", "bulletin"),
		})
		if err != nil {
			return err
		}
		go bulletin.Run(ctx) // returns when ctx is done
	}
	// The notice servers store appeals through the engine, which is built
	// after them, as it enforces through them. They call it only for a
	// restricted client, which they know of only from an engine's apply.
	var eng *engine.Engine
	// The firewall comes first: it is what the kernel keeps enforcing if
	// the daemon dies.
	// Throttles are the kernel's too, in their own table and qdiscs, also
	// left in place on the way out.
	shp, err := shaper.New(&shaper.Config{
		Logger:        logger.With("component", "shaper"),
		LANInterfaces: cfg.LAN.Interfaces,
		WANInterfaces: cfg.WAN.Interfaces,
	})
	if err != nil {
		return err
	}
	backends := []enforce.Backend{nf, shp, res}
	q, err := netfilter.NewQuarantine(&netfilter.QuarantineConfig{
		Logger:        logger.With("component", "quarantine"),
		LANInterfaces: cfg.LAN.Interfaces,
		DNS4:          cfg.DNS.Listen,
		DNS6:          on6(cfg, cfg.DNS.Listen.Port()),
		Notice4:       cfg.Notice.Listen,
		Notice6:       on6(cfg, cfg.Notice.Listen.Port()),
	})
	if err != nil {
		return err
	}
	if cfg.LAN.Quarantine {
		// Left in place when the daemon stops, as the restrictions'
		// table is: unknown devices stay out while it is down.
		backends = append([]enforce.Backend{q}, backends...)
	} else if err := q.Close(); err != nil {
		// A quarantine table of an earlier configuration would keep
		// every unregistered device out.
		return fmt.Errorf("removing the quarantine table: %w", err)
	}
	// The schedules' windows, which the kernel opens and closes by itself
	// while the daemon is down; left in place when it stops.
	windows, err := netfilter.NewWindows(&netfilter.WindowsConfig{
		Logger:        logger.With("component", "windows"),
		LANInterfaces: cfg.LAN.Interfaces,
	})
	if err != nil {
		return err
	}
	// Right after the restrictions' table: when a window opens, the
	// daemon adds it there before taking it from the kernel's windows.
	i := slices.Index(backends, enforce.Backend(nf))
	backends = slices.Insert(backends, i+1, enforce.Backend(windows))
	var pages []*notice.Server
	for _, listen := range []netip.AddrPort{cfg.Notice.Listen, on6(cfg, cfg.Notice.Listen.Port())} {
		if !listen.IsValid() {
			continue
		}
		page, err := notice.New(notice.Config{
			Logger:      logger.With("component", "notice"),
			Listen:      listen,
			Identify:    ident,
			Contact:     cfg.Notice.Contact,
			NetworkName: cfg.Notice.NetworkName,
			PortalURL:   cfg.Notice.PortalURL,
			Zone:        cfg.Notice.TimeZone,
			Bulletin:    bulletin,
			TLSCert:     cfg.Notice.TLSCert,
			TLSKey:      cfg.Notice.TLSKey,
			Appeal: func(ctx context.Context, req curfew.AppealRequest) (*curfew.Appeal, error) {
				return eng.Appeal(ctx, req)
			},
			Appeals: func(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error) {
				return eng.ClientAppeals(ctx, f)
			},
		})
		if err != nil {
			if cfg.Notice.TLSCert != "" {
				return fmt.Errorf("notice.tls_cert, notice.tls_key: %w (give the PEM files of a certificate and its key, or leave both out)", err)
			}
			return err
		}
		pages = append(pages, page)
		if err := page.Start(); err != nil {
			return fmt.Errorf("starting the notice server on %s: %w", listen, err)
		}
		defer page.Close()
		backends = append(backends, page)
	}

	eng, err = engine.New(&engine.Config{
		Store:        db,
		Backends:     backends,
		Logger:       logger.With("component", "engine"),
		Metrics:      m,
		GatewayAddrs: gatewayAddrs(cfg),
		Approvals:    cfg.Approvals,
		Learned:      ident.Learned,
		// Schedules added without --tz take the gateway's timezone.
		Zone: cfg.Location(),

		AuditKey:          auditKey,
		ConfigDigest:      cfg.Digest,
		PublishCheckpoint: checkpointPublisher(cfg),
		Quarantine:        cfg.LAN.Quarantine,
	})
	if err != nil {
		return err
	}
	defer eng.Close()

	acc, err := access.New(&access.Config{Store: db, Logger: logger.With("component", "access")})
	if err != nil {
		return err
	}
	defer acc.Close()
	go acc.Run(ctx) // returns when ctx is done or at acc.Close

	apiHandler, err := api.NewHandler(&api.HandlerConfig{
		Service:    eng,
		Auth:       acc,
		Accounts:   acc,
		Logger:     logger.With("component", "api"),
		Metrics:    promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}),
		DNS:        dnsLog{res},
		Quarantine: cfg.LAN.Quarantine,
		TimeZone:   cfg.Location(),
	})
	if err != nil {
		return err
	}
	console, err := web.New(&web.Config{
		Service:  eng,
		Accounts: acc,
		Login:    acc,
		Logger:   logger.With("component", "web"),
		Zone:     cfg.Location(),
		Health:   consoleHealth(started, nf, res, m.upstreams),
	})
	if err != nil {
		return err
	}
	// The API (bearer tokens only) under /api/v1/ and /metrics; the
	// console (sessions) everywhere else.
	handler := http.NewServeMux()
	handler.Handle("/api/", apiHandler)
	handler.Handle("/metrics", apiHandler)
	handler.Handle("/", console)
	ln, err := net.Listen("tcp", cfg.API.Listen.String())
	if err != nil {
		return fmt.Errorf("listening for the API: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("curfew daemon started", "api", ln.Addr().String(), "console", "http://"+ln.Addr().String()+"/", "lan_interfaces", cfg.LAN.Interfaces, "state_dir", cfg.StateDir, "memory_limit", memLimit)

	runErr := make(chan error, 1)
	go func() { runErr <- eng.Run(ctx) }()
	go recordSeen(ctx, ident, eng, logger) // returns when ctx is done

	// SIGHUP reloads the network-wide blocklists and the notice server's
	// certificate.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadBlocklists(ctx, res, logger)
				for _, p := range pages {
					if err := p.ReloadCert(); err != nil {
						logger.ErrorContext(ctx, "reading TLS certificate; keeping the current one", "err", err)
					}
				}
			}
		}
	}()

	var err2 error
	select {
	case err2 = <-runErr:
	case err := <-serveErr:
		err2 = fmt.Errorf("serving the API: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutting down the API", "err", err)
	}
	if err2 == nil {
		logger.Info("curfew daemon stopped; the kernel keeps enforcing until restart")
	}
	return err2
}

// setMemoryLimit sets the daemon's soft memory limit and returns it:
// memory_limit, or, if the file does not set it, the default for the
// cache size unless the environment's GOMEMLIMIT set one already.
func setMemoryLimit(cfg *config.Config) int64 {
	if cfg.MemoryLimit == 0 && os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	n := cfg.MemoryLimitOrDefault()
	debug.SetMemoryLimit(n)
	return n
}

// recordSeen hands what the identify table saw on the LAN to the engine
// every second, until ctx is done.
func recordSeen(ctx context.Context, ident *identify.Table, eng *engine.Engine, logger *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ss, dropped := ident.Sightings()
		if err := eng.RecordSeen(ctx, ss, dropped); err != nil && ctx.Err() == nil {
			logger.Error("recording the devices seen on the LAN", "err", err)
		}
	}
}

// dnsListen returns the resolver's addresses: dns.listen, and the same
// port on lan.address6 if it is set.
func dnsListen(cfg *config.Config) []netip.AddrPort {
	l := []netip.AddrPort{cfg.DNS.Listen}
	if a := on6(cfg, cfg.DNS.Listen.Port()); a.IsValid() {
		l = append(l, a)
	}
	return l
}

// on6 returns port on lan.address6, or the zero AddrPort if no IPv6
// address is configured.
func on6(cfg *config.Config, port uint16) netip.AddrPort {
	if !cfg.LAN.Address6.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(cfg.LAN.Address6, port)
}

// gatewayAddrs returns a function that lists the gateway's own addresses:
// those on its interfaces at the time of the call, and lan.address and
// lan.address6, which may not be up yet.
func gatewayAddrs(cfg *config.Config) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		ifAddrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("listing interface addresses: %w", err)
		}
		addrs := []netip.Addr{cfg.LAN.Address}
		if cfg.LAN.Address6.IsValid() {
			addrs = append(addrs, cfg.LAN.Address6)
		}
		for _, a := range ifAddrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					addrs = append(addrs, ip.Unmap())
				}
			}
		}
		return addrs, nil
	}
}

// reloadBlocklists reads the network-wide blocklists and logs what could
// not be parsed; a list that cannot be read keeps the previous ones.
func reloadBlocklists(ctx context.Context, res *resolver.Resolver, logger *slog.Logger) {
	reports, err := res.Reload(ctx)
	for _, r := range reports {
		logger.InfoContext(ctx, "read blocklist", "source", r.Source, "lines", r.Lines, "domains", r.Domains,
			"ignored", r.Ignored, "unsupported", r.Unsupported, "invalid", r.Invalid)
		for _, p := range r.Samples {
			logger.WarnContext(ctx, "blocklist line not used", "source", r.Source, "line", p.Line, "text", p.Text, "why", p.Reason)
		}
	}
	if err != nil {
		logger.ErrorContext(ctx, "loading blocklists", "err", err)
	}
}

// dnsLog presents the resolver's query log to the API.
type dnsLog struct{ r *resolver.Resolver }

var _ api.DNSLog = dnsLog{}

// Queries implements [api.DNSLog].
func (l dnsLog) Queries() []curfew.DNSQuery {
	entries := l.r.QueryLog()
	out := make([]curfew.DNSQuery, 0, len(entries))
	for _, e := range entries {
		out = append(out, curfew.DNSQuery{At: e.Time, Client: e.Client, Name: e.Name, Type: e.Type,
			Result: e.Result.String(), Rcode: e.Rcode, Duration: e.Duration})
	}
	return out
}

// Clients implements [api.DNSLog].
func (l dnsLog) Clients() []curfew.DNSClient {
	stats := l.r.Clients()
	out := make([]curfew.DNSClient, 0, len(stats))
	for _, c := range stats {
		out = append(out, curfew.DNSClient{Client: c.Client, Queries: c.Queries, Refused: c.Refused, Last: c.Last})
	}
	return out
}
