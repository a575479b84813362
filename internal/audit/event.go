package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A Kind names what an event records.
type Kind string

// What operators do.
const (
	KindRestrictionCreated  Kind = "restriction.created"
	KindRestrictionLifted   Kind = "restriction.lifted"
	KindRestrictionExtended Kind = "restriction.extended"
	KindDeviceAdded         Kind = "device.added"
	KindPersonAdded         Kind = "person.added"
	KindTokenCreated        Kind = "token.created"

	// KindRestrictionApproved and KindRestrictionRejected record a second
	// operator's decision on what a restriction waited for (the
	// restriction itself, or an extension of it): the actor decided, the
	// event's Reason is theirs, and After holds the restriction's approval
	// and end as they are after the decision.
	KindRestrictionApproved Kind = "restriction.approved"
	KindRestrictionRejected Kind = "restriction.rejected"

	// KindDeviceRemoved records that the device of the subject was
	// unregistered (Before: its fields); its restrictions by MAC stay.
	// KindPersonRemoved records that the person of the subject was, its
	// devices staying registered without owner.
	KindDeviceRemoved Kind = "device.removed"
	KindPersonRemoved Kind = "person.removed"
	// KindDeviceApproved records that a device seen on the LAN was
	// registered to its owner by an operator (device approve): like
	// KindDeviceAdded, After holds its fields, with Owner always set.
	KindDeviceApproved Kind = "device.approved"
	// KindGroupAdded records a new, empty group (the subject); the
	// members come and go with KindGroupMemberAdded and
	// KindGroupMemberRemoved, whose After.Member is the member
	// (person:NAME or device:MAC).
	KindGroupAdded         Kind = "group.added"
	KindGroupMemberAdded   Kind = "group.member_added"
	KindGroupMemberRemoved Kind = "group.member_removed"

	// KindAppealPosted records a restricted person's question from the
	// notice page: the actor and subject are the client (device:MAC or
	// ip:ADDR), After.Appeal its number, After.Message the text.
	KindAppealPosted Kind = "appeal.posted"
	// KindAppealAnswered records an operator's answer to After.Appeal.
	KindAppealAnswered Kind = "appeal.answered"

	// KindOperatorAdded, KindOperatorDisabled and KindPasswordChanged are
	// about the operator After.Name; After.OneTime says a password was
	// set to a one-time one (by an admin) rather than chosen by its
	// operator.
	KindOperatorAdded    Kind = "operator.added"
	KindOperatorDisabled Kind = "operator.disabled"
	KindPasswordChanged  Kind = "operator.password_changed"
	// KindTokenRevoked records that the token Before.Token stopped working.
	KindTokenRevoked Kind = "token.revoked"
	// KindAuthFailed counts failed attempts to authenticate from one
	// source (After.Source) between After.First and After.Last, as the
	// gateway rate-limits them: After.Failures failed, After.Refused were
	// refused while the source was limited, After.Causes says why they
	// failed. Its actor is System: nobody authenticated.
	KindAuthFailed Kind = "auth.failed"

	// KindScheduleAdded records a new schedule (After.Schedule): its
	// subject is the event's, After holds its days, from, to, zone,
	// until, mode, lists and notice; the reason is the event's.
	// KindScheduleRemoved records its removal (Before.Schedule); a
	// window open then is lifted with it (KindRestrictionLifted).
	KindScheduleAdded   Kind = "schedule.added"
	KindScheduleRemoved Kind = "schedule.removed"
)

