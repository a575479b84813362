// Package engine is curfew's reconciler and the implementation of
// curfew.Service on the gateway. Every command and every timer firing runs
// the same steps: load state from the Store, compute the Snapshot for now,
// apply it to every enforcement backend, and arm one timer for the
// Snapshot's NextChange. Expiry has no code path of its own: it is the
// reconcile that runs when a restriction's end comes.
package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
)

// Metrics receives what the engine measures. The daemon implements it with
// Prometheus; nil discards.
type Metrics interface {
	// Applied is called after every apply of a snapshot to the backends.
	Applied(s *curfew.Snapshot, took time.Duration, err error)
	// Repaired is called when a drift check repaired n objects.
	Repaired(n int)
	// Expired is called when a restriction is recorded as expired.
	Expired()
}

// Config configures an Engine.
type Config struct {
	// Store holds the state. It must not be nil.
	Store Store
	// Backends enforce each Snapshot. Those implementing enforce.Verifier
	// are checked for drift every VerifyInterval.
	Backends []enforce.Backend
	// Logger is used for all logging. It must not be nil.
	Logger *slog.Logger
	// Metrics receives measurements; nil discards them.
	Metrics Metrics
	// Now returns the current time; the default is time.Now.
	Now func() time.Time
	// VerifyInterval is how often installed state is checked for drift;
	// the default is one second. Negative disables the check, and the
	// watching of backends implementing enforce.Watcher with it. The
	// check runs without the engine's lock (see Run).
	VerifyInterval time.Duration
	// RetryInterval is how soon a failed apply is retried; the default is
	// one second.
	RetryInterval time.Duration
	// GatewayAddrs returns the gateway's own addresses. Restrict reads
	// them for every ip: subject and refuses one that holds any of them
	// (curfew.Subject.CheckGateway). Nil means none are known.
	GatewayAddrs func() ([]netip.Addr, error)
	// Approvals says which restrictions, and which extensions, wait for a
	// second operator (Approve); the zero policy makes none wait.
	Approvals curfew.ApprovalPolicy
	// Learned returns what the gateway has learned of its LAN's devices
	// by itself, by MAC (net.HardwareAddr.String); Devices shows it with
	// each registered device. Nil means nothing is learned.
	Learned func() map[string]curfew.Learned

	// AuditKey signs the checkpoints of the audit log; its public half
	// verifies them. Nil signs none and cannot verify (tests of other
	// parts).
	AuditKey ed25519.PrivateKey
	// CheckpointInterval is how often Run signs the head of the log while
	// there are new events; the default is one minute.
	CheckpointInterval time.Duration
	// PublishCheckpoint, if not nil, is given the encoding of every new
	// checkpoint once it is stored, to send it off the gateway (the daemon
	// sends it to syslog if configured). Its errors are logged.
	PublishCheckpoint func(ctx context.Context, checkpoint []byte) error
	// ConfigDigest is the SHA-256 (hex) of the configuration the daemon
	// runs with, recorded at each start; a change from the previous start
	// is recorded as config.changed.
	ConfigDigest string
	// Quarantine makes every Snapshot quarantine unknown devices
	// (lan.unknown_devices: quarantine).
	Quarantine bool
	// Zone is the time zone of a schedule added without one; nil is UTC.
	// The daemon passes the configuration's timezone, else the gateway's
	// local zone.
	Zone *time.Location
	// Schedules, if not nil, replaces the engine's own schedules (its
	// store's) as the source of the kernel's windows, for tests. It
	// returns the schedules as the kernel needs them:
	// each with its subjects' devices and prefixes, and its windows that
	// open before to, as absolute instants (the expansion follows each
	// schedule's zone and its DST changes). The engine calls it at the
	// first reconcile, after SchedulesChanged, once a day, and at the
	// first instant any schedule's zone changes its UTC offset, and hands
	// the backends the next curfew.KernelWindowsHorizon of windows in
	// every Snapshot.
	Schedules func(ctx context.Context, from, to time.Time) ([]curfew.KernelSchedule, error)
	// Seen bounds the devices seen on the LAN that RecordSeen keeps;
	// zero fields take curfew.DefaultMaxUnregistered and
	// curfew.DefaultSeenMaxAge.
	Seen curfew.SeenLimits
}

