// Package access keeps curfew's operators and their credentials: API
// tokens, stored as SHA-256 hashes of 256-bit random secrets, and console
// passwords, stored as argon2id hashes, each with a salt of its own.
//
// Its Registry authenticates every API request against the store, with no
// cache, so revoking a token or disabling an operator takes effect with the
// next request; it limits failed attempts to authenticate per source
// address and records them, aggregated, in the audit log, beside every
// change to an operator or a token.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Config configures a Registry.
type Config struct {
	// Store holds the operators, tokens and the audit log. It must not be
	// nil.
	Store Store
	// Logger is used for all logging. It must not be nil.
	Logger *slog.Logger
	// Now returns the current time; the default is time.Now.
	Now func() time.Time
	// Argon2 are the parameters of new password hashes; the zero value
	// means DefaultArgon2().
	Argon2 Argon2Params
	// Limit bounds failed attempts to authenticate; zero fields take
	// those of DefaultLimit().
	Limit Limit
}

// maxHashing bounds the password hashes computed at once, and so the
// memory logins take (DefaultArgon2: 64 MiB each).
const maxHashing = 2

// Registry keeps the operators and their credentials. It implements
// curfew.Accounts and api.Authenticator, and gives the console what its
// login needs: Verify, ChangePassword and Actor.
type Registry struct {
	store   Store
	logger  *slog.Logger
	now     func() time.Time
	params  Argon2Params
	guard   *guard
	hashing chan struct{} // one token per password hash being computed

	// mu serialises every change, so that what a change checks (such as
	// that an admin is left) still holds when it is stored.
	mu sync.Mutex

	recordMu sync.Mutex // serialises writing reports of failed attempts

	runMu  sync.Mutex     // guards closed and the start of a Run
	closed bool           // set by Close; a Run started after it returns at once
	runs   sync.WaitGroup // the Run calls under way
	stop   chan struct{}  // closed by Close
}

var _ curfew.Accounts = (*Registry)(nil)

// New validates c and returns a Registry. It does not touch the store
// until the first call.
func New(c *Config) (*Registry, error) {
	switch {
	case c == nil:
		return nil, errors.New("access: nil config")
	case c.Store == nil:
		return nil, errors.New("access: nil store")
	case c.Logger == nil:
		return nil, errors.New("access: nil logger")
	}
	r := &Registry{
		store:   c.Store,
		logger:  c.Logger,
		now:     c.Now,
		params:  c.Argon2,
		guard:   newGuard(c.Limit),
		hashing: make(chan struct{}, maxHashing),
		stop:    make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.params == (Argon2Params{}) {
		r.params = DefaultArgon2()
	}
	if r.params.Time == 0 || r.params.Memory < 8 || r.params.Threads == 0 {
		return nil, fmt.Errorf("access: argon2 parameters %+v: want time, memory (at least 8 KiB) and threads", r.params)
	}
	return r, nil
}

// Run writes the failed attempts counted but not yet in the audit log
// once they have waited their window, until ctx is done (then it writes
// all that are left) or Close is called (which writes them).
func (r *Registry) Run(ctx context.Context) {
	r.runMu.Lock()
	if r.closed {
		r.runMu.Unlock()
		return
	}
	r.runs.Add(1)
	r.runMu.Unlock()
	defer r.runs.Done()
	tick := time.NewTicker(r.guard.window / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-r.stop:
			return
		case <-tick.C:
			r.record(ctx, r.guard.due(r.now(), false))
		}
	}
}

// Flush writes into the audit log every failed attempt counted but not
// written yet.
func (r *Registry) Flush(ctx context.Context) {
	r.record(ctx, r.guard.due(r.now(), true))
}

// Close makes Run return, after it has written what it counted, and
// writes what is left. It does not close the store, which the caller owns.
func (r *Registry) Close() {
	r.runMu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.runMu.Unlock()
	r.runs.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Flush(ctx)
}

