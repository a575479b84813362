package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

// A daemonFixture is the daemon's parts without the kernel: SQLite in
// memory, the engine over the in-memory enforcer, the access component and
// the API handler, served over HTTP, for driving the CLI against the real
// engine without root.
type daemonFixture struct {
	db    *sqlite.DB
	mem   *enforce.Memory
	eng   *engine.Engine
	api   http.Handler
	admin string // the first admin's token
	url   string // where the API is served
}

// newDaemonFixture builds the parts; cfg sets the engine's options, and
// Store, Backends, Logger and VerifyInterval are filled in. wrap, if not
// nil, wraps the API handler before it is served.
func newDaemonFixture(t *testing.T, cfg engine.Config, wrap func(http.Handler) http.Handler) *daemonFixture {
	t.Helper()
	return newDaemonFixtureAt(t, ":memory:", cfg, wrap)
}

// newDaemonFixtureAt is newDaemonFixture with the database at path, a
// file name or ":memory:".
func newDaemonFixtureAt(t *testing.T, path string, cfg engine.Config, wrap func(http.Handler) http.Handler) *daemonFixture {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := &daemonFixture{mem: &enforce.Memory{}}
	var err error
	if f.db, err = sqlite.Open(ctx, path, &sqlite.Config{Logger: logger}); err != nil {
		t.Fatal(err)
	}
	if cfg.AuditKey == nil {
		if cfg.AuditKey, err = audit.GenerateKey(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.db.Close() })
	cfg.Store, cfg.Backends, cfg.Logger, cfg.VerifyInterval = f.db, []enforce.Backend{f.mem}, logger, -1
	if f.eng, err = engine.New(&cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.eng.Close)
	// Cheap password hashes: these tests are about the verbs, not argon2.
	acc, err := access.New(&access.Config{Store: f.db, Logger: logger, Argon2: access.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acc.Close)
	if f.admin, err = acc.Bootstrap(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if f.api, err = api.NewHandler(&api.HandlerConfig{Service: f.eng, Auth: acc, Accounts: acc, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	served := f.api
	if wrap != nil {
		served = wrap(f.api)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}