// Engine applies commands to the store and keeps the backends enforcing
// what the store says. It implements curfew.Service.
type Engine struct {
	store    Store
	backends enforce.Multi
	logger   *slog.Logger
	metrics  Metrics
	now      func() time.Time
	verify   time.Duration
	retry    time.Duration
	gateway  func() ([]netip.Addr, error)     // nil: none known
	learned  func() map[string]curfew.Learned // nil: nothing learned
	approval curfew.ApprovalPolicy
	zone     *time.Location // of schedules added without one
	// ctx is the context of every reconcile, whoever asked for it: a
	// caller that goes away after its command is stored must not leave
	// the backends half-applied or skip the apply. cancel (called by
	// Close) cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	seenLimits curfew.SeenLimits
	quarantine bool
	schedules  func(ctx context.Context, from, to time.Time) ([]curfew.KernelSchedule, error) // nil: the index's

	nmu   sync.Mutex                    // guards names; taken with or without mu, never the other way round
	names map[string][]net.HardwareAddr // registered MACs by the key (hostKey) of their name; nil: to be read again

	smu        sync.Mutex // guards seenBudget; never held with mu
	seenBudget seenBudget

	// amu serialises the writes of appeals, which change nothing the
	// backends enforce, so that counting a client's recent appeals and
	// storing its new one are one step. It is never held with mu.
	amu sync.Mutex

	key          ed25519.PrivateKey // nil: checkpoints are not signed
	pub          ed25519.PublicKey  // nil if key is
	cpInterval   time.Duration
	publish      func(ctx context.Context, checkpoint []byte) error
	configDigest string

	signMu sync.Mutex // serialises signing checkpoints; taken before mu, never after

	mu    sync.Mutex    // serialises every write and every apply; guards the fields below
	timer *time.Timer   // fires at the last snapshot's NextChange; nil if none
	idx   *curfew.Index // the open restrictions and the devices; nil until loaded from the store
	// unrecorded are restrictions that ended but whose expiry could not
	// be written to the store yet.
	unrecorded []*curfew.Restriction
	// undue are windows of schedules that opened but could not be
	// stored yet.
	undue   []curfew.Due
	last    *curfew.Snapshot // the last snapshot computed
	applied bool             // last was applied without error
	closed  bool             // set by Close; no reconcile runs after it
	// unapplied are the restrictions not over whose enforcement the audit
	// log does not record yet (restriction.applied).
	unapplied map[curfew.RestrictionID]*curfew.Restriction
	// windows are the schedules' windows handed to the kernel; nil until
	// computed. windowsStale asks the next reconcile to compute them again.
	windows      *curfew.KernelWindows
	windowsStale bool
}

var _ curfew.Service = (*Engine)(nil)

// New validates c and returns an Engine. It touches neither the store nor
// the backends until Run or the first command.
func New(c *Config) (*Engine, error) {
	if c.Store == nil {
		return nil, errors.New("engine: nil store")
	}
	if c.Logger == nil {
		return nil, errors.New("engine: nil logger")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		ctx:      ctx,
		cancel:   cancel,
		store:    c.Store,
		backends: enforce.Multi(c.Backends),
		logger:   c.Logger,
		metrics:  c.Metrics,
		now:      c.Now,
		verify:   c.VerifyInterval,
		retry:    c.RetryInterval,
		gateway:  c.GatewayAddrs,
		approval: c.Approvals,
		learned:  c.Learned,
		zone:     c.Zone,

		cpInterval:   c.CheckpointInterval,
		publish:      c.PublishCheckpoint,
		configDigest: c.ConfigDigest,
		unapplied:    map[curfew.RestrictionID]*curfew.Restriction{},

		seenLimits: c.Seen,
		quarantine: c.Quarantine,
		schedules:  c.Schedules,
	}
	if c.AuditKey != nil {
		if len(c.AuditKey) != ed25519.PrivateKeySize {
			return nil, errors.New("engine: invalid ed25519 audit key")
		}
		e.key = c.AuditKey
		e.pub = c.AuditKey.Public().(ed25519.PublicKey)
	}
	if e.cpInterval <= 0 {
		e.cpInterval = defaultCheckpointInterval
	}
	if e.seenLimits.MaxUnregistered <= 0 {
		e.seenLimits.MaxUnregistered = curfew.DefaultMaxUnregistered
	}
	if e.seenLimits.MaxAge <= 0 {
		e.seenLimits.MaxAge = curfew.DefaultSeenMaxAge
	}
	e.approval.Modes = slices.Clone(c.Approvals.Modes)
	if e.now == nil {
		e.now = time.Now
	}
	if e.metrics == nil {
		e.metrics = nopMetrics{}
	}
	if e.verify == 0 {
		e.verify = time.Second
	}
	if e.retry <= 0 {
		e.retry = time.Second
	}
	return e, nil
}

