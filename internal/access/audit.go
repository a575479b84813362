package access

import (
	"fmt"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// The audit entries the Registry writes, all built here. Each is stored in
// the same transaction as the change it records, except the reports of
// failed attempts, which change nothing else.

func operatorAdded(now time.Time, actor string, op *curfew.Operator) *curfew.AuditEntry {
	return &curfew.AuditEntry{At: now, Actor: actor, Action: curfew.ActionOperator, Target: op.Name,
		Detail: fmt.Sprintf("operator %s with role %s and a one-time console password", op.Name, op.Role)}
}

func operatorDisabled(now time.Time, actor string, op *curfew.Operator) *curfew.AuditEntry {
	return &curfew.AuditEntry{At: now, Actor: actor, Action: curfew.ActionDisableOperator, Target: op.Name,
		Reason: op.DisableReason, Detail: fmt.Sprintf("operator %s (role %s) disabled with its token and sessions", op.Name, op.Role)}
}

func passwordSet(now time.Time, actor, name string, oneTime bool) *curfew.AuditEntry {
	detail := "console password of " + name + " changed by its operator"
	if oneTime {
		detail = "console password of " + name + " reset to a one-time password"
	}
	return &curfew.AuditEntry{At: now, Actor: actor, Action: curfew.ActionPassword, Target: name, Detail: detail}
}

func tokenCreated(now time.Time, actor string, action curfew.Action, t *curfew.Token, newOperator bool) *curfew.AuditEntry {
	detail := fmt.Sprintf("token %s with role %s", t.Name, t.Role)
	if newOperator {
		detail += fmt.Sprintf(", for the new operator %s with role %s", t.Name, t.Role)
	}
	return &curfew.AuditEntry{At: now, Actor: actor, Action: action, Target: t.Name, Detail: detail}
}

func tokenRevoked(now time.Time, actor string, t *curfew.Token) *curfew.AuditEntry {
	return &curfew.AuditEntry{At: now, Actor: actor, Action: curfew.ActionRevokeToken, Target: t.Name,
		Detail: fmt.Sprintf("token %s with role %s, created %s, revoked", t.Name, t.Role, t.Created.UTC().Format(time.RFC3339))}
}

// authFailures records r, the failed attempts of one source: the source is
// the target, and the actor curfew itself, since nobody authenticated.
func authFailures(now time.Time, r *report) *curfew.AuditEntry {
	return &curfew.AuditEntry{At: now, Actor: curfew.SystemActor, Action: curfew.ActionAuthFailure, Target: r.source, Detail: r.String()}
}
