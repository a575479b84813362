package curfew

import (
	"context"
	"fmt"
)

// A Role is what an operator may do.
type Role string

// The roles, from the least to the most powerful.
const (
	RoleViewer   Role = "viewer"   // read everything
	RoleOperator Role = "operator" // also restrict, lift, extend, approve, reject, answer appeals, register devices and persons
	RoleAdmin    Role = "admin"    // also manage operators and tokens
)

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleViewer, RoleOperator, RoleAdmin:
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: role %q: want viewer, operator or admin", ErrInvalid, s)
}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether r includes the powers of need.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

// Actor is the authenticated operator on whose behalf a call runs.
type Actor struct {
	Name string
	Role Role
}

type actorKey struct{}

// WithActor returns a context carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Require returns the actor in ctx if its role allows need, or an
// ErrUnauthenticated or ErrForbidden error.
func Require(ctx context.Context, need Role) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return Actor{}, fmt.Errorf("%w: no operator", ErrUnauthenticated)
	}
	if !a.Role.Allows(need) {
		return Actor{}, fmt.Errorf("%w: operator %q has role %s; this needs %s", ErrForbidden, a.Name, a.Role, need)
	}
	return a, nil
}

// An Op is something an operator asks curfew to do, named for the
// permission check that guards it.
type Op string

// The operations. Every state-changing call of Service is its own Op;
// reading anything is OpRead.
const (
	OpRead           Op = "read"
	OpRestrict       Op = "restrict"
	OpLift           Op = "lift"
	OpExtend         Op = "extend"
	OpApprove        Op = "approve" // a second operator's yes to what waits for one
	OpReject         Op = "reject"  // a second operator's no
	OpAddDevice      Op = "device.add"
	OpAddPerson      Op = "person.add"
	OpRemoveDevice   Op = "device.remove"
	OpApproveDevice  Op = "device.approve"
	OpRemovePerson   Op = "person.remove"
	OpAddGroup       Op = "group.add"
	OpGroupMember    Op = "group.member" // add or remove a member
	OpCreateToken    Op = "token.create"
	OpAnswer         Op = "appeal.answer"
	OpAddSchedule    Op = "schedule.add"
	OpRemoveSchedule Op = "schedule.remove"

	OpAddOperator     Op = "operator.add"
	OpDisableOperator Op = "operator.disable"
	OpResetPassword   Op = "operator.password"
	OpRevokeToken     Op = "token.revoke"
)

// LeastRole returns the least role allowed to do op, or the empty Role,
// which allows nothing, for an unknown op. It is the one table of who may
// do what: the engine checks it before it looks at a request, and the API
// before it decodes one, so a caller without the role learns nothing about
// its request but that it may not make it.
func (op Op) LeastRole() Role {
	switch op {
	case OpRead:
		return RoleViewer
	case OpRestrict, OpLift, OpExtend, OpApprove, OpReject, OpAddDevice, OpAddPerson, OpAnswer,
		OpRemoveDevice, OpApproveDevice, OpRemovePerson, OpAddGroup, OpGroupMember, OpAddSchedule, OpRemoveSchedule:
		return RoleOperator
	case OpCreateToken, OpAddOperator, OpDisableOperator, OpResetPassword, OpRevokeToken:
		return RoleAdmin
	}
	return ""
}

// Permit returns the actor in ctx if its role allows op, or an
// ErrUnauthenticated or ErrForbidden error.
func Permit(ctx context.Context, op Op) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return Actor{}, fmt.Errorf("%w: no operator", ErrUnauthenticated)
	}
	need := op.LeastRole()
	if need == "" {
		return Actor{}, fmt.Errorf("%w: unknown operation %q", ErrForbidden, op)
	}
	if !a.Role.Allows(need) {
		return Actor{}, fmt.Errorf("%w: operator %q has role %s; %s needs %s", ErrForbidden, a.Name, a.Role, op, need)
	}
	return a, nil
}
