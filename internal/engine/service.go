package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Restrict implements [curfew.Service]. It returns once the new
// restriction is stored, audited and enforced. An ip: subject holding one
// of the gateway's own addresses is refused, and so is anything
// RestrictRequest.Restriction refuses; a refused request leaves no trace.
func (e *Engine) Restrict(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
	actor, err := curfew.Require(ctx, curfew.RoleOperator)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now().UTC()
	r, err := req.Restriction(now, actor.Name)
	if err != nil {
		return nil, err
	}
	switch r.Subject.Kind {
	case curfew.SubjectIP:
		if e.gateway == nil {
			break
		}
		addrs, err := e.gateway()
		if err != nil {
			return nil, fmt.Errorf("reading the gateway's addresses: %w", err)
		}
		if err := r.Subject.CheckGateway(addrs); err != nil {
			return nil, err
		}
	case curfew.SubjectGroup:
		return nil, fmt.Errorf("%w: subject %s: group subjects are not supported yet", curfew.ErrInvalid, r.Subject)
	case curfew.SubjectPerson:
		if _, err := e.store.Person(ctx, r.Subject.Name); err != nil {
			if errors.Is(err, curfew.ErrNotFound) {
				return nil, fmt.Errorf("%w: subject %s: no such person (add it with `curfew person add %s`)", curfew.ErrInvalid, r.Subject, r.Subject.Name)
			}
			return nil, fmt.Errorf("looking up person: %w", err)
		}
	}
	after := audit.RestrictionFields(r)
	after.Reason, after.Force = "", r.Subject.Wide() // the reason is the event's; a prefix that wide needs force
	ev := &audit.Event{At: now, Kind: audit.KindRestrictionCreated, Actor: actor.Name, Subject: r.Subject.String(), Reason: r.Reason, After: after}
	if err := e.store.CreateRestriction(ctx, r, ev); err != nil {
		return nil, fmt.Errorf("storing restriction: %w", err)
	}
	e.unapplied[r.ID] = r
	e.logger.InfoContext(ctx, "restriction created", "restriction_id", r.ID, "subject", r.Subject.String(),
		"mode", r.Mode, "ends_at", r.End, "actor", actor.Name)
	return r, e.enforceLocked(ctx, r)
}

// enforceLocked reconciles after a command that stored r (a restriction
// or a device). The command itself is stored and audited; a failure to
// enforce it is reported to the caller, and the engine keeps retrying.
func (e *Engine) enforceLocked(ctx context.Context, changed any) error {
	var touched curfew.Targets
	if e.idx != nil {
		switch c := changed.(type) {
		case *curfew.Restriction:
			e.idx.Put(c)
			e.idx.Add(&touched, c)
			if _, ok := e.unapplied[c.ID]; ok {
				e.unapplied[c.ID] = c
			}
		case *curfew.Device:
			e.idx.PutDevice(c)
			touched.AddMAC(c.MAC)
		}
	}
	if err := e.reconcileLocked(ctx, touched); err != nil {
		return fmt.Errorf("stored, but enforcing: %w", err)
	}
	return nil
}

// Lift implements [curfew.Service].
func (e *Engine) Lift(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, id, reason, audit.KindRestrictionLifted, func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
		if st := r.StatusAt(now); st == curfew.StatusLifted || st == curfew.StatusExpired {
			return nil, nil, fmt.Errorf("%w: restriction %d is already %s", curfew.ErrConflict, id, st)
		}
		r.Lifted, r.LiftedBy, r.LiftReason = now, actor.Name, strings.TrimSpace(reason)
		return &audit.Fields{End: r.End}, &audit.Fields{Lifted: r.Lifted, LiftedBy: r.LiftedBy}, nil
	})
}

// Extend implements [curfew.Service].
func (e *Engine) Extend(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, id, reason, audit.KindRestrictionExtended, func(r *curfew.Restriction, _ curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
		newEnd, err := r.ExtendedEnd(now, end, d)
		if err != nil {
			return nil, nil, err
		}
		old := r.End
		r.End = newEnd
		return &audit.Fields{End: old}, &audit.Fields{End: newEnd}, nil
	})
}

// change applies edit to restriction id on behalf of the operator in ctx,
// stores it with an audit event of kind carrying reason and the fields
// edit returns, and enforces the result. It edits the restriction as the
// engine enforces it, never a row changed behind its back.
func (e *Engine) change(ctx context.Context, id curfew.RestrictionID, reason string, kind audit.Kind,
	edit func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error)) (*curfew.Restriction, error) {
	actor, err := curfew.Require(ctx, curfew.RoleOperator)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, prev, err := e.openRestrictionLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	now := e.now().UTC()
	before, after, err := edit(r, actor, now)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	ev := &audit.Event{At: now, Kind: kind, Actor: actor.Name, Subject: r.Subject.String(), Restriction: id, Reason: reason, Before: before, After: after}
	if err := e.updateRestriction(ctx, prev, r, ev); err != nil {
		return nil, fmt.Errorf("storing %s: %w", kind, err)
	}
	e.logger.InfoContext(ctx, "restriction changed", "kind", kind, "restriction_id", id,
		"ends_at", r.EffectiveEnd(), "actor", actor.Name)
	return r, e.enforceLocked(ctx, r)
}

// Restriction implements [curfew.Service].
func (e *Engine) Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
	if _, err := curfew.Require(ctx, curfew.RoleViewer); err != nil {
		return nil, err
	}
	return e.store.Restriction(ctx, id)
}