// What the gateway does by itself; their actor is System.
const (
	// KindRestrictionApplied records that a restriction is enforced: the
	// backends accepted a snapshot that holds it.
	KindRestrictionApplied Kind = "restriction.applied"
	// KindRestrictionExpired records that a restriction reached its end.
	KindRestrictionExpired Kind = "restriction.expired"
	// KindRestrictionRepaired records that a restriction's row in the
	// store did not match what the log says of it and was put back as the
	// log says: Before is the row (nil: there was none), After the
	// restriction as the log has it (nil: the log has none, and the row
	// was removed).
	KindRestrictionRepaired Kind = "restriction.repaired"
	// KindDeviceRepaired is KindRestrictionRepaired for a device.
	KindDeviceRepaired Kind = "device.repaired"
	// KindDriftRepaired records that enforcement was found changed behind
	// curfew's back and repaired; After.Objects counts the objects.
	KindDriftRepaired Kind = "drift.repaired"
	// KindDaemonStarted and KindDaemonStopped bracket each run of the
	// daemon; After.ConfigSHA256 of a start is its configuration file's.
	KindDaemonStarted Kind = "daemon.started"
	KindDaemonStopped Kind = "daemon.stopped"
	// KindConfigChanged records, at a start, that the configuration file
	// differs from the one of the previous start.
	KindConfigChanged Kind = "config.changed"
	// KindDeviceSeen records a MAC (the subject) seen on the LAN for the
	// first time: After.Addrs and After.Hostname as it was seen,
	// After.RandomMAC if it is locally administered. It changes no stored
	// state the log holds: seen devices age out by themselves.
	KindDeviceSeen Kind = "device.seen"
	// KindDeviceSeenSummary counts, in After.Unaudited, the MACs seen for
	// the first time (or dropped unread in a flood) since the previous
	// summary that were not recorded one by one as KindDeviceSeen, past
	// its budget of a burst of 100, then one a minute. At most one is
	// recorded a minute.
	KindDeviceSeenSummary Kind = "device.seen_summary"
	// KindAuditBroken records that the gateway found its own log broken
	// when it was about to sign it: the latest checkpoint (Before) was
	// missing, older than the log says there were (After.Checkpoint is what
	// it found), or no longer matched the log. A log that holds one never
	// verifies again: the evidence is kept, not laundered.
	KindAuditBroken Kind = "audit.broken"
	// KindWindowOpened records that a window of schedule After.Schedule
	// opened: the gateway made it the restriction of the event, whose
	// fields After holds as restriction.created does. It is recorded
	// once a window, when the gateway sees the window start, or at its
	// next start if it was down then.
	KindWindowOpened Kind = "schedule.window_opened"
	// KindWindowClosed records that the window of the event's
	// restriction reached its end (After.Expired), as restriction.expired
	// does for a one-off restriction.
	KindWindowClosed Kind = "schedule.window_closed"
)

// What the upgrade from the first release's log records.
const (
	// KindLegacy carries one entry of the first release's log, its fields
	// as they were (Legacy).
	KindLegacy Kind = "legacy"
	// KindAuditUpgraded follows the legacy entries: After.LegacyEntries
	// were carried over, of which After.LegacyIntact verified with the old
	// key before the first break.
	KindAuditUpgraded Kind = "audit.upgraded"
	// KindRestrictionImported and KindDeviceImported record, at the
	// upgrade, the state the legacy log described in prose, as typed
	// fields, so that the state can be held to the log from then on.
	KindRestrictionImported Kind = "restriction.imported"
	KindDeviceImported      Kind = "device.imported"
)

// kindCheckpoint is the kind of a checkpoint's line in an export; no
// event has it.
const kindCheckpoint = "checkpoint"

// System is the actor of the events the gateway records by itself.
const System = curfew.SystemActor

// Event is one entry of the audit log. Only Seq, Prev, At, Kind and Actor
// are always set; the rest is set as the kind needs. Text is rendered from
// it where it is shown, never stored.
type Event struct {
	Seq  int64 // 1, 2, 3, …; set by Seal
	Prev Hash  // the previous event's hash; zero for the first; set by Seal
	At   time.Time
	Kind Kind

	Actor       string               // an operator's name, or System
	Subject     string               // what the event is about, in curfew.Subject's written form
	Restriction curfew.RestrictionID // the restriction it concerns, if any
	Reason      string               // why, as the operator gave it

	Before, After *Fields // what the event changed, before and after

	// LastCheckpoint is the sequence number of the newest checkpoint
	// signed before this event was written, so that the log itself says
	// which checkpoints must exist.
	LastCheckpoint int64

	Legacy *Legacy // KindLegacy only
}

