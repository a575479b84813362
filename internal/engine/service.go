package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Restrict implements [curfew.Service]. It returns once the new
// restriction is stored, audited and enforced, or, if the approval policy
// makes it wait for a second operator, stored and audited as pending. An
// ip: subject holding one of the gateway's own addresses is refused, and
// so is anything RestrictRequest.Restriction refuses; a refused request
// leaves no trace.
//
// Restrict and every other change of the engine honour the request key
// of ctx (curfew.WithRequestKey): a retry of a change that was stored,
// its answer lost in a crash or a dropped connection, changes nothing and
// returns what the change made or changed, as it is now; a key the
// operator used for another request is refused with curfew.ErrKeyReused.
func (e *Engine) Restrict(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
	actor, err := curfew.Permit(ctx, curfew.OpRestrict)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionRestrict); err != nil || prev != nil {
		return e.repeatedRestriction(ctx, prev, err)
	}
	now := e.now().UTC()
	r, err := req.Restriction(now, actor.Name)
	if err != nil {
		return nil, err
	}
	if err := e.checkSubjectLocked(ctx, r.Subject); err != nil {
		return nil, err
	}
	if e.approval.Requires(r.Mode, r.Start, r.End) {
		r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: actor.Name}
	}
	after := audit.RestrictionFields(r)
	after.Reason, after.Force = "", r.Subject.Wide() // the reason is the event's; a prefix that wide needs force
	ev := &audit.Event{At: now, Kind: audit.KindRestrictionCreated, Actor: actor.Name, Subject: r.Subject.String(), Reason: r.Reason, After: after}
	if err := e.store.CreateRestriction(ctx, r, ev); err != nil {
		return nil, fmt.Errorf("storing restriction: %w", err)
	}
	e.unapplied[r.ID] = r
	e.logger.InfoContext(ctx, "restriction created", "restriction_id", r.ID, "subject", r.Subject.String(),
		"mode", r.Mode, "ends_at", r.End, "actor", actor.Name, "pending", r.Approval.Pending())
	return r, e.enforceLocked(r)
}

// repeatedRestriction answers a retry of the change prev records with the
// restriction it made or changed, as it is now, or fails with err, the
// error of curfew.Repeated.
func (e *Engine) repeatedRestriction(ctx context.Context, prev *curfew.KeyedRequest, err error) (*curfew.Restriction, error) {
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(prev.Target, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("repeating %s with key %q: its target %q is not a restriction", prev.Action, prev.Key, prev.Target)
	}
	e.logger.InfoContext(ctx, "request repeated", "action", prev.Action, "restriction_id", id, "actor", prev.Actor)
	return e.store.Restriction(ctx, curfew.RestrictionID(id))
}

// enforceLocked reconciles after a command that stored changed (a
// restriction or a device). The command itself is stored and audited; a
// failure to enforce it is reported to the caller, and the engine keeps
// retrying. The reconcile runs on the engine's context, not the caller's:
// once the command is stored, it is enforced even if the caller has gone.
func (e *Engine) enforceLocked(changed any) error {
	var touched curfew.Targets
	if e.idx != nil {
		switch c := changed.(type) {
		case *curfew.Restriction:
			e.idx.Put(c)
			e.idx.Add(&touched, c)
		case *curfew.Device:
			e.idx.PutDevice(c)
			touched.AddMAC(c.MAC)
		}
	}
	if err := e.reconcileLocked(touched); err != nil {
		return fmt.Errorf("stored, but enforcing: %w", err)
	}
	return nil
}

// Lift implements [curfew.Service].
func (e *Engine) Lift(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, curfew.OpLift, id, reason, audit.KindRestrictionLifted, func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
		if st := r.StatusAt(now); st == curfew.StatusLifted || st == curfew.StatusExpired || st == curfew.StatusRejected {
			return nil, nil, fmt.Errorf("%w: restriction %d is already %s", curfew.ErrConflict, id, st)
		}
		r.Lifted, r.LiftedBy, r.LiftReason = now, actor.Name, strings.TrimSpace(reason)
		return &audit.Fields{End: r.End}, &audit.Fields{Lifted: r.Lifted, LiftedBy: r.LiftedBy}, nil
	})
}

// Extend implements [curfew.Service]. An extension that makes the
// restriction last longer than the approval policy allows without a second
// operator does not move its end: it waits for one (Approve), and the
// restriction stays enforced until its current end meanwhile, so four eyes
// cannot be bypassed by restricting briefly and extending. Any extension
// replaces one that waits. A restriction that itself waits cannot be
// extended.
func (e *Engine) Extend(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, curfew.OpExtend, id, reason, audit.KindRestrictionExtended, func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
		newEnd, err := r.ExtendedEnd(now, end, d)
		if err != nil {
			return nil, nil, err
		}
		before = audit.ApprovalFields(r.End, r.Approval)
		if r.Approval.Pending() && r.Approval.Extension() {
			r.Approval = curfew.Approval{} // replaced by this one
		}
		if newEnd.After(r.End) && e.approval.Requires(r.Mode, r.Start, newEnd) {
			r.RequestExtension(actor.Name, newEnd) // the end stays until a second operator approves
		} else {
			r.End = newEnd
		}
		return before, audit.ApprovalFields(r.End, r.Approval), nil
	})
}

