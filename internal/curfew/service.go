package curfew

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"time"
)

// Service is what operators can do with curfew. The engine implements it
// against the store and the enforcers; api.Client implements it over HTTP.
// Every method takes the acting operator from the context (WithActor) and
// fails with ErrUnauthenticated or ErrForbidden if the role is not enough.
type Service interface {
	// Restrict creates a restriction and enforces it before returning,
	// unless it waits for a second operator (Approve).
	Restrict(ctx context.Context, req RestrictRequest) (*Restriction, error)
	// Lift ends restriction id now.
	Lift(ctx context.Context, id RestrictionID, reason string) (*Restriction, error)
	// Extend moves the end of restriction id: to end, or later by d.
	Extend(ctx context.Context, id RestrictionID, end time.Time, d time.Duration, reason string) (*Restriction, error)
	// Approve is a second operator's yes to what restriction id waits
	// for: the restriction itself, enforced before Approve returns, or a
	// lengthening of it. The operator who asked for it may not approve
	// it (ErrForbidden).
	Approve(ctx context.Context, id RestrictionID, reason string) (*Restriction, error)
	// Reject is a second operator's no: a restriction that waits is never
	// enforced, an extension that waits is dropped.
	Reject(ctx context.Context, id RestrictionID, reason string) (*Restriction, error)
	// Restriction returns one restriction.
	Restriction(ctx context.Context, id RestrictionID) (*Restriction, error)
	// Restrictions returns the restrictions f selects, oldest first.
	Restrictions(ctx context.Context, f RestrictionFilter) ([]*Restriction, error)

	// AddSchedule creates a schedule; a window of it open now is enforced
	// before AddSchedule returns.
	AddSchedule(ctx context.Context, req ScheduleRequest) (*Schedule, error)
	// RemoveSchedule removes schedule id: no window of it opens again,
	// and the one open now, if any, is lifted.
	RemoveSchedule(ctx context.Context, id ScheduleID, reason string) (*Schedule, error)
	// Schedules returns the schedules f selects, oldest first.
	Schedules(ctx context.Context, f ScheduleFilter) ([]*Schedule, error)

	// AddDevice registers a device.
	AddDevice(ctx context.Context, d *Device) (*Device, error)
	// Devices returns the registered devices, sorted by MAC.
	Devices(ctx context.Context) ([]*Device, error)
	// FindDevices returns the page of registered devices q selects,
	// sorted by MAC, with how many it matches; it reads no device beyond
	// the page, so a console page costs the same with ten devices or a
	// hundred thousand.
	FindDevices(ctx context.Context, q DeviceQuery) (*DevicePage, error)
	// ApproveDevice registers a device seen on the LAN (or quarantined)
	// to its owner, which d must name; on a quarantining LAN it is
	// admitted before ApproveDevice returns.
	ApproveDevice(ctx context.Context, d *Device) (*Device, error)
	// SeenDevices returns the MACs the gateway has seen on the LAN,
	// registered or not, sorted by MAC, with hints for unregistered ones
	// that resemble a registered device.
	SeenDevices(ctx context.Context) ([]*SeenDevice, error)
	// RemoveDevice unregisters the device with mac and returns it as it
	// was. Restrictions on the device by MAC stay; those on its owner or
	// its groups stop covering it.
	RemoveDevice(ctx context.Context, mac net.HardwareAddr, reason string) (*Device, error)
	// AddPerson registers a person.
	AddPerson(ctx context.Context, name string) (*Person, error)
	// Persons returns the registered persons, sorted by name.
	Persons(ctx context.Context) ([]*Person, error)
	// FindPersons returns the page of registered persons q selects,
	// sorted by name, with how many it matches.
	FindPersons(ctx context.Context, q PersonQuery) (*PersonPage, error)
	// RemovePerson unregisters person name and returns it as it was. It
	// is refused (ErrConflict) while a restriction that is not over names
	// the person. The person's devices stay registered, without owner.
	RemovePerson(ctx context.Context, name, reason string) (*Person, error)

	// AddGroup creates an empty group.
	AddGroup(ctx context.Context, name string) (*Group, error)
	// AddGroupMember adds a person or a device to group name and
	// enforces what that changes before returning: the group's
	// restrictions cover the member's devices at once.
	AddGroupMember(ctx context.Context, name string, member Subject) (*Group, error)
	// RemoveGroupMember takes a member out of group name; the group's
	// restrictions stop covering its devices at once.
	RemoveGroupMember(ctx context.Context, name string, member Subject) (*Group, error)
	// Groups returns the groups with their members, sorted by name.
	Groups(ctx context.Context) ([]*Group, error)

	// ExportAudit writes the audit log to w as JSON lines, from event seq
	// from on (1 or less: all of it): every event, in its canonical
	// encoding, and every signed checkpoint right after the event it
	// signs, ending with a checkpoint of the last event. Package audit
	// reads and verifies it.
	ExportAudit(ctx context.Context, from int64, w io.Writer) error
	// AuditKey returns the public key that verifies the checkpoints.
	AuditKey(ctx context.Context) (ed25519.PublicKey, error)
	// VerifyAudit checks the audit log and the state against it.
	VerifyAudit(ctx context.Context) (*AuditReport, error)
	// AuditCheckpoint returns a signed checkpoint of the head of the
	// audit log, signing the head first if no checkpoint covers it yet;
	// the zero Checkpoint if the log is empty. It reads no event but the
	// newest.
	AuditCheckpoint(ctx context.Context) (Checkpoint, error)

	// Appeals returns the questions restricted persons sent from the
	// notice page, with their answers, oldest first.
	Appeals(ctx context.Context) ([]*Appeal, error)
	// AnswerAppeal answers appeal id with text, which the notice page of
	// the client that asked then shows; a later answer replaces it.
	AnswerAppeal(ctx context.Context, id AppealID, text string) (*Appeal, error)
}