// record writes reports of failed attempts into the audit log. A report
// that cannot be written is logged instead: a failing store must not turn
// a refused login into a different answer.
func (r *Registry) record(ctx context.Context, reports []*report) {
	if len(reports) == 0 {
		return
	}
	r.recordMu.Lock()
	defer r.recordMu.Unlock()
	now := r.now().UTC()
	for _, rep := range reports {
		if err := r.store.AppendEvents(ctx, authFailures(now, rep)); err != nil {
			r.logger.ErrorContext(ctx, "recording failed attempts to authenticate", "source", rep.source, "detail", rep.String(), "err", err)
			continue
		}
		r.logger.WarnContext(ctx, "failed attempts to authenticate", "source", rep.source, "detail", rep.String())
	}
}

// fail counts a failed attempt of src and writes the reports due.
func (r *Registry) fail(ctx context.Context, src netip.Addr, now time.Time, reason string) {
	r.record(ctx, r.guard.fail(src, now, reason))
}

// admit refuses src if it failed too often, with a *curfew.LimitError.
func (r *Registry) admit(ctx context.Context, src netip.Addr, now time.Time) error {
	due, err := r.guard.admit(src, now)
	r.record(ctx, due)
	return err
}

// checkName validates the name of a new operator or token.
func checkName(name string) error {
	if err := curfew.ValidateName(name); err != nil {
		return err
	}
	if strings.EqualFold(name, curfew.SystemActor) {
		return fmt.Errorf("%w: name %q is reserved for the events curfew records by itself", curfew.ErrInvalid, name)
	}
	return nil
}

// AddOperator implements [curfew.Accounts].
func (r *Registry) AddOperator(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
	actor, err := curfew.Permit(ctx, curfew.OpAddOperator)
	if err != nil {
		return nil, "", err
	}
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	if _, err := curfew.ParseRole(string(role)); err != nil {
		return nil, "", err
	}
	password := rand.Text()
	hash, err := r.hash(ctx, password)
	if err != nil {
		return nil, "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.secretNotRepeatable(ctx, actor.Name, curfew.ActionOperator,
		"its one-time password is shown only once: give it another with `curfew operator password %s`"); err != nil {
		return nil, "", err
	}
	now := r.now().UTC()
	op := &curfew.Operator{Name: name, Role: role, Created: now, CreatedBy: actor.Name}
	if err := r.store.CreateOperator(ctx, op, hash, operatorAdded(now, actor.Name, op)); err != nil {
		return nil, "", fmt.Errorf("storing operator: %w", err)
	}
	r.logger.InfoContext(ctx, "operator added", "operator", name, "role", role, "actor", actor.Name)
	return op, password, nil
}

// Operators implements [curfew.Accounts].
func (r *Registry) Operators(ctx context.Context) ([]*curfew.Operator, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return r.store.Operators(ctx)
}

