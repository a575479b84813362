package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// RemoveDevice implements [curfew.Service]. Restrictions on the device's
// MAC stay and keep applying to it; those on its owner and its groups stop
// covering it at once.
func (e *Engine) RemoveDevice(ctx context.Context, mac net.HardwareAddr, reason string) (*curfew.Device, error) {
	actor, err := curfew.Permit(ctx, curfew.OpRemoveDevice)
	if err != nil {
		return nil, err
	}
	if _, err := curfew.ParseMAC(mac.String()); err != nil {
		return nil, err
	}
	reason, err = checkReason(reason)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.removedAlready(ctx, actor.Name, curfew.ActionRemoveDevice); err != nil {
		return nil, err
	}
	d, err := e.store.Device(ctx, mac)
	if err != nil {
		if errors.Is(err, curfew.ErrNotFound) {
			return nil, fmt.Errorf("%w: device %s is not registered", curfew.ErrNotFound, mac)
		}
		return nil, err
	}
	now := e.now().UTC()
	ev := &audit.Event{At: now, Actor: actor.Name, Kind: audit.KindDeviceRemoved, Subject: audit.DeviceSubject(d), Reason: reason,
		Before: audit.DeviceFields(d)}
	if err := e.store.DeleteDevice(ctx, d.MAC, ev); err != nil {
		return nil, fmt.Errorf("removing device: %w", err)
	}
	e.forgetNames()
	e.logger.InfoContext(ctx, "device removed", "mac", d.MAC.String(), "owner", d.Owner, "actor", actor.Name)
	var touched curfew.Targets
	if e.idx != nil {
		e.idx.DeleteDevice(d.MAC)
		touched.AddMAC(d.MAC)
		e.reloadGroupsLocked(ctx, curfew.Subject{Kind: curfew.SubjectDevice, MAC: d.MAC}, &touched)
	}
	if err := e.reconcileLocked(touched); err != nil {
		return d, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return d, nil
}

// RemovePerson implements [curfew.Service]. It is refused while a
// restriction that is not over (pending, scheduled or in force) names the
// person, so that removing a person never lifts a restriction unseen. The
// person's devices stay registered, without owner.
func (e *Engine) RemovePerson(ctx context.Context, name, reason string) (*curfew.Person, error) {
	actor, err := curfew.Permit(ctx, curfew.OpRemovePerson)
	if err != nil {
		return nil, err
	}
	if err := curfew.ValidateName(name); err != nil {
		return nil, err
	}
	reason, err = checkReason(reason)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.removedAlready(ctx, actor.Name, curfew.ActionRemovePerson); err != nil {
		return nil, err
	}
	p, err := e.store.Person(ctx, name)
	if err != nil {
		if errors.Is(err, curfew.ErrNotFound) {
			return nil, fmt.Errorf("%w: no such person %q", curfew.ErrNotFound, name)
		}
		return nil, err
	}
	rs, err := e.store.Restrictions(ctx, curfew.RestrictionFilter{})
	if err != nil {
		return nil, fmt.Errorf("loading restrictions: %w", err)
	}
	now := e.now().UTC()
	var naming []string
	for _, r := range rs {
		if r.Subject.Kind == curfew.SubjectPerson && r.Subject.Name == name && !r.Over(now) {
			naming = append(naming, fmt.Sprint(r.ID))
		}
	}
	if len(naming) > 0 {
		return nil, fmt.Errorf("%w: person %s is named by restriction %s; lift it or let it end first",
			curfew.ErrConflict, name, strings.Join(naming, ", "))
	}
	devices, err := e.store.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading devices: %w", err)
	}
	var owned []*curfew.Device
	for _, d := range devices {
		if d.Owner == name {
			owned = append(owned, d)
		}
	}
	ev := &audit.Event{At: now, Actor: actor.Name, Kind: audit.KindPersonRemoved, Reason: reason,
		Subject: curfew.Subject{Kind: curfew.SubjectPerson, Name: name}.String(), Before: &audit.Fields{Name: name}}
	if err := e.store.DeletePerson(ctx, name, ev); err != nil {
		return nil, fmt.Errorf("removing person: %w", err)
	}
	e.logger.InfoContext(ctx, "person removed", "person", name, "devices", len(owned), "actor", actor.Name)
	var touched curfew.Targets
	if e.idx != nil {
		for _, d := range owned {
			dev := *d
			dev.Owner = ""
			e.idx.PutDevice(&dev)
			touched.AddMAC(d.MAC)
		}
		e.reloadGroupsLocked(ctx, curfew.Subject{Kind: curfew.SubjectPerson, Name: name}, &touched)
	}
	if err := e.reconcileLocked(touched); err != nil {
		return p, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return p, nil
}

// reloadGroupsLocked brings the index's copy of the groups that held
// member up to date from the store, which removed it, adding the devices
// whose restrictions change to touched. If the store cannot be read, the
// index is dropped, so that the next reconcile loads everything. e.mu must
// be held.
func (e *Engine) reloadGroupsLocked(ctx context.Context, member curfew.Subject, touched *curfew.Targets) {
	for _, name := range e.idx.GroupsOf(member) {
		g, err := e.store.Group(ctx, name)
		if err != nil {
			e.logger.ErrorContext(ctx, "reading a group back", "group", name, "err", err)
			e.idx = nil
			return
		}
		e.idx.PutGroup(g, touched)
	}
}

// checkReason trims reason and checks it as a restriction's reason.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return "", err
	}
	return reason, nil
}

