package engine

import (
	"context"
	"net"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Store is what the engine needs from persistent storage. *sqlite.DB
// implements it; engine tests use sqlite.Open with ":memory:".
//
// Every method that changes state takes the audit event that records the
// change and writes both in one transaction: either both are stored or
// neither. The store seals the event into the log (package audit), which
// fills in its Seq, Prev, LastCheckpoint and At (if zero), and keeps its
// encoding byte for byte. If the context carries a request key
// (curfew.WithRequestKey), the store records it in the same transaction as
// a curfew.KeyedRequest of the event's actor, kind and target, which
// Request returns; a key the actor already used is curfew.ErrConflict, and
// nothing is written.
type Store interface {
	// Restrictions returns the restrictions f selects, by ascending ID.
	// The zero filter returns those not lifted, not recorded as expired
	// and not rejected by a second operator.
	Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error)
	// Restriction returns one restriction or an error wrapping curfew.ErrNotFound.
	Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error)
	// CreateRestriction stores r, assigns r.ID, and sets ev.Restriction to
	// it before recording ev.
	CreateRestriction(ctx context.Context, r *curfew.Restriction, ev *audit.Event) error
	// UpdateRestriction stores the mutable fields of r (End, Lifted,
	// LiftedBy, LiftReason, Expired, Approval) and records ev; an unknown
	// ID is curfew.ErrNotFound.
	UpdateRestriction(ctx context.Context, r *curfew.Restriction, ev *audit.Event) error

	// Schedules returns the schedules f selects, by ascending ID; the zero
	// filter returns those neither removed nor past their Until at now.
	Schedules(ctx context.Context, f curfew.ScheduleFilter, now time.Time) ([]*curfew.Schedule, error)
	// Schedule returns one schedule or an error wrapping curfew.ErrNotFound.
	Schedule(ctx context.Context, id curfew.ScheduleID) (*curfew.Schedule, error)
	// CreateSchedule stores s, assigns s.ID, and sets ev.After.Schedule
	// to it before recording ev.
	CreateSchedule(ctx context.Context, s *curfew.Schedule, ev *audit.Event) error
	// RemoveSchedule stores the removal of s (Removed, RemovedBy,
	// RemoveReason) and records ev, and, if window is not nil, stores the
	// lift of that open window of s and records liftEv, all in one
	// transaction. A schedule unknown or removed already is
	// curfew.ErrNotFound.
	RemoveSchedule(ctx context.Context, s *curfew.Schedule, ev *audit.Event, window *curfew.Restriction, liftEv *audit.Event) error
	// LastWindows returns the end of the latest window stored
	// (CreateRestriction with Schedule set) of each schedule that has one.
	// CreateRestriction refuses a second window of a schedule with the
	// same Start with curfew.ErrConflict.
	LastWindows(ctx context.Context) (map[curfew.ScheduleID]time.Time, error)
	// LiftedWindows returns, by schedule, the starts of the stored windows
	// that end after from and were lifted: windows the kernel must not
	// open.
	LiftedWindows(ctx context.Context, from time.Time) (map[curfew.ScheduleID][]time.Time, error)

	// Devices returns every device, sorted by MAC.
	Devices(ctx context.Context) ([]*curfew.Device, error)
	// FindDevices returns the page of devices q selects, sorted by MAC,
	// with how many it matches; it reads no device beyond the page.
	FindDevices(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error)
	// Device returns one device or an error wrapping curfew.ErrNotFound.
	Device(ctx context.Context, mac net.HardwareAddr) (*curfew.Device, error)
	// CreateDevice stores d and records a; a duplicate MAC is curfew.ErrConflict,
	// an unknown owner curfew.ErrNotFound.
	CreateDevice(ctx context.Context, d *curfew.Device, ev *audit.Event) error
	// DeleteDevice removes the device with mac and records ev; an unknown
	// MAC is curfew.ErrNotFound.
	DeleteDevice(ctx context.Context, mac net.HardwareAddr, ev *audit.Event) error

	// Persons returns every person, sorted by name.
	Persons(ctx context.Context) ([]*curfew.Person, error)
	// FindPersons returns the page of persons q selects, sorted by name,
	// with how many it matches.
	FindPersons(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error)
	// Person returns one person or an error wrapping curfew.ErrNotFound.
	Person(ctx context.Context, name string) (*curfew.Person, error)
	// CreatePerson stores p and records a; a duplicate name is curfew.ErrConflict.
	CreatePerson(ctx context.Context, p *curfew.Person, ev *audit.Event) error
	// DeletePerson removes the person and records ev; the person's devices
	// stay, without owner. An unknown name is curfew.ErrNotFound.
	DeletePerson(ctx context.Context, name string, ev *audit.Event) error

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
	// CreateGroup stores g without members and records ev; a duplicate
	// name is curfew.ErrConflict.
	CreateGroup(ctx context.Context, g *curfew.Group, ev *audit.Event) error
	// AddGroupMember adds member to group name and records ev; an unknown
	// group or person is curfew.ErrNotFound, a member already in the
	// group curfew.ErrConflict.
	AddGroupMember(ctx context.Context, name string, member curfew.Subject, at time.Time, ev *audit.Event) error
	// RemoveGroupMember removes member from group name and records ev; an
	// unknown group or member is curfew.ErrNotFound.
	RemoveGroupMember(ctx context.Context, name string, member curfew.Subject, ev *audit.Event) error

	// Appeals returns the appeals f selects, by ascending ID.
	Appeals(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error)
	// Appeal returns one appeal or an error wrapping curfew.ErrNotFound.
	Appeal(ctx context.Context, id curfew.AppealID) (*curfew.Appeal, error)
	// CreateAppeal stores a, assigns a.ID, and sets ev.After.Appeal to it
	// before recording ev.
	CreateAppeal(ctx context.Context, a *curfew.Appeal, ev *audit.Event) error
	// AnswerAppeal stores the answer of a (Answer, Answered, AnsweredBy)
	// and records ev; an unknown ID is curfew.ErrNotFound.
	AnswerAppeal(ctx context.Context, a *curfew.Appeal, ev *audit.Event) error

	// Request returns the record of the change actor made with the
	// idempotency key key, or an error wrapping curfew.ErrNotFound.
	Request(ctx context.Context, actor, key string) (*curfew.KeyedRequest, error)

	// AppendEvents records events that change no stored state (the
	// gateway's own), in one transaction.
	AppendEvents(ctx context.Context, evs ...*audit.Event) error
	// RepairRestriction puts the row of restriction id back as the log
	// has it, r (nil: remove the row), and records ev.
	RepairRestriction(ctx context.Context, id curfew.RestrictionID, r *curfew.Restriction, ev *audit.Event) error
	// RepairDevice puts the row of the device with mac back as the log has
	// it, d (nil: remove the row), and records ev.
	RepairDevice(ctx context.Context, mac net.HardwareAddr, d *curfew.Device, ev *audit.Event) error

	// AuditHead returns the newest event in the store: the zero Head if
	// there is none.
	AuditHead(ctx context.Context) (audit.Head, error)
	// AuditEvent returns the encoding of event seq, or an error wrapping
	// curfew.ErrNotFound.
	AuditEvent(ctx context.Context, seq int64) ([]byte, error)
	// ReadAudit calls line, from one consistent view of the store, for
	// each event from seq from on and each stored checkpoint of those, in
	// log order (a checkpoint right after the event it signs), then, if
	// row is not nil, calls it for each restriction (d nil) and each device
	// (r nil) of the same view. seq is the event's, or the signed event's;
	// data is valid only during the call.
	ReadAudit(ctx context.Context, from int64, line func(seq int64, data []byte, checkpoint bool) error,
		row func(r *curfew.Restriction, d *curfew.Device) error) error

	// NewestCheckpoint returns the newest stored checkpoint, or nil.
	NewestCheckpoint(ctx context.Context) (*audit.Checkpoint, error)
	// CheckpointFile returns the latest checkpoint as it is kept apart from
	// the store's database, read now; nil if there is none.
	CheckpointFile() ([]byte, error)
	// SaveCheckpoint stores c, which must be newer than every checkpoint
	// stored before (curfew.ErrConflict otherwise), apart from the
	// database first, then in it.
	SaveCheckpoint(ctx context.Context, c *audit.Checkpoint) error
}
