package curfew

import "time"

// SystemActor is the actor of events curfew records by itself, such as expiry.
const SystemActor = "curfew"

// AuditReport is the outcome of verifying the audit log: its chain, the
// signatures of its checkpoints, the latest checkpoint kept apart from the
// database, and the stored state held to what the log says.
type AuditReport struct {
	Entries     int64     // events checked
	Checkpoints int64     // checkpoints whose signature verifies
	SignedSeq   int64     // the newest event a valid checkpoint signs; 0 if none
	SignedAt    time.Time // when it was signed
	Unsigned    int64     // events after SignedSeq, not signed yet
	OK          bool      // nothing is wrong
	Problem     string    // the first thing wrong, when !OK
	Problems    []string  // everything wrong found, in order (bounded)
}

// An Action names the change a request made, as the kind of its audit
// event names it (package audit holds the kinds, and a test holds these
// to them). A KeyedRequest records it, so that a retry with the same
// idempotency key is told from a key reused for another change.
type Action string

// The actions of changes a request can make.
const (
	ActionRestrict      Action = "restriction.created"
	ActionLift          Action = "restriction.lifted"
	ActionExtend        Action = "restriction.extended"
	ActionApprove       Action = "restriction.approved"
	ActionReject        Action = "restriction.rejected"
	ActionDevice        Action = "device.added"
	ActionPerson        Action = "person.added"
	ActionRemoveDevice  Action = "device.removed"
	ActionApproveDevice Action = "device.approved"
	ActionRemovePerson  Action = "person.removed"
	ActionGroup         Action = "group.added"
	ActionGroupMember   Action = "group.member_added"
	ActionGroupLeave    Action = "group.member_removed"
	ActionToken         Action = "token.created"
	ActionAnswer        Action = "appeal.answered"
	ActionSchedule      Action = "schedule.added"
	ActionUnschedule    Action = "schedule.removed"

	ActionOperator        Action = "operator.added"
	ActionDisableOperator Action = "operator.disabled"
	ActionPassword        Action = "operator.password_changed"
	ActionRevokeToken     Action = "token.revoked"
)

// ActionAppeal names the posting of an appeal, which its client makes
// without an operator and so without a request key.
const ActionAppeal Action = "appeal.posted"