// removedAlready refuses, with curfew.ErrConflict, a retry of a removal
// that was made: what it removed is gone, so its answer cannot be given
// again, but the retry is told the removal happened. It returns an error
// wrapping curfew.ErrKeyReused for a key used for another request, and
// nil for a request to be carried out. e.mu must be held.
func (e *Engine) removedAlready(ctx context.Context, actor string, action curfew.Action) error {
	prev, err := curfew.Repeated(ctx, e.store.Request, actor, action)
	if err != nil || prev == nil {
		return err
	}
	return fmt.Errorf("%w: %s was removed by this request (idempotency key %q) at %s; its answer was lost, the removal was not",
		curfew.ErrConflict, prev.Target, prev.Key, prev.Created.UTC().Format(time.RFC3339))
}

// AddGroup implements [curfew.Service].
func (e *Engine) AddGroup(ctx context.Context, name string) (*curfew.Group, error) {
	actor, err := curfew.Permit(ctx, curfew.OpAddGroup)
	if err != nil {
		return nil, err
	}
	if err := curfew.ValidateName(name); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionGroup); {
	case err != nil:
		return nil, err
	case prev != nil:
		return e.store.Group(ctx, strings.TrimPrefix(prev.Target, "group:"))
	}
	now := e.now().UTC()
	g := &curfew.Group{Name: name, Created: now}
	ev := &audit.Event{At: now, Actor: actor.Name, Kind: audit.KindGroupAdded,
		Subject: curfew.Subject{Kind: curfew.SubjectGroup, Name: name}.String(), After: &audit.Fields{Name: name, Created: now}}
	if err := e.store.CreateGroup(ctx, g, ev); err != nil {
		return nil, fmt.Errorf("storing group: %w", err)
	}
	e.logger.InfoContext(ctx, "group added", "group", name, "actor", actor.Name)
	if e.idx != nil {
		e.idx.PutGroup(g, nil)
	}
	return g, nil
}

// AddGroupMember implements [curfew.Service]. A person member must be
// registered; a device member need not be, as for a device: subject.
func (e *Engine) AddGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	return e.changeGroup(ctx, name, member, true)
}

// RemoveGroupMember implements [curfew.Service].
func (e *Engine) RemoveGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	return e.changeGroup(ctx, name, member, false)
}

func (e *Engine) changeGroup(ctx context.Context, name string, member curfew.Subject, add bool) (*curfew.Group, error) {
	actor, err := curfew.Permit(ctx, curfew.OpGroupMember)
	if err != nil {
		return nil, err
	}
	if err := curfew.ValidateName(name); err != nil {
		return nil, err
	}
	if err := curfew.CheckMember(member); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	action := curfew.ActionGroupLeave
	if add {
		action = curfew.ActionGroupMember
	}
	switch prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, action); {
	case err != nil:
		return nil, err
	case prev != nil:
		return e.store.Group(ctx, strings.TrimPrefix(prev.Target, "group:"))
	}
	if _, err := e.store.Group(ctx, name); err != nil {
		if errors.Is(err, curfew.ErrNotFound) {
			return nil, fmt.Errorf("%w: no such group %q (add it with `curfew group add %s`)", curfew.ErrNotFound, name, name)
		}
		return nil, err
	}
	now := e.now().UTC()
	ev := &audit.Event{At: now, Actor: actor.Name, Subject: curfew.Subject{Kind: curfew.SubjectGroup, Name: name}.String(),
		After: &audit.Fields{Member: member.String()}}
	if add {
		if member.Kind == curfew.SubjectPerson {
			if _, err := e.store.Person(ctx, member.Name); errors.Is(err, curfew.ErrNotFound) {
				return nil, fmt.Errorf("%w: member %s: no such person (add it with `curfew person add %s`)", curfew.ErrNotFound, member, member.Name)
			}
		}
		ev.Kind = audit.KindGroupMemberAdded
		err = e.store.AddGroupMember(ctx, name, member, now, ev)
	} else {
		ev.Kind = audit.KindGroupMemberRemoved
		err = e.store.RemoveGroupMember(ctx, name, member, ev)
	}
	if err != nil {
		return nil, fmt.Errorf("storing group %s: %w", name, err)
	}
	g, err := e.store.Group(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading group %s back: %w", name, err)
	}
	e.logger.InfoContext(ctx, "group changed", "group", name, "member", member.String(), "added", add, "actor", actor.Name)
	var touched curfew.Targets
	if e.idx != nil {
		e.idx.PutGroup(g, &touched)
	}
	if err := e.reconcileLocked(touched); err != nil {
		return g, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return g, nil
}

// Groups implements [curfew.Service].
func (e *Engine) Groups(ctx context.Context) ([]*curfew.Group, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.Groups(ctx)
}