// DisableOperator implements [curfew.Accounts]. Disabling the last
// enabled admin who can sign in (with a password or a live admin token)
// is curfew.ErrForbidden, whoever asks: nobody could manage curfew after.
func (r *Registry) DisableOperator(ctx context.Context, name, reason string) (*curfew.Operator, error) {
	actor, err := curfew.Permit(ctx, curfew.OpDisableOperator)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, fmt.Errorf("%w: missing reason: disabling an operator needs one", curfew.ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch prev, err := curfew.Repeated(ctx, r.store.Request, actor.Name, curfew.ActionDisableOperator); {
	case err != nil:
		return nil, err
	case prev != nil:
		return r.store.Operator(ctx, prev.Target)
	}
	op, err := r.store.Operator(ctx, name)
	if err != nil {
		return nil, err
	}
	if !op.Enabled() {
		return nil, fmt.Errorf("%w: operator %q is already disabled", curfew.ErrConflict, name)
	}
	if op.Role == curfew.RoleAdmin {
		if err := r.keepAdmin(ctx, name, ""); err != nil {
			return nil, err
		}
	}
	now := r.now().UTC()
	op.Disabled, op.DisabledBy, op.DisableReason = now, actor.Name, reason
	if err := r.store.DisableOperator(ctx, op, operatorDisabled(now, actor.Name, op)); err != nil {
		return nil, fmt.Errorf("storing operator: %w", err)
	}
	r.logger.InfoContext(ctx, "operator disabled", "operator", name, "actor", actor.Name)
	return op, nil
}

// keepAdmin returns curfew.ErrForbidden unless an enabled admin other
// than operator disabling can still sign in without the live token of
// revoking: with a console password or a live admin token. r.mu must be
// held.
func (r *Registry) keepAdmin(ctx context.Context, disabling, revoking string) error {
	ops, err := r.store.Operators(ctx)
	if err != nil {
		return err
	}
	ts, err := r.store.Tokens(ctx)
	if err != nil {
		return err
	}
	adminToken := map[string]bool{}
	for _, t := range ts {
		if t.Status() == curfew.TokenActive && t.Role == curfew.RoleAdmin && t.Name != revoking {
			adminToken[t.Name] = true
		}
	}
	for _, op := range ops {
		if op.Enabled() && op.Role == curfew.RoleAdmin && op.Name != disabling &&
			(op.Password != curfew.PasswordNone || adminToken[op.Name]) {
			return nil
		}
	}
	who := disabling
	if who == "" {
		who = revoking
	}
	return fmt.Errorf("%w: %s is the last admin who can sign in; add another admin first (curfew operator add NAME --role admin)",
		curfew.ErrForbidden, who)
}

// ResetPassword implements [curfew.Accounts].
func (r *Registry) ResetPassword(ctx context.Context, name string) (string, error) {
	actor, err := curfew.Permit(ctx, curfew.OpResetPassword)
	if err != nil {
		return "", err
	}
	password := rand.Text()
	hash, err := r.hash(ctx, password)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.secretNotRepeatable(ctx, actor.Name, curfew.ActionPassword,
		"the new one-time password is shown only once: reset it again with `curfew operator password %s`"); err != nil {
		return "", err
	}
	op, err := r.store.Operator(ctx, name)
	if err != nil {
		return "", err
	}
	if !op.Enabled() {
		return "", fmt.Errorf("%w: operator %q is disabled", curfew.ErrConflict, name)
	}
	if err := r.store.SetPassword(ctx, name, hash, true, passwordSet(r.now().UTC(), actor.Name, name, true)); err != nil {
		return "", fmt.Errorf("storing password: %w", err)
	}
	r.logger.InfoContext(ctx, "console password reset", "operator", name, "actor", actor.Name)
	return password, nil
}

// CreateToken implements [curfew.Accounts]. An existing operator keeps
// its role, and its token may not have more (curfew.ErrConflict); a
// disabled operator gets no token.
func (r *Registry) CreateToken(ctx context.Context, name string, role curfew.Role) (string, error) {
	actor, err := curfew.Permit(ctx, curfew.OpCreateToken)
	if err != nil {
		return "", err
	}
	return r.createToken(ctx, actor.Name, name, role)
}

// Bootstrap creates the first admin, named name, with its token, for
// `curfew init`, and returns the token's secret. It fails with
// curfew.ErrConflict if any operator exists.
func (r *Registry) Bootstrap(ctx context.Context, name string) (string, error) {
	ops, err := r.store.Operators(ctx)
	if err != nil {
		return "", err
	}
	if len(ops) > 0 {
		return "", fmt.Errorf("%w: already initialised: operator %q exists", curfew.ErrConflict, ops[0].Name)
	}
	return r.createToken(ctx, curfew.SystemActor, name, curfew.RoleAdmin)
}

func (r *Registry) createToken(ctx context.Context, actor string, name string, role curfew.Role) (string, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("token name: %w", err)
	}
	if _, err := curfew.ParseRole(string(role)); err != nil {
		return "", err
	}
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.secretNotRepeatable(ctx, actor, curfew.ActionToken,
		"its secret is shown only once: revoke it (`curfew token revoke %s`) and create another"); err != nil {
		return "", err
	}
	now := r.now().UTC()
	var newOp *curfew.Operator
	switch op, err := r.store.Operator(ctx, name); {
	case errors.Is(err, curfew.ErrNotFound):
		newOp = &curfew.Operator{Name: name, Role: role, Created: now, CreatedBy: actor}
	case err != nil:
		return "", err
	case !op.Enabled():
		return "", fmt.Errorf("%w: operator %q is disabled", curfew.ErrConflict, name)
	case !op.Role.Allows(role):
		return "", fmt.Errorf("%w: operator %q has role %s; its token cannot have role %s", curfew.ErrConflict, name, op.Role, role)
	}
	t := &curfew.Token{Name: name, Role: role, Created: now, CreatedBy: actor}
	if err := r.store.CreateToken(ctx, t, HashToken(secret), newOp, tokenCreated(now, actor, t, newOp != nil)); err != nil {
		if errors.Is(err, curfew.ErrConflict) {
			return "", fmt.Errorf("%w: operator %q has a live token; revoke it first (curfew token revoke %s)", curfew.ErrConflict, name, name)
		}
		return "", fmt.Errorf("storing token: %w", err)
	}
	r.logger.InfoContext(ctx, "token created", "token", name, "role", role, "actor", actor, "new_operator", newOp != nil)
	return secret, nil
}

