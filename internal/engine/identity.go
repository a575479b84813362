package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

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
	d, err := e.store.Device(ctx, mac)
	if err != nil {
		if errors.Is(err, curfew.ErrNotFound) {
			return nil, fmt.Errorf("%w: device %s is not registered", curfew.ErrNotFound, mac)
		}
		return nil, err
	}
	now := e.now().UTC()
	detail := "device " + d.MAC.String()
	if d.Name != "" {
		detail += fmt.Sprintf(" name %q", d.Name)
	}
	if d.Owner != "" {
		detail += " owner " + d.Owner
	}
	a := &curfew.AuditEntry{At: now, Actor: actor.Name, Action: curfew.ActionRemoveDevice, Target: d.MAC.String(), Reason: reason, Detail: detail}
	if err := e.store.DeleteDevice(ctx, d.MAC, a); err != nil {
		return nil, fmt.Errorf("removing device: %w", err)
	}
	e.logger.InfoContext(ctx, "device removed", "mac", d.MAC.String(), "owner", d.Owner, "actor", actor.Name)
	var touched curfew.Targets
	if e.idx != nil {
		e.idx.DeleteDevice(d.MAC)
		touched.AddMAC(d.MAC)
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
	detail := "person " + name
	for _, d := range devices {
		if d.Owner == name {
			owned = append(owned, d)
		}
	}
	if len(owned) > 0 {
		macs := make([]string, len(owned))
		for i, d := range owned {
			macs[i] = d.MAC.String()
		}
		detail += "; its devices stay registered without owner: " + strings.Join(macs, ", ")
	}
	a := &curfew.AuditEntry{At: now, Actor: actor.Name, Action: curfew.ActionRemovePerson, Target: name, Reason: reason, Detail: detail}
	if err := e.store.DeletePerson(ctx, name, a); err != nil {
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
	}
	if err := e.reconcileLocked(touched); err != nil {
		return p, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return p, nil
}

// checkReason trims reason and checks it as a restriction's reason.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return "", err
	}
	return reason, nil
}
