// Command resolverbench runs curfew's resolver on its own, outside the
// daemon, for the benchmark in bench/resolver.sh: it serves the given
// address, forwards to the given upstreams and blocks the names of the
// given blocklists network-wide, until interrupted. Like the daemon, it
// sets the soft memory limit curfew's configuration gives by default
// (config.DefaultMemoryLimit for the default cache), unless -memory-limit
// or GOMEMLIMIT says otherwise.
//
//	resolverbench -listen 127.0.0.1:5301 -upstream 127.0.0.1:5399 -blocklist list.hosts
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/resolver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5301", "address to serve, UDP and TCP")
	upstreams := flag.String("upstream", "127.0.0.1:5399", "upstreams, comma-separated")
	blocklists := flag.String("blocklist", "", "blocklists (files or URLs), comma-separated")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	restrict := flag.String("restrict", "", "restrict the clients on 127.0.0.0/8: blocklist (refusing restricted.example) or allowlist (allowing test and the blocklist's TLDs)")
	verbose := flag.Bool("v", false, "log at debug level")
	memLimit := flag.Int64("memory-limit", config.DefaultMemoryLimit(0), "soft memory limit in bytes (debug.SetMemoryLimit); 0 for none")
	flag.Parse()
	limitSet := false
	flag.Visit(func(f *flag.Flag) { limitSet = limitSet || f.Name == "memory-limit" })
	switch {
	case *memLimit == 0:
		debug.SetMemoryLimit(math.MaxInt64)
	case limitSet || os.Getenv("GOMEMLIMIT") == "":
		debug.SetMemoryLimit(*memLimit)
	}
	if err := run(*listen, *upstreams, *blocklists, *cpuprofile, *restrict, *verbose); err != nil {
		log.Fatal(err)
	}
}

func run(listen, upstreams, blocklists, cpuprofile, restrict string, verbose bool) error {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := &resolver.Config{
		Logger:      logger.With("component", "resolver"),
		NoticeAddr4: netip.MustParseAddr("192.0.2.80"),
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return fmt.Errorf("parsing -listen: %w", err)
	}
	cfg.Listen = []netip.AddrPort{ap}
	for _, s := range strings.Split(upstreams, ",") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return fmt.Errorf("parsing -upstream: %w", err)
		}
		cfg.Upstreams = append(cfg.Upstreams, ap)
	}
	if blocklists != "" {
		cfg.Blocklists = strings.Split(blocklists, ",")
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := resolver.New(cfg)
	if err != nil {
		return err
	}
	// Load first, like the others: the benchmark times until blocked names
	// are answered from the list.
	start := time.Now()
	reports, err := r.Reload(ctx)
	for _, rep := range reports {
		logger.Info("blocklist", "report", rep.String())
	}
	if err != nil {
		return err
	}
	logger.Info("loaded", "duration", time.Since(start))
	if restrict != "" {
		e := curfew.Enforcement{Reach: curfew.Reach(restrict), Until: time.Now().Add(24 * time.Hour)}
		switch e.Reach {
		case curfew.ReachBlocklist:
			e.BlockNames = []string{"restricted.example"}
		case curfew.ReachAllowlist:
			// Every name the benchmark asks for: the forwarded ones
			// and the blocklist's (genlist's TLDs).
			e.AllowNames = []string{"test", "com", "net", "org", "info", "io", "biz", "xyz", "top", "de", "ru", "uk", "online", "site"}
		default:
			return fmt.Errorf("-restrict %q: want blocklist or allowlist", restrict)
		}
		err := r.Apply(ctx, &curfew.Snapshot{Prefixes: []curfew.PrefixRule{{
			Prefix: netip.MustParsePrefix("127.0.0.0/8"), Enforcement: e}}})
		if err != nil {
			return err
		}
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return r.Close()
}