// Tokens implements [curfew.Accounts].
func (r *Registry) Tokens(ctx context.Context) ([]*curfew.Token, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return r.store.Tokens(ctx)
}

// RevokeToken implements [curfew.Accounts]. Revoking the token of the
// last enabled admin who can sign in, when that admin has no password,
// is curfew.ErrForbidden.
func (r *Registry) RevokeToken(ctx context.Context, name string) (*curfew.Token, error) {
	actor, err := curfew.Permit(ctx, curfew.OpRevokeToken)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, err := curfew.Repeated(ctx, r.store.Request, actor.Name, curfew.ActionRevokeToken)
	if err != nil {
		return nil, err
	}
	ts, err := r.store.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		// The token it revoked: the newest revoked one of that name.
		var last *curfew.Token
		for _, t := range ts {
			if t.Name == prev.Target && !t.Revoked.IsZero() {
				last = t
			}
		}
		if last == nil {
			return nil, fmt.Errorf("repeating %s with key %q: no revoked token %q", prev.Action, prev.Key, prev.Target)
		}
		return last, nil
	}
	var live, revoked *curfew.Token
	for _, t := range ts {
		if t.Name != name {
			continue
		}
		if t.Revoked.IsZero() {
			live = t
		} else {
			revoked = t
		}
	}
	switch {
	case live == nil && revoked != nil:
		return nil, fmt.Errorf("%w: token %q is already revoked", curfew.ErrConflict, name)
	case live == nil:
		return nil, fmt.Errorf("%w: no token %q", curfew.ErrNotFound, name)
	}
	if live.Status() == curfew.TokenActive && live.Role == curfew.RoleAdmin {
		if err := r.keepAdmin(ctx, "", name); err != nil {
			return nil, err
		}
	}
	now := r.now().UTC()
	live.Revoked, live.RevokedBy = now, actor.Name
	if err := r.store.RevokeToken(ctx, live, tokenRevoked(now, actor.Name, live)); err != nil {
		return nil, fmt.Errorf("storing token: %w", err)
	}
	r.logger.InfoContext(ctx, "token revoked", "token", name, "actor", actor.Name)
	return live, nil
}

