package curfew

import "time"

// AuditEntry is one event of the append-only audit log. The store chains
// entries: Hash covers the entry's fields and PrevHash, so editing or
// deleting any entry breaks verification.
type AuditEntry struct {
	Seq      int64 // 1, 2, 3, …; assigned by the store
	At       time.Time
	Actor    string // operator name, or SystemActor
	Action   Action
	Target   string // the restriction ID, subject, device or token name acted on
	Reason   string
	Detail   string // human-readable summary of the change
	PrevHash string // hex; empty for the first entry
	Hash     string // hex
}

// SystemActor is the actor of events curfew records by itself, such as expiry.
const SystemActor = "curfew"

// An Action names what an audit entry records.
type Action string

// The audited actions.
const (
	ActionInit          Action = "init"
	ActionRestrict      Action = "restriction.create"
	ActionLift          Action = "restriction.lift"
	ActionExtend        Action = "restriction.extend"
	ActionExpire        Action = "restriction.expire"
	ActionApprove       Action = "restriction.approve"
	ActionReject        Action = "restriction.reject"
	ActionDevice        Action = "device.add"
	ActionPerson        Action = "person.add"
	ActionRemoveDevice  Action = "device.remove"
	ActionApproveDevice Action = "device.approve"
	ActionRemovePerson  Action = "person.remove"
	ActionGroup         Action = "group.add"
	ActionGroupMember   Action = "group.member.add"
	ActionGroupLeave    Action = "group.member.remove"
	// ActionSeen records a MAC seen on the LAN for the first time, or a
	// count of them during a flood; its actor is SystemActor.
	ActionSeen   Action = "device.seen"
	ActionToken  Action = "token.create"
	ActionAppeal Action = "appeal.create" // the actor is the appeal's From
	ActionAnswer Action = "appeal.answer"

	ActionOperator        Action = "operator.add"
	ActionDisableOperator Action = "operator.disable"
	ActionPassword        Action = "operator.password" // reset by an admin or changed by its operator
	ActionRevokeToken     Action = "token.revoke"
	// ActionAuthFailure records failed attempts to authenticate from one
	// source, counted over up to a minute; see access.Registry.
	ActionAuthFailure Action = "auth.failure"
)

// AuditReport is the outcome of verifying the audit chain.
type AuditReport struct {
	Entries int64  // entries checked
	OK      bool   // the chain is intact
	Problem string // what is wrong, with the sequence number, when !OK
}