var errClosed = errors.New("engine closed")

type nopMetrics struct{}

func (nopMetrics) Applied(*curfew.Snapshot, time.Duration, error) {}
func (nopMetrics) Repaired(int)                                   {}
func (nopMetrics) Expired()                                       {}

// Run holds the stored state to the audit log and records the start
// (startAudit), reconciles once, then keeps reconciling at every change,
// checking the backends for drift and signing the audit log (in a
// goroutine, runCheckpoints), until ctx is done or Close is called; then
// it records the stop and signs the log once more. It returns the error of
// the first reconcile if that fails to read the store; apply errors are
// logged and retried. When Run returns, no timer is left armed, no drift
// check is running and the signing has stopped.
//
// The drift check runs on Run's goroutine without the engine's lock, so a
// command never waits for a comparison of the installed state (a good
// part of a second with 100,000 devices). The backends serialise repairs
// with Apply themselves (enforce.Verifier). Besides every VerifyInterval,
// it runs as soon as a backend implementing enforce.Watcher reports a
// change by someone else, so a firewall reload that deleted curfew's
// table is repaired at once rather than at the next tick.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.startAudit(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.ctx, cancel)()
	signing := make(chan struct{})
	go func() {
		defer close(signing)
		e.runCheckpoints(ctx)
	}()
	defer func() {
		cancel()
		<-signing
		e.stopAudit(ctx)
	}()
	if _, err := e.Checkpoint(ctx); err != nil {
		e.logger.ErrorContext(ctx, "signing the audit log", "err", err)
	}
	if err := e.Reconcile(ctx); err != nil && !isApplyError(err) {
		return err
	}
	defer func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
	}()
	if e.verify < 0 {
		<-ctx.Done()
		return nil
	}
	changed := make(chan struct{}, 1)
	var watchers sync.WaitGroup
	defer watchers.Wait() // after cancel: the watchers return with ctx
	for _, b := range e.backends {
		if w, ok := b.(enforce.Watcher); ok {
			watchers.Go(func() { e.watch(ctx, w, changed) })
		}
	}
	tick := time.NewTicker(e.verify)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			e.checkDrift(ctx)
		case <-changed:
			e.checkDrift(ctx)
		}
	}
}