// Fields are the structured values an event records. Each kind uses the
// few that concern it; the zero value of a field means "not recorded".
type Fields struct {
	// A restriction's; its ID and subject are the event's.
	Mode       curfew.Mode
	Allow      []string
	Block      []string
	Rate       curfew.Rate // a throttle's, in bits per second
	Reason     string      // in full records (imported, repaired) only: elsewhere it is the event's
	Notice     string
	Author     string
	Start      time.Time
	End        time.Time
	Created    time.Time // a device's too
	Lifted     time.Time
	LiftedBy   string
	LiftReason string // in full records only, as Reason
	Expired    time.Time
	Applied    time.Time
	Force      bool // created with force: an ip: prefix wider than the limit

	// A restriction's approval by a second operator (curfew.Approval).
	Approval       curfew.ApprovalState
	Asker          string
	ExtendTo       time.Time
	Decided        time.Time
	DecidedBy      string
	DecisionReason string // in full records and decisions

	// A schedule's (or, with Start and End, a window's schedule).
	Schedule int64
	Days     string // curfew.Days in written form
	From     string // HH:MM local
	To       string
	Zone     string // IANA name
	Until    time.Time

	// A device's; its MAC is the event's subject.
	Name  string
	Owner string
	Addrs []string

	// A device's as seen on the LAN (KindDeviceSeen); its addresses are
	// Addrs.
	Hostname  string // from its DHCP lease
	RandomMAC bool   // a locally administered MAC
	// New MACs not recorded one by one (KindDeviceSeenSummary).
	Unaudited int64

	// A group's member, in curfew.Subject's written form.
	Member string

	// A token's, or an operator's (whose name is Name).
	Token    string
	Role     string
	OneTime  bool
	Disabled time.Time

	// An appeal's.
	Appeal       int64
	Message      string
	Answer       string
	Restrictions []string // the restrictions that held the client, by ID in decimal

	// Failed authentications'.
	Source      string
	Failures    int64
	Refused     int64
	Causes      []string
	First, Last time.Time

	// The gateway's.
	Objects       int64
	ConfigSHA256  string
	Checkpoint    int64
	LegacyEntries int64
	LegacyIntact  int64
}

// Legacy is an entry of the first release's log. Its time, actor and
// reason are the event's.
type Legacy struct {
	Seq      int64
	Action   string
	Target   string
	Detail   string
	PrevHash string
	Hash     string
}

// A Hash is the SHA-256 of an event's encoding.
type Hash [sha256.Size]byte

// Sum returns the hash of an event's encoding.
func Sum(data []byte) Hash { return sha256.Sum256(data) }

// String returns h in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses a hash written by String, and nothing else.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || h.String() != s {
		return Hash{}, fmt.Errorf("hash %q: want %d lower-case hex digits", s, 2*len(h))
	}
	return h, nil
}

// Head is the newest event of a log, which the next one links to.
type Head struct {
	Seq  int64
	Hash Hash
}

// Seal makes e the event after prev (the zero Head for the first event):
// it sets e.Seq and e.Prev, drops from every time in e what the log does
// not keep (below a millisecond), and returns e's encoding. It refuses an
// event without kind, actor or time.
func (e *Event) Seal(prev Head) ([]byte, error) {
	switch {
	case e.Kind == "" || e.Kind == kindCheckpoint:
		return nil, fmt.Errorf("%w: audit event of kind %q", curfew.ErrInvalid, e.Kind)
	case e.Actor == "":
		return nil, fmt.Errorf("%w: audit event %s without actor", curfew.ErrInvalid, e.Kind)
	case e.At.IsZero():
		return nil, fmt.Errorf("%w: audit event %s without time", curfew.ErrInvalid, e.Kind)
	case prev.Seq < 0 || prev.Seq == 0 && !prev.Hash.IsZero():
		return nil, fmt.Errorf("%w: audit event after an invalid head", curfew.ErrInvalid)
	}
	e.Seq = prev.Seq + 1
	e.Prev = prev.Hash
	e.At = truncate(e.At)
	e.Before.truncate()
	e.After.truncate()
	return e.Encode(), nil
}

func (f *Fields) truncate() {
	if f == nil {
		return
	}
	for _, t := range []*time.Time{&f.Start, &f.End, &f.Created, &f.Lifted, &f.Expired, &f.Applied,
		&f.ExtendTo, &f.Decided, &f.Disabled, &f.First, &f.Last, &f.Until} {
		*t = truncate(*t)
	}
}

