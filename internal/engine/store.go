package engine

import (
	"context"
	"net"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Store is what the engine needs from persistent storage. *sqlite.DB
// implements it; engine tests use sqlite.Open with ":memory:".
//
// Every method that changes state takes the audit entry that records the
// change and writes both in one transaction: either both are stored or
// neither. The store fills in the entry's Seq, At (if zero), PrevHash and
// Hash. If the context carries a request key (curfew.WithRequestKey), the
// store records it in the same transaction as a curfew.KeyedRequest of
// the entry's actor, action and target, which Request returns; a key the
// actor already used is curfew.ErrConflict, and nothing is written.
type Store interface {
	// Restrictions returns the restrictions f selects, by ascending ID.
	// The zero filter returns those not lifted, not recorded as expired
	// and not rejected by a second operator.
	Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error)
	// Restriction returns one restriction or an error wrapping curfew.ErrNotFound.
	Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error)
	// CreateRestriction stores r, assigns r.ID, and sets a.Target to the
	// decimal ID before recording a.
	CreateRestriction(ctx context.Context, r *curfew.Restriction, a *curfew.AuditEntry) error
	// UpdateRestriction stores the mutable fields of r (End, Lifted,
	// LiftedBy, LiftReason, Expired, Approval) and records a.
	UpdateRestriction(ctx context.Context, r *curfew.Restriction, a *curfew.AuditEntry) error

	// Devices returns every device, sorted by MAC.
	Devices(ctx context.Context) ([]*curfew.Device, error)
	// Device returns one device or an error wrapping curfew.ErrNotFound.
	Device(ctx context.Context, mac net.HardwareAddr) (*curfew.Device, error)
	// CreateDevice stores d and records a; a duplicate MAC is curfew.ErrConflict,
	// an unknown owner curfew.ErrNotFound.
	CreateDevice(ctx context.Context, d *curfew.Device, a *curfew.AuditEntry) error
	// DeleteDevice removes the device with mac and records a; an unknown
	// MAC is curfew.ErrNotFound.
	DeleteDevice(ctx context.Context, mac net.HardwareAddr, a *curfew.AuditEntry) error

	// Persons returns every person, sorted by name.
	Persons(ctx context.Context) ([]*curfew.Person, error)
	// Person returns one person or an error wrapping curfew.ErrNotFound.
	Person(ctx context.Context, name string) (*curfew.Person, error)
	// CreatePerson stores p and records a; a duplicate name is curfew.ErrConflict.
	CreatePerson(ctx context.Context, p *curfew.Person, a *curfew.AuditEntry) error
	// DeletePerson removes the person and records a; the person's devices
	// stay, without owner. An unknown name is curfew.ErrNotFound.
	DeletePerson(ctx context.Context, name string, a *curfew.AuditEntry) error

	// RecordSeen merges sightings into the seen devices, ages out and caps
	// the unregistered ones by limits as of now, and returns the MACs seen
	// for the first time. It records no audit entry.
	RecordSeen(ctx context.Context, sightings []curfew.Sighting, limits curfew.SeenLimits, now time.Time) (fresh []net.HardwareAddr, err error)
	// SeenDevices returns every seen device, sorted by MAC, with
	// Registered set.
	SeenDevices(ctx context.Context) ([]*curfew.SeenDevice, error)

	// Groups returns every group with its members, sorted by name.
	Groups(ctx context.Context) ([]*curfew.Group, error)
	// Group returns one group or an error wrapping curfew.ErrNotFound.
	Group(ctx context.Context, name string) (*curfew.Group, error)
	// CreateGroup stores g without members and records a; a duplicate
	// name is curfew.ErrConflict.
	CreateGroup(ctx context.Context, g *curfew.Group, a *curfew.AuditEntry) error
	// AddGroupMember adds member to group name and records a; an unknown
	// group or person is curfew.ErrNotFound, a member already in the
	// group curfew.ErrConflict.
	AddGroupMember(ctx context.Context, name string, member curfew.Subject, at time.Time, a *curfew.AuditEntry) error
	// RemoveGroupMember removes member from group name and records a; an
	// unknown group or member is curfew.ErrNotFound.
	RemoveGroupMember(ctx context.Context, name string, member curfew.Subject, a *curfew.AuditEntry) error

	// Appeals returns the appeals f selects, by ascending ID.
	Appeals(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error)
	// Appeal returns one appeal or an error wrapping curfew.ErrNotFound.
	Appeal(ctx context.Context, id curfew.AppealID) (*curfew.Appeal, error)
	// CreateAppeal stores a, assigns a.ID, and sets e.Target to the
	// decimal ID before recording e.
	CreateAppeal(ctx context.Context, a *curfew.Appeal, e *curfew.AuditEntry) error
	// AnswerAppeal stores the answer of a (Answer, Answered, AnsweredBy)
	// and records e; an unknown ID is curfew.ErrNotFound.
	AnswerAppeal(ctx context.Context, a *curfew.Appeal, e *curfew.AuditEntry) error

	// Request returns the record of the change actor made with the
	// idempotency key key, or an error wrapping curfew.ErrNotFound.
	Request(ctx context.Context, actor, key string) (*curfew.KeyedRequest, error)

	// RecordAudit records a, which goes with no other change.
	RecordAudit(ctx context.Context, a *curfew.AuditEntry) error
	// Audit returns the audit log, by ascending Seq.
	Audit(ctx context.Context) ([]*curfew.AuditEntry, error)
	// VerifyAudit recomputes the chain and reports the first break.
	VerifyAudit(ctx context.Context) (*curfew.AuditReport, error)
}
