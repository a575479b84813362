// Package apitest provides test doubles for code that serves or consumes a
// curfew.Service and curfew.Accounts over the API: a FakeService and
// FakeAccounts with one func field per method, which record every call.
package apitest

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// FakeService implements curfew.Service by calling its func fields. Calling
// a method whose field is nil panics, and the stack trace names the method.
// Every call is recorded, before the func runs, in Calls.
type FakeService struct {
	RestrictFunc          func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error)
	LiftFunc              func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error)
	ExtendFunc            func(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error)
	ApproveFunc           func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error)
	RejectFunc            func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error)
	RestrictionFunc       func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error)
	RestrictionsFunc      func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error)
	AddDeviceFunc         func(ctx context.Context, d *curfew.Device) (*curfew.Device, error)
	DevicesFunc           func(ctx context.Context) ([]*curfew.Device, error)
	ApproveDeviceFunc     func(ctx context.Context, d *curfew.Device) (*curfew.Device, error)
	SeenDevicesFunc       func(ctx context.Context) ([]*curfew.SeenDevice, error)
	FindDevicesFunc       func(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error)
	FindPersonsFunc       func(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error)
	RemoveDeviceFunc      func(ctx context.Context, mac net.HardwareAddr, reason string) (*curfew.Device, error)
	AddPersonFunc         func(ctx context.Context, name string) (*curfew.Person, error)
	RemovePersonFunc      func(ctx context.Context, name, reason string) (*curfew.Person, error)
	PersonsFunc           func(ctx context.Context) ([]*curfew.Person, error)
	AddGroupFunc          func(ctx context.Context, name string) (*curfew.Group, error)
	AddGroupMemberFunc    func(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error)
	RemoveGroupMemberFunc func(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error)
	GroupsFunc            func(ctx context.Context) ([]*curfew.Group, error)
	ExportAuditFunc       func(ctx context.Context, from int64, w io.Writer) error
	AuditKeyFunc          func(ctx context.Context) (ed25519.PublicKey, error)
	VerifyAuditFunc       func(ctx context.Context) (*curfew.AuditReport, error)
	CheckpointFunc        func(ctx context.Context) (curfew.Checkpoint, error)
	AppealsFunc           func(ctx context.Context) ([]*curfew.Appeal, error)
	AnswerAppealFunc      func(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error)
	AddScheduleFunc       func(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error)
	RemoveScheduleFunc    func(ctx context.Context, id curfew.ScheduleID, reason string) (*curfew.Schedule, error)
	SchedulesFunc         func(ctx context.Context, f curfew.ScheduleFilter) ([]*curfew.Schedule, error)

	mu    sync.Mutex // guards calls
	calls []string   // method names, in call order
}

var _ curfew.Service = (*FakeService)(nil)

func (f *FakeService) record(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
}

// Calls returns the names of the methods called so far, in order.
func (f *FakeService) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Restrict implements [curfew.Service].
func (f *FakeService) Restrict(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
	f.record("Restrict")
	return f.RestrictFunc(ctx, req)
}

// AddSchedule implements [curfew.Service].
func (f *FakeService) AddSchedule(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error) {
	f.record("AddSchedule")
	return f.AddScheduleFunc(ctx, req)
}

// RemoveSchedule implements [curfew.Service].
func (f *FakeService) RemoveSchedule(ctx context.Context, id curfew.ScheduleID, reason string) (*curfew.Schedule, error) {
	f.record("RemoveSchedule")
	return f.RemoveScheduleFunc(ctx, id, reason)
}

// Schedules implements [curfew.Service].
func (f *FakeService) Schedules(ctx context.Context, fl curfew.ScheduleFilter) ([]*curfew.Schedule, error) {
	f.record("Schedules")
	return f.SchedulesFunc(ctx, fl)
}

// Lift implements [curfew.Service].
func (f *FakeService) Lift(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	f.record("Lift")
	return f.LiftFunc(ctx, id, reason)
}

// Extend implements [curfew.Service].
func (f *FakeService) Extend(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
	f.record("Extend")
	return f.ExtendFunc(ctx, id, end, d, reason)
}

// Approve implements [curfew.Service].
func (f *FakeService) Approve(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	f.record("Approve")
	return f.ApproveFunc(ctx, id, reason)
}

// Reject implements [curfew.Service].
func (f *FakeService) Reject(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	f.record("Reject")
	return f.RejectFunc(ctx, id, reason)
}

// Restriction implements [curfew.Service].
func (f *FakeService) Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
	f.record("Restriction")
	return f.RestrictionFunc(ctx, id)
}

// Restrictions implements [curfew.Service].
func (f *FakeService) Restrictions(ctx context.Context, filter curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	f.record("Restrictions")
	return f.RestrictionsFunc(ctx, filter)
}