// secretNotRepeatable refuses, with curfew.ErrConflict, a retry of a
// change whose answer was a secret (a token, a one-time password): the
// change was made, but the secret is stored only as a hash, so its answer
// cannot be given again. why says what to do, with %s for the name the
// change acted on. It returns nil for a request to be carried out, and an
// error wrapping curfew.ErrKeyReused for a key used for another request.
// r.mu must be held.
func (r *Registry) secretNotRepeatable(ctx context.Context, actor string, action curfew.Action, why string) error {
	prev, err := curfew.Repeated(ctx, r.store.Request, actor, action)
	if err != nil || prev == nil {
		return err
	}
	return fmt.Errorf("%w: this request (idempotency key %q) was carried out at %s, but its answer was lost; %s",
		curfew.ErrConflict, prev.Key, prev.Created.UTC().Format(time.RFC3339), fmt.Sprintf(why, prev.Target))
}

// tokenPrefix marks curfew tokens, so a leaked one is easy to recognise.
const tokenPrefix = "cft_"

// newSecret returns a new token secret: the prefix and 256 random bits.
func newSecret() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// HashToken returns the SHA-256 of a token secret, the only form stored.
// Secrets are 256 random bits, so a fast hash is enough.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Authenticate returns the operator whose token secret is given, or an
// error wrapping curfew.ErrUnauthenticated, or a *curfew.LimitError if
// src failed too often lately (then even a valid secret is refused, so a
// source that guesses learns nothing more until it may try again). It
// reads the store every time: a token revoked, or an operator disabled,
// is refused from the next call on. It implements api.Authenticator.
func (r *Registry) Authenticate(ctx context.Context, src netip.Addr, secret string) (curfew.Actor, error) {
	now := r.now()
	if err := r.admit(ctx, src, now); err != nil {
		return curfew.Actor{}, err
	}
	a, failure, err := r.token(ctx, secret)
	if failure != "" {
		r.fail(ctx, src, now, failure)
	}
	return a, err
}

// token returns the actor of secret, or why it is refused and an error
// wrapping curfew.ErrUnauthenticated.
func (r *Registry) token(ctx context.Context, secret string) (curfew.Actor, string, error) {
	refuse := func(why string) (curfew.Actor, string, error) {
		return curfew.Actor{}, why, fmt.Errorf("%w: %s", curfew.ErrUnauthenticated, why)
	}
	if !strings.HasPrefix(secret, tokenPrefix) {
		return refuse("malformed token")
	}
	t, err := r.store.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, curfew.ErrNotFound) {
		return refuse("unknown token")
	}
	if err != nil {
		return curfew.Actor{}, "", fmt.Errorf("looking up token: %w", err)
	}
	if !t.Revoked.IsZero() {
		return refuse("revoked token " + t.Name)
	}
	op, err := r.store.Operator(ctx, t.Name)
	if err != nil {
		return curfew.Actor{}, "", fmt.Errorf("looking up the operator of token %q: %w", t.Name, err)
	}
	if !op.Enabled() {
		return refuse("token of disabled operator " + t.Name)
	}
	role := t.Role
	if !op.Role.Allows(role) {
		role = op.Role
	}
	return curfew.Actor{Name: t.Name, Role: role}, "", nil
}

// Verify checks an operator's console password, for the console's login,
// and returns the operator: the caller must make it change a one-time
// password (Operator.Password) before anything else. A wrong or unknown
// name or password, an operator without a password and a disabled one
// are all an error wrapping curfew.ErrUnauthenticated, and take the same
// time; a source that failed too often gets a *curfew.LimitError.
func (r *Registry) Verify(ctx context.Context, src netip.Addr, name, password string) (*curfew.Operator, error) {
	now := r.now()
	if err := r.admit(ctx, src, now); err != nil {
		return nil, err
	}
	op, failure, err := r.password(ctx, name, password)
	if failure != "" {
		r.fail(ctx, src, now, failure)
	}
	return op, err
}