// Encode returns the canonical encoding of e, as it is hashed and stored.
func (e *Event) Encode() []byte {
	var o object
	o.int("seq", e.Seq)
	if !e.Prev.IsZero() {
		o.str("prev", e.Prev.String())
	}
	o.time("at", e.At)
	o.str("kind", string(e.Kind))
	o.str("actor", e.Actor)
	o.str("subject", e.Subject)
	o.int("restriction", int64(e.Restriction))
	o.str("reason", e.Reason)
	o.object("before", e.Before.object())
	o.object("after", e.After.object())
	o.int("last_checkpoint", e.LastCheckpoint)
	o.object("legacy", e.Legacy.object())
	return o.appendTo(make([]byte, 0, 256))
}

func (f *Fields) object() *object {
	if f == nil {
		return nil
	}
	var o object
	o.str("mode", string(f.Mode))
	o.strings("allow", f.Allow)
	o.strings("block", f.Block)
	o.int("rate", int64(f.Rate))
	o.str("reason", f.Reason)
	o.str("notice", f.Notice)
	o.str("author", f.Author)
	o.time("starts_at", f.Start)
	o.time("ends_at", f.End)
	o.time("created_at", f.Created)
	o.time("lifted_at", f.Lifted)
	o.str("lifted_by", f.LiftedBy)
	o.str("lift_reason", f.LiftReason)
	o.time("expired_at", f.Expired)
	o.time("applied_at", f.Applied)
	o.bool("force", f.Force)
	o.str("approval", string(f.Approval))
	o.str("approval_asker", f.Asker)
	o.time("extend_to", f.ExtendTo)
	o.time("decided_at", f.Decided)
	o.str("decided_by", f.DecidedBy)
	o.str("decision_reason", f.DecisionReason)
	o.int("schedule", f.Schedule)
	o.str("days", f.Days)
	o.str("from", f.From)
	o.str("to", f.To)
	o.str("zone", f.Zone)
	o.time("until", f.Until)
	o.str("name", f.Name)
	o.str("owner", f.Owner)
	o.strings("addrs", f.Addrs)
	o.str("hostname", f.Hostname)
	o.bool("random_mac", f.RandomMAC)
	o.int("unaudited", f.Unaudited)
	o.str("member", f.Member)
	o.str("token", f.Token)
	o.str("role", f.Role)
	o.bool("one_time", f.OneTime)
	o.time("disabled_at", f.Disabled)
	o.int("appeal", f.Appeal)
	o.str("message", f.Message)
	o.str("answer", f.Answer)
	o.strings("restrictions", f.Restrictions)
	o.str("source", f.Source)
	o.int("failures", f.Failures)
	o.int("refused", f.Refused)
	o.strings("causes", f.Causes)
	o.time("first_at", f.First)
	o.time("last_at", f.Last)
	o.int("objects", f.Objects)
	o.str("config_sha256", f.ConfigSHA256)
	o.int("checkpoint", f.Checkpoint)
	o.int("legacy_entries", f.LegacyEntries)
	o.int("legacy_intact", f.LegacyIntact)
	return &o
}

func (l *Legacy) object() *object {
	if l == nil {
		return nil
	}
	var o object
	o.int("seq", l.Seq)
	o.str("action", l.Action)
	o.str("target", l.Target)
	o.str("detail", l.Detail)
	o.str("prev_hash", l.PrevHash)
	o.str("hash", l.Hash)
	return &o
}

// ParseLine decodes one line of an export (without its newline): an event
// or a checkpoint, exactly one of which it returns. Like Decode, it
// accepts only the canonical encoding.
func ParseLine(data []byte) (*Event, *Checkpoint, error) {
	e, c, err := parseLine(data)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding a line of the log: %w", err)
	}
	return e, c, nil
}

// Decode decodes an event's encoding, which must be canonical: Decode
// accepts exactly the bytes Encode writes.
func Decode(data []byte) (*Event, error) {
	e, c, err := parseLine(data)
	switch {
	case err != nil:
		return nil, fmt.Errorf("decoding an event: %w", err)
	case c != nil:
		return nil, errors.New("decoding an event: a checkpoint, not an event")
	}
	return e, nil
}

// String returns a short identification of e for messages: its sequence
// number and kind.
func (e *Event) String() string {
	return "event " + strconv.FormatInt(e.Seq, 10) + " (" + string(e.Kind) + ")"
}