// Approve implements [curfew.Service]. Approving a restriction that waits
// enforces it before Approve returns (from its start, if that is still to
// come); approving an extension moves the end.
func (e *Engine) Approve(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, curfew.OpApprove, id, reason, audit.KindRestrictionApproved, e.decide(true, reason))
}

// Reject implements [curfew.Service].
func (e *Engine) Reject(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return e.change(ctx, curfew.OpReject, id, reason, audit.KindRestrictionRejected, e.decide(false, reason))
}

// decide returns the edit of a second operator's decision for change: the
// event records the end and the approval before and after it.
func (e *Engine) decide(approve bool, reason string) func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
	return func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error) {
		before = audit.ApprovalFields(r.End, r.Approval)
		if err := r.Decide(now, actor.Name, approve, reason); err != nil {
			return nil, nil, err
		}
		return before, audit.ApprovalFields(r.End, r.Approval), nil
	}
}

// change applies edit to restriction id on behalf of the operator in ctx,
// if op permits it, stores it with an audit event of kind carrying reason
// and the fields edit returns, and enforces the result. It edits the
// restriction as the engine enforces it, never a row changed behind its
// back.
func (e *Engine) change(ctx context.Context, op curfew.Op, id curfew.RestrictionID, reason string, kind audit.Kind,
	edit func(r *curfew.Restriction, actor curfew.Actor, now time.Time) (before, after *audit.Fields, err error)) (*curfew.Restriction, error) {
	actor, err := curfew.Permit(ctx, op)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.Action(kind)); err != nil || prev != nil {
		return e.repeatedRestriction(ctx, prev, err)
	}
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
	if _, waiting := e.unapplied[id]; waiting || kind == audit.KindRestrictionApproved && !r.Approval.Extension() {
		e.unapplied[id] = r // its enforcement is recorded as this version of it
	}
	e.logger.InfoContext(ctx, "restriction changed", "kind", kind, "restriction_id", id,
		"ends_at", r.EffectiveEnd(), "actor", actor.Name)
	if r.Schedule != 0 {
		e.windowsStale = true // a lifted window is not the kernel's to open again
	}
	return r, e.enforceLocked(r)
}

// Restriction implements [curfew.Service].
func (e *Engine) Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.Restriction(ctx, id)
}

// Restrictions implements [curfew.Service].
func (e *Engine) Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
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
	return e.addDevice(ctx, d, curfew.OpAddDevice, curfew.ActionDevice)
}

// ApproveDevice implements [curfew.Service]: AddDevice of a device with an
// owner, audited as an approval.
func (e *Engine) ApproveDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	if _, err := curfew.Permit(ctx, curfew.OpApproveDevice); err != nil {
		return nil, err
	}
	if d.Owner == "" {
		return nil, fmt.Errorf("%w: approving a device needs its owner", curfew.ErrInvalid)
	}
	return e.addDevice(ctx, d, curfew.OpApproveDevice, curfew.ActionApproveDevice)
}

func (e *Engine) addDevice(ctx context.Context, d *curfew.Device, op curfew.Op, action curfew.Action) (*curfew.Device, error) {
	actor, err := curfew.Permit(ctx, op)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, action); {
	case err != nil:
		return nil, err
	case prev != nil:
		mac, err := curfew.ParseMAC(prev.Target)
		if err != nil {
			return nil, fmt.Errorf("repeating %s with key %q: %w", prev.Action, prev.Key, err)
		}
		return e.store.Device(ctx, mac)
	}
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
	ev := &audit.Event{At: now, Kind: audit.Kind(action), Actor: actor.Name, Subject: audit.DeviceSubject(&dev), After: audit.DeviceFields(&dev)}
	if err := e.store.CreateDevice(ctx, &dev, ev); err != nil {
		return nil, fmt.Errorf("storing device: %w", err)
	}
	e.forgetNames()
	e.logger.InfoContext(ctx, "device added", "mac", dev.MAC.String(), "owner", dev.Owner, "actor", actor.Name)
	e.windowsStale = true // a scheduled person's new device
	return &dev, e.enforceLocked(&dev)
}

// Devices implements [curfew.Service]. Each device carries what the
// gateway has learned of it (Config.Learned).
func (e *Engine) Devices(ctx context.Context) ([]*curfew.Device, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	ds, err := e.store.Devices(ctx)
	if err != nil || e.learned == nil {
		return ds, err
	}
	learned := e.learned()
	for _, d := range ds {
		d.Learned = learned[d.MAC.String()]
	}
	return ds, nil
}

// FindDevices implements [curfew.Service]. Each device carries what the
// gateway has learned of it (Config.Learned).
func (e *Engine) FindDevices(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	page, err := e.store.FindDevices(ctx, q)
	if err != nil || e.learned == nil {
		return page, err
	}
	learned := e.learned()
	for _, d := range page.Devices {
		d.Learned = learned[d.MAC.String()]
	}
	return page, nil
}

// AddPerson implements [curfew.Service].
func (e *Engine) AddPerson(ctx context.Context, name string) (*curfew.Person, error) {
	actor, err := curfew.Permit(ctx, curfew.OpAddPerson)
	if err != nil {
		return nil, err
	}
	if err := curfew.ValidateName(name); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionPerson); {
	case err != nil:
		return nil, err
	case prev != nil:
		return e.store.Person(ctx, prev.Target)
	}
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
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.Persons(ctx)
}

// FindPersons implements [curfew.Service].
func (e *Engine) FindPersons(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.FindPersons(ctx, q)
}
