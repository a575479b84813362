package access

import (
	"maps"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// The audit events the Registry writes, all built here. Each is stored in
// the same transaction as the change it records, except the reports of
// failed attempts, which change nothing else.

func operatorAdded(now time.Time, actor string, op *curfew.Operator) *audit.Event {
	return &audit.Event{At: now, Actor: actor, Kind: audit.KindOperatorAdded,
		After: &audit.Fields{Name: op.Name, Role: string(op.Role), Created: op.Created, OneTime: true}}
}

func operatorDisabled(now time.Time, actor string, op *curfew.Operator) *audit.Event {
	return &audit.Event{At: now, Actor: actor, Kind: audit.KindOperatorDisabled, Reason: op.DisableReason,
		Before: &audit.Fields{Name: op.Name, Role: string(op.Role)},
		After:  &audit.Fields{Name: op.Name, Role: string(op.Role), Disabled: op.Disabled}}
}

func passwordSet(now time.Time, actor, name string, oneTime bool) *audit.Event {
	return &audit.Event{At: now, Actor: actor, Kind: audit.KindPasswordChanged,
		After: &audit.Fields{Name: name, OneTime: oneTime}}
}

// tokenCreated records t; newOperator says the operator of the same name
// was created with it, with the token's role.
func tokenCreated(now time.Time, actor string, t *curfew.Token, newOperator bool) *audit.Event {
	ev := &audit.Event{At: now, Actor: actor, Kind: audit.KindTokenCreated,
		After: &audit.Fields{Token: t.Name, Role: string(t.Role), Created: t.Created}}
	if newOperator {
		ev.After.Name = t.Name
	}
	return ev
}

func tokenRevoked(now time.Time, actor string, t *curfew.Token) *audit.Event {
	return &audit.Event{At: now, Actor: actor, Kind: audit.KindTokenRevoked,
		Before: &audit.Fields{Token: t.Name, Role: string(t.Role), Created: t.Created}}
}

// authFailures records r, the failed attempts of one source. Its actor is
// curfew itself, since nobody authenticated.
func authFailures(now time.Time, r *report) *audit.Event {
	var failed int64
	for _, n := range r.reasons {
		failed += int64(n)
	}
	return &audit.Event{At: now, Actor: audit.System, Kind: audit.KindAuthFailed,
		After: &audit.Fields{Source: r.source, Failures: failed, Refused: int64(r.refused),
			Causes: slices.Sorted(maps.Keys(r.reasons)), First: r.first, Last: r.last}}
}