// Restrictions implements [curfew.Service].
func (e *Engine) Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	if _, err := curfew.Require(ctx, curfew.RoleViewer); err != nil {
		return nil, err
	}
	rs, err := e.store.Restrictions(ctx, f)
	if err != nil || f.All {
		return rs, err
	}
	// A restriction whose end has passed but whose expiry is not recorded
	// yet (the reconcile is a moment away) is not current.
	now := e.now()
	cur := rs[:0]
	for _, r := range rs {
		if !r.Over(now) {
			cur = append(cur, r)
		}
	}
	return cur, nil
}

// AddDevice implements [curfew.Service]. Devices owned by a restricted
// person are restricted as soon as they are added.
func (e *Engine) AddDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	actor, err := curfew.Require(ctx, curfew.RoleOperator)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now().UTC()
	dev := *d
	dev.Created = now
	if dev.Owner != "" {
		if _, err := e.store.Person(ctx, dev.Owner); err != nil {
			if errors.Is(err, curfew.ErrNotFound) {
				return nil, fmt.Errorf("%w: owner %q: no such person (add it with `curfew person add %s`)", curfew.ErrInvalid, dev.Owner, dev.Owner)
			}
			return nil, fmt.Errorf("looking up owner: %w", err)
		}
	}
	ev := &audit.Event{At: now, Kind: audit.KindDeviceAdded, Actor: actor.Name, Subject: audit.DeviceSubject(&dev), After: audit.DeviceFields(&dev)}
	if err := e.store.CreateDevice(ctx, &dev, ev); err != nil {
		return nil, fmt.Errorf("storing device: %w", err)
	}
	e.logger.InfoContext(ctx, "device added", "mac", dev.MAC.String(), "owner", dev.Owner, "actor", actor.Name)
	return &dev, e.enforceLocked(ctx, &dev)
}

// Devices implements [curfew.Service].
func (e *Engine) Devices(ctx context.Context) ([]*curfew.Device, error) {
	if _, err := curfew.Require(ctx, curfew.RoleViewer); err != nil {
		return nil, err
	}
	return e.store.Devices(ctx)
}

// AddPerson implements [curfew.Service].
func (e *Engine) AddPerson(ctx context.Context, name string) (*curfew.Person, error) {
	actor, err := curfew.Require(ctx, curfew.RoleOperator)
	if err != nil {
		return nil, err
	}
	if err := curfew.ValidateName(name); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now().UTC()
	p := &curfew.Person{Name: name, Created: now}
	ev := &audit.Event{At: now, Kind: audit.KindPersonAdded, Actor: actor.Name, Subject: curfew.Subject{Kind: curfew.SubjectPerson, Name: name}.String()}
	if err := e.store.CreatePerson(ctx, p, ev); err != nil {
		return nil, fmt.Errorf("storing person: %w", err)
	}
	e.logger.InfoContext(ctx, "person added", "person", name, "actor", actor.Name)
	return p, nil
}

// Persons implements [curfew.Service].
func (e *Engine) Persons(ctx context.Context) ([]*curfew.Person, error) {
	if _, err := curfew.Require(ctx, curfew.RoleViewer); err != nil {
		return nil, err
	}
	return e.store.Persons(ctx)
}

// CreateToken implements [curfew.Service].
func (e *Engine) CreateToken(ctx context.Context, name string, role curfew.Role) (string, error) {
	actor, err := curfew.Require(ctx, curfew.RoleAdmin)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.createTokenLocked(ctx, actor.Name, name, role)
}

// Bootstrap creates the first admin token, named name, for `curfew init`.
// It fails with curfew.ErrConflict if a token by that name exists.
func (e *Engine) Bootstrap(ctx context.Context, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.createTokenLocked(ctx, audit.System, name, curfew.RoleAdmin)
}

func (e *Engine) createTokenLocked(ctx context.Context, actor string, name string, role curfew.Role) (string, error) {
	if err := curfew.ValidateName(name); err != nil {
		return "", fmt.Errorf("token name: %w", err)
	}
	if _, err := curfew.ParseRole(string(role)); err != nil {
		return "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	now := e.now().UTC()
	t := &curfew.Token{Name: name, Role: role, Created: now}
	ev := &audit.Event{At: now, Kind: audit.KindTokenCreated, Actor: actor, After: &audit.Fields{Token: name, Role: string(role)}}
	if err := e.store.CreateToken(ctx, t, HashToken(secret), ev); err != nil {
		return "", fmt.Errorf("storing token: %w", err)
	}
	e.logger.InfoContext(ctx, "token created", "token", name, "role", role, "actor", actor)
	return secret, nil
}

// tokenPrefix marks curfew tokens, so a leaked one is easy to recognise.
const tokenPrefix = "cft_"

// HashToken returns the SHA-256 of a token secret, the only form stored.
// Secrets are 256 random bits, so a fast hash is enough.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Authenticate returns the operator whose token secret is given, or an
// error wrapping curfew.ErrUnauthenticated.
func (e *Engine) Authenticate(ctx context.Context, secret string) (curfew.Actor, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return curfew.Actor{}, fmt.Errorf("%w: malformed token", curfew.ErrUnauthenticated)
	}
	t, err := e.store.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, curfew.ErrNotFound) {
		return curfew.Actor{}, fmt.Errorf("%w: unknown token", curfew.ErrUnauthenticated)
	}
	if err != nil {
		return curfew.Actor{}, fmt.Errorf("looking up token: %w", err)
	}
	return curfew.Actor{Name: t.Name, Role: t.Role}, nil
}
