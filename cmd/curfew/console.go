package main

import (
	"context"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/curfew/curfew/internal/web"
)

// checkedFirewall is the netfilter backend, remembering what its last
// drift check found for the console's Health page.
type checkedFirewall struct {
	*netfilter.Backend

	mu       sync.Mutex // guards the fields below
	checked  time.Time
	repaired int
	err      error
}

var _ enforce.Watcher = (*checkedFirewall)(nil)

// Verify implements [enforce.Verifier].
func (f *checkedFirewall) Verify(ctx context.Context) (int, error) {
	n, err := f.Backend.Verify(ctx)
	f.mu.Lock()
	f.checked, f.repaired, f.err = time.Now(), n, err
	f.mu.Unlock()
	return n, err
}

func (f *checkedFirewall) health() web.TableHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := web.TableHealth{Name: "inet " + f.Table(), Checked: f.checked, InSync: f.err == nil && f.repaired == 0, Repaired: f.repaired}
	if f.err != nil {
		h.Err = f.err.Error()
	}
	return h
}

// upstreamLog remembers the last exchange with each upstream resolver.
type upstreamLog struct {
	order []netip.AddrPort // as configured

	mu   sync.Mutex // guards last
	last map[netip.AddrPort]web.UpstreamHealth
}

func newUpstreamLog(upstreams []netip.AddrPort) *upstreamLog {
	return &upstreamLog{order: slices.Clone(upstreams), last: map[netip.AddrPort]web.UpstreamHealth{}}
}

// seen records one exchange with server.
func (u *upstreamLog) seen(server netip.AddrPort, took time.Duration, err error) {
	h := web.UpstreamHealth{Addr: server.String(), Last: time.Now(), OK: err == nil, Took: took.Round(10 * time.Microsecond)}
	if err != nil {
		h.Err = err.Error()
	}
	u.mu.Lock()
	u.last[server] = h
	u.mu.Unlock()
}

func (u *upstreamLog) health() []web.UpstreamHealth {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]web.UpstreamHealth, 0, len(u.order))
	for _, s := range u.order {
		h, ok := u.last[s]
		if !ok {
			h = web.UpstreamHealth{Addr: s.String()}
		}
		out = append(out, h)
	}
	return out
}

// consoleHealth returns what the console's Health page shows.
func consoleHealth(started time.Time, fw *checkedFirewall, res *resolver.Resolver, up *upstreamLog) func(context.Context) *web.Health {
	v := version()
	return func(context.Context) *web.Health {
		h := &web.Health{Version: v, Started: started, Table: fw.health(), Upstreams: up.health()}
		h.DNS.Running = true
		for _, c := range res.Clients() {
			h.DNS.Clients++
			h.DNS.Queries += int64(c.Queries)
			h.DNS.Refused += int64(c.Refused)
		}
		return h
	}
}

// version returns the version curfew was built as: the module version, or
// the commit it was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
			v = s.Value[:12]
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}