// password returns the operator name if password is its console password,
// or why not and an error wrapping curfew.ErrUnauthenticated.
func (r *Registry) password(ctx context.Context, name, password string) (*curfew.Operator, string, error) {
	refuse := func(why string) (*curfew.Operator, string, error) {
		return nil, why, fmt.Errorf("%w: wrong name or password", curfew.ErrUnauthenticated)
	}
	if curfew.ValidateName(name) != nil {
		return refuse("login with an invalid name")
	}
	if len(password) > MaxPasswordLength {
		return refuse("password longer than the limit for " + name)
	}
	op, err := r.store.Operator(ctx, name)
	if err != nil && !errors.Is(err, curfew.ErrNotFound) {
		return nil, "", err
	}
	var hash string
	if err == nil {
		if hash, err = r.store.Password(ctx, name); err != nil && !errors.Is(err, curfew.ErrNotFound) {
			return nil, "", err
		}
	}
	// One argon2 computation whatever the case, so that how long the
	// answer takes does not tell whether the name exists.
	ok, err := r.check(ctx, hash, password)
	if err != nil {
		return nil, "", err
	}
	switch {
	case op == nil:
		return refuse("login as unknown operator " + name)
	case hash == "":
		return refuse("login as " + name + ", who has no console password")
	case !ok:
		return refuse("wrong password for " + name)
	case !op.Enabled():
		return refuse("login as disabled operator " + name)
	}
	return op, "", nil
}

// ChangePassword sets an operator's console password to password after
// checking its current one as Verify does (so failures count against
// src), for the console. The new password must have at least
// MinPasswordLength bytes and differ from the current one.
func (r *Registry) ChangePassword(ctx context.Context, src netip.Addr, name, current, password string) error {
	if _, err := r.Verify(ctx, src, name, current); err != nil {
		return err
	}
	switch {
	case len(password) < MinPasswordLength:
		return fmt.Errorf("%w: the new password must have at least %d characters", curfew.ErrInvalid, MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("%w: the new password must have at most %d bytes", curfew.ErrInvalid, MaxPasswordLength)
	case password == current:
		return fmt.Errorf("%w: the new password must differ from the current one", curfew.ErrInvalid)
	}
	hash, err := r.hash(ctx, password)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.SetPassword(ctx, name, hash, false, passwordSet(r.now().UTC(), name, name, false)); err != nil {
		return fmt.Errorf("storing password: %w", err)
	}
	r.logger.InfoContext(ctx, "console password changed", "operator", name)
	return nil
}

// Actor returns the actor operator name is now, or an error wrapping
// curfew.ErrUnauthenticated if it is disabled or unknown. The console
// calls it on every request of a session, so a disabled operator's
// sessions stop at once.
func (r *Registry) Actor(ctx context.Context, name string) (curfew.Actor, error) {
	op, err := r.store.Operator(ctx, name)
	if errors.Is(err, curfew.ErrNotFound) {
		return curfew.Actor{}, fmt.Errorf("%w: no operator %q", curfew.ErrUnauthenticated, name)
	}
	if err != nil {
		return curfew.Actor{}, err
	}
	if !op.Enabled() {
		return curfew.Actor{}, fmt.Errorf("%w: operator %q is disabled", curfew.ErrUnauthenticated, name)
	}
	return op.Actor(), nil
}

// hash returns the argon2id hash of password with r's parameters, waiting
// for one of the maxHashing slots.
func (r *Registry) hash(ctx context.Context, password string) (string, error) {
	if err := r.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-r.hashing }()
	return hashPassword(r.params, password)
}

// check reports whether password matches hash; an empty hash matches
// nothing but costs the same, hashing password with r's parameters.
func (r *Registry) check(ctx context.Context, hash, password string) (bool, error) {
	if err := r.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-r.hashing }()
	if hash == "" {
		_, err := hashPassword(r.params, password)
		return false, err
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return false, fmt.Errorf("checking password: %w", err)
	}
	return ok, nil
}

func (r *Registry) acquire(ctx context.Context) error {
	select {
	case r.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