// watch runs w.Watch until ctx is done, signalling changed (without
// blocking: one pending signal stands for any number of changes) at each
// change w reports. If w cannot watch, the error is logged and the
// periodic check carries on alone.
func (e *Engine) watch(ctx context.Context, w enforce.Watcher, changed chan<- struct{}) {
	err := w.Watch(ctx, func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil && ctx.Err() == nil {
		e.logger.WarnContext(ctx, "watching for changes to enforcement; checking every interval only",
			"backend", fmt.Sprintf("%T", w), "interval", e.verify, "err", err)
	}
}

// checkDrift asks the backends to compare their installed state with what
// they last applied and repair it. It holds e.mu only to read whether
// anything was applied: commands and reconciles go on while the backends
// compare.
func (e *Engine) checkDrift(ctx context.Context) {
	e.mu.Lock()
	applied := e.applied && !e.closed
	e.mu.Unlock()
	if !applied {
		return // nothing applied yet; the retry timer will apply
	}
	n, err := e.backends.Verify(ctx)
	if n > 0 {
		e.metrics.Repaired(n)
		e.logger.WarnContext(ctx, "repaired enforcement drift", "objects", n)
		ev := &audit.Event{At: e.now(), Kind: audit.KindDriftRepaired, Actor: audit.System, After: &audit.Fields{Objects: int64(n)}}
		if err := e.store.AppendEvents(ctx, ev); err != nil {
			e.logger.ErrorContext(ctx, "recording repaired drift", "err", err)
		}
	}
	if err != nil && ctx.Err() == nil {
		e.logger.ErrorContext(ctx, "checking enforcement drift", "err", err)
	}
}

// applyError marks an error of the backends, as opposed to the store.
type applyError struct{ err error }

func (e *applyError) Error() string { return "applying snapshot: " + e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

func isApplyError(err error) bool {
	var ae *applyError
	return errors.As(err, &ae)
}

// Reconcile makes the backends enforce what the store says now: it records
// restrictions whose end has passed as expired, computes the snapshot,
// applies it and arms the timer for the next change. The first call loads
// the store; later ones work from the engine's index of it, which every
// command keeps up to date, so their cost does not grow with the number of
// restricted devices beyond a few linear scans in memory.
//
// ctx matters only until the reconcile starts: once started, it runs to
// the end on the engine's own context, which Close cancels.
func (e *Engine) Reconcile(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reconcileLocked(curfew.Targets{})
}

// reconcileLocked is Reconcile with e.mu held; touched holds the targets
// whose restrictions or devices a command just changed. It runs on e.ctx.
func (e *Engine) reconcileLocked(touched curfew.Targets) error {
	if e.closed {
		return errClosed
	}
	ctx := e.ctx
	full := e.idx == nil || !e.applied
	if e.idx == nil {
		rs, err := e.store.Restrictions(ctx, curfew.RestrictionFilter{})
		if err != nil {
			e.arm(e.now().Add(e.retry))
			return fmt.Errorf("loading restrictions: %w", err)
		}
		devices, err := e.store.Devices(ctx)
		if err != nil {
			e.arm(e.now().Add(e.retry))
			return fmt.Errorf("loading devices: %w", err)
		}
		groups, err := e.store.Groups(ctx)
		if err != nil {
			e.arm(e.now().Add(e.retry))
			return fmt.Errorf("loading groups: %w", err)
		}
		e.idx = curfew.NewIndex(rs, devices, groups...)
		e.idx.Quarantine = e.quarantine
		if err := e.loadSchedulesLocked(ctx, e.now().UTC()); err != nil {
			e.idx = nil
			e.arm(e.now().Add(e.retry))
			return fmt.Errorf("loading schedules: %w", err)
		}
	}
	// The snapshot's time is taken after the load, which can take seconds
	// with 100,000 restrictions: the backends count the elements' time
	// left from it.
	now := e.now().UTC()

	// Restrictions that are over no longer matter to any snapshot. Those
	// that reached their end are recorded as expired; one whose record
	// fails is tried again at the next reconcile, which comes soon. What
	// ended is recorded before the windows of schedules that opened since
	// (a window the daemon was down through both opens and ends now), so
	// that the log reads in the order things happened.
	over := append(e.idx.Advance(&touched, now), e.unrecorded...)
	e.unrecorded = nil
	e.recordOverLocked(ctx, over, now)
	e.openWindowsLocked(ctx, now, &touched)
	over = e.idx.Advance(&touched, now)
	var snap *curfew.Snapshot
	if full || e.last == nil {
		snap = e.idx.Snapshot(now)
	} else {
		snap = e.idx.Update(e.last, now, touched)
	}
	e.recordOverLocked(ctx, over, now)
	retry := len(e.unrecorded) > 0 || len(e.undue) > 0
	{
		if e.windows == nil || e.windowsStale || !now.Before(e.windows.Recompute) {
			if err := e.planWindowsLocked(ctx, now); err != nil {
				// The kernel keeps the windows it was last given.
				e.logger.ErrorContext(ctx, "computing the schedules' windows for the kernel", "err", err)
				retry = true
			}
		}
		snap.Windows = e.windows
		if snap.Windows == nil {
			// Not read yet: the kernel keeps what it holds.
			snap.Windows = &curfew.KernelWindows{Keep: true}
		}
	}
	e.last = snap

	start := time.Now()
	err := e.backends.Apply(ctx, snap)
	took := time.Since(start)
	e.metrics.Applied(snap, took, err)
	if err != nil {
		e.applied = false
		e.arm(now.Add(e.retry))
		return &applyError{err}
	}
	e.applied = true
	e.recordAppliedLocked(ctx, now)
	e.logger.DebugContext(ctx, "applied snapshot",
		"restricted_devices", len(snap.Devices), "restricted_prefixes", len(snap.Prefixes),
		"next_change", snap.NextChange, "took", took)
	// A long timer is re-armed at least every minute so that a jump of the
	// wall clock (which the monotonic timer does not see) is caught up.
	next := snap.NextChange
	if next.IsZero() || next.Sub(now) > time.Minute {
		next = now.Add(time.Minute)
	}
	if e.windows != nil && e.windows.Recompute.Before(next) {
		next = e.windows.Recompute
	}
	if retry && next.Sub(now) > e.retry {
		next = now.Add(e.retry)
	}
	e.arm(next)
	return nil
}

// planWindowsLocked computes the schedules' windows the kernel keeps from
// now on. e.mu must be held.
func (e *Engine) planWindowsLocked(ctx context.Context, now time.Time) error {
	to := now.Add(curfew.KernelWindowsHorizon)
	var ss []curfew.KernelSchedule
	if e.schedules != nil {
		var err error
		if ss, err = e.schedules(ctx, now, to); err != nil {
			return fmt.Errorf("loading schedules: %w", err)
		}
	} else {
		var learned map[string]curfew.Learned
		if e.learned != nil {
			learned = e.learned()
		}
		ss = e.idx.KernelSchedules(now, to, learned)
	}
	kw, err := curfew.PlanKernelWindows(now, curfew.KernelWindowsHorizon, ss)
	if err != nil {
		return err
	}
	e.windows, e.windowsStale = kw, false
	return nil
}

// SchedulesChanged computes the schedules' windows again and hands them
// to the backends at once. Commands that add, change or remove a schedule
// call it after storing the change.
func (e *Engine) SchedulesChanged(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.windowsStale = true
	return e.reconcileLocked(curfew.Targets{})
}

// recordOverLocked deletes from the index the restrictions in over, and
// records those that reached their end as expired; one whose record fails
// is kept in e.unrecorded for the next reconcile. e.mu must be held.
func (e *Engine) recordOverLocked(ctx context.Context, over []*curfew.Restriction, now time.Time) {
	for _, r := range over {
		e.idx.Delete(r.ID)
		if r.StatusAt(now) == curfew.StatusExpired && r.Expired.IsZero() {
			if err := e.expire(ctx, r, now); err != nil {
				e.logger.ErrorContext(ctx, "recording expiry", "restriction_id", r.ID, "err", err)
				e.unrecorded = append(e.unrecorded, r)
			}
		}
	}
}

// expire records that r ended at its End. e.mu must be held.
func (e *Engine) expire(ctx context.Context, r *curfew.Restriction, now time.Time) error {
	prev := *r
	r.Expired = now
	kind := audit.KindRestrictionExpired
	if r.Schedule != 0 {
		kind = audit.KindWindowClosed
	}
	ev := &audit.Event{At: now, Kind: kind, Actor: audit.System,
		Subject: r.Subject.String(), Restriction: r.ID, After: &audit.Fields{Expired: now}}
	if err := e.updateRestriction(ctx, &prev, r, ev); err != nil {
		r.Expired = time.Time{}
		return err
	}
	e.metrics.Expired()
	e.logger.InfoContext(ctx, "restriction expired", "restriction_id", r.ID, "subject", r.Subject.String(), "ended_at", r.End)
	return nil
}

// arm sets the timer to reconcile at t. e.mu must be held.
func (e *Engine) arm(t time.Time) {
	if e.timer != nil {
		e.timer.Stop()
	}
	d := t.Sub(e.now())
	if d < 0 {
		d = 0
	}
	e.timer = time.AfterFunc(d, func() {
		if err := e.Reconcile(e.ctx); err != nil && !errors.Is(err, errClosed) && e.ctx.Err() == nil {
			e.logger.Error("reconciling", "err", err)
		}
	})
}

// Snapshot returns the last snapshot applied without error, or nil.
func (e *Engine) Snapshot() *curfew.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.applied {
		return nil
	}
	return e.last
}

// Close stops the timer, cancels the engine's context (an apply or drift
// check under way is cut short) and makes Run return. It does not close the
// store or the backends, which the caller owns.
func (e *Engine) Close() {
	e.cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}
