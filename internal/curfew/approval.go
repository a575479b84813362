package curfew

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ApprovalPolicy says which restrictions wait for a second operator (four
// eyes). The zero policy makes none wait.
type ApprovalPolicy struct {
	// Enabled turns approvals on.
	Enabled bool
	// RequiredOver is the longest a restriction may last without a
	// second operator; zero makes every restriction of Modes wait.
	RequiredOver time.Duration
	// Modes are the modes that need approval; empty means every mode.
	Modes []Mode
}

// Requires reports whether a restriction of mode lasting from start to end
// needs a second operator.
func (p *ApprovalPolicy) Requires(mode Mode, start, end time.Time) bool {
	if p == nil || !p.Enabled {
		return false
	}
	if len(p.Modes) > 0 && !slices.Contains(p.Modes, mode) {
		return false
	}
	return end.Sub(start) > p.RequiredOver
}

// An ApprovalState is where a request for a second operator's decision is.
type ApprovalState string

// The approval states. The zero ApprovalState means no approval was asked
// for.
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRejected ApprovalState = "rejected"
)

// Approval is the second operator's decision that a restriction, or a
// lengthening of one, needs. The zero Approval means the restriction
// needed none.
//
// A restriction whose whole approval is pending is stored but not
// enforced; once approved it is enforced like any other, and once
// rejected it never is. An extension that needs approval (ExtendTo set)
// leaves the restriction enforced until its current End: approving it
// moves End to ExtendTo, rejecting it leaves End alone.
type Approval struct {
	State ApprovalState
	// Asker is the operator who asked for what waits: the restriction's
	// author, or the operator who extended it. They may not approve it.
	Asker string
	// ExtendTo is, for an extension, the end asked for; zero when the
	// restriction itself waits.
	ExtendTo time.Time
	// Decided is when a second operator decided; zero while pending.
	Decided time.Time
	By      string // who decided
	Reason  string // why, as they said
}

// Pending reports whether a.State is pending.
func (a *Approval) Pending() bool { return a.State == ApprovalPending }

// Extension reports whether a asks to move the end of an enforced
// restriction, rather than to enforce it at all.
func (a *Approval) Extension() bool { return !a.ExtendTo.IsZero() }

// Waiting says who must act on a pending approval, as `curfew list`
// shows it: "needs approval by an operator other than alice". It is empty
// unless a is pending.
func (a *Approval) Waiting() string {
	if !a.Pending() {
		return ""
	}
	s := "needs approval by an operator other than " + a.Asker
	if a.Extension() {
		s = "extension to " + a.ExtendTo.UTC().Format(time.RFC3339) + " " + s
	}
	return s
}

// Enforceable reports whether r may be enforced at all: it does not wait
// for a second operator and was not rejected by one. An enforceable
// restriction applies between Start and EffectiveEnd.
func (r *Restriction) Enforceable() bool {
	if r.Approval.Extension() {
		return true // the restriction itself needed no decision, or had it
	}
	return r.Approval.State != ApprovalPending && r.Approval.State != ApprovalRejected
}

// validate checks that a is one of the shapes Restriction allows.
func (a *Approval) validate() error {
	switch a.State {
	case "":
		if *a != (Approval{}) {
			return fmt.Errorf("%w: approval without a state", ErrInvalid)
		}
		return nil
	case ApprovalPending, ApprovalApproved, ApprovalRejected:
	default:
		return fmt.Errorf("%w: approval state %q: want pending, approved or rejected", ErrInvalid, a.State)
	}
	if a.Asker == "" {
		return fmt.Errorf("%w: approval without the operator who asked for it", ErrInvalid)
	}
	switch {
	case a.Pending() && (!a.Decided.IsZero() || a.By != ""):
		return fmt.Errorf("%w: a pending approval is not decided yet", ErrInvalid)
	case !a.Pending() && (a.Decided.IsZero() || a.By == ""):
		return fmt.Errorf("%w: approval %s without when and by whom", ErrInvalid, a.State)
	}
	return nil
}

// RequestExtension records that actor asks to move r's End to
// end, which needs a second operator: r stays enforced until its current
// End meanwhile. A pending extension asked for earlier is replaced.
func (r *Restriction) RequestExtension(actor string, end time.Time) {
	r.Approval = Approval{State: ApprovalPending, Asker: actor, ExtendTo: end.UTC()}
}

// Decide records actor's decision, at now, on what r waits for: approve
// (it is enforced, or its end moves to the extension's) or reject (it
// never is, or its end stays). It refuses with ErrConflict what waits for
// nothing and what is over, and with ErrForbidden the asker's own
// decision to approve: four eyes means someone else. The asker may reject
// (withdraw) their own request.
func (r *Restriction) Decide(now time.Time, actor string, approve bool, reason string) error {
	switch st := r.StatusAt(now); {
	case st == StatusLifted || st == StatusExpired || st == StatusRejected:
		return fmt.Errorf("%w: restriction %d is %s", ErrConflict, r.ID, st)
	case !r.Approval.Pending():
		return fmt.Errorf("%w: restriction %d is %s and waits for no approval", ErrConflict, r.ID, st)
	}
	if approve && actor == r.Approval.Asker {
		what := "restriction " + fmt.Sprint(r.ID)
		if r.Approval.Extension() {
			what = "the extension of " + what
		}
		return fmt.Errorf("%w: %s was asked for by %s; it needs approval by an operator other than %s", ErrForbidden, what, actor, actor)
	}
	if approve && r.Approval.Extension() {
		if !r.Approval.ExtendTo.After(now) {
			return fmt.Errorf("%w: the extension of restriction %d asked for an end, %s, that has passed", ErrConflict, r.ID, r.Approval.ExtendTo.Format(time.RFC3339))
		}
		r.End = r.Approval.ExtendTo
	}
	r.Approval.State = ApprovalRejected
	if approve {
		r.Approval.State = ApprovalApproved
	}
	r.Approval.Decided, r.Approval.By, r.Approval.Reason = now.UTC(), actor, strings.TrimSpace(reason)
	return nil
}