// AddDevice implements [curfew.Service].
func (f *FakeService) AddDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	f.record("AddDevice")
	return f.AddDeviceFunc(ctx, d)
}

// Devices implements [curfew.Service].
func (f *FakeService) Devices(ctx context.Context) ([]*curfew.Device, error) {
	f.record("Devices")
	return f.DevicesFunc(ctx)
}

// AddPerson implements [curfew.Service].
func (f *FakeService) AddPerson(ctx context.Context, name string) (*curfew.Person, error) {
	f.record("AddPerson")
	return f.AddPersonFunc(ctx, name)
}

// Persons implements [curfew.Service].
func (f *FakeService) Persons(ctx context.Context) ([]*curfew.Person, error) {
	f.record("Persons")
	return f.PersonsFunc(ctx)
}

// ExportAudit implements [curfew.Service].
func (f *FakeService) ExportAudit(ctx context.Context, from int64, w io.Writer) error {
	f.record("ExportAudit")
	return f.ExportAuditFunc(ctx, from, w)
}

// AuditKey implements [curfew.Service].
func (f *FakeService) AuditKey(ctx context.Context) (ed25519.PublicKey, error) {
	f.record("AuditKey")
	return f.AuditKeyFunc(ctx)
}

// ApproveDevice implements [curfew.Service].
func (f *FakeService) ApproveDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	f.record("ApproveDevice")
	return f.ApproveDeviceFunc(ctx, d)
}

// SeenDevices implements [curfew.Service].
func (f *FakeService) SeenDevices(ctx context.Context) ([]*curfew.SeenDevice, error) {
	f.record("SeenDevices")
	return f.SeenDevicesFunc(ctx)
}

// FindDevices implements [curfew.Service].
func (f *FakeService) FindDevices(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error) {
	f.record("FindDevices")
	return f.FindDevicesFunc(ctx, q)
}

// FindPersons implements [curfew.Service].
func (f *FakeService) FindPersons(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error) {
	f.record("FindPersons")
	return f.FindPersonsFunc(ctx, q)
}

// RemoveDevice implements [curfew.Service].
func (f *FakeService) RemoveDevice(ctx context.Context, mac net.HardwareAddr, reason string) (*curfew.Device, error) {
	f.record("RemoveDevice")
	return f.RemoveDeviceFunc(ctx, mac, reason)
}

// RemovePerson implements [curfew.Service].
func (f *FakeService) RemovePerson(ctx context.Context, name, reason string) (*curfew.Person, error) {
	f.record("RemovePerson")
	return f.RemovePersonFunc(ctx, name, reason)
}

// AddGroup implements [curfew.Service].
func (f *FakeService) AddGroup(ctx context.Context, name string) (*curfew.Group, error) {
	f.record("AddGroup")
	return f.AddGroupFunc(ctx, name)
}

// AddGroupMember implements [curfew.Service].
func (f *FakeService) AddGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	f.record("AddGroupMember")
	return f.AddGroupMemberFunc(ctx, name, member)
}

// RemoveGroupMember implements [curfew.Service].
func (f *FakeService) RemoveGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	f.record("RemoveGroupMember")
	return f.RemoveGroupMemberFunc(ctx, name, member)
}

// Groups implements [curfew.Service].
func (f *FakeService) Groups(ctx context.Context) ([]*curfew.Group, error) {
	f.record("Groups")
	return f.GroupsFunc(ctx)
}

// VerifyAudit implements [curfew.Service].
func (f *FakeService) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	f.record("VerifyAudit")
	return f.VerifyAuditFunc(ctx)
}

// AuditCheckpoint implements [curfew.Service].
func (f *FakeService) AuditCheckpoint(ctx context.Context) (curfew.Checkpoint, error) {
	f.record("AuditCheckpoint")
	return f.CheckpointFunc(ctx)
}

// Appeals implements [curfew.Service].
func (f *FakeService) Appeals(ctx context.Context) ([]*curfew.Appeal, error) {
	f.record("Appeals")
	return f.AppealsFunc(ctx)
}

// AnswerAppeal implements [curfew.Service].
func (f *FakeService) AnswerAppeal(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
	f.record("AnswerAppeal")
	return f.AnswerAppealFunc(ctx, id, text)
}

// Tokens is an Authenticator (in the sense of api.Authenticator) backed by
// a map from secret to operator.
type Tokens map[string]curfew.Actor

// Authenticate returns the operator of secret, or an error wrapping
// curfew.ErrUnauthenticated, wherever it comes from.
func (t Tokens) Authenticate(ctx context.Context, _ netip.Addr, secret string) (curfew.Actor, error) {
	a, ok := t[secret]
	if !ok {
		return curfew.Actor{}, curfew.ErrUnauthenticated
	}
	return a, nil
}
