package curfew

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// A Report is the public account of the restrictions of one period: how
// many there were, of which modes, how they ended, how long they were
// enforced, and the notice each showed. It is what an institution can
// publish about what it did.
//
// By default it holds no internal reason and no identity: no subject (so
// no MAC, address or person's name) and no operator's name. ReportOptions
// add them, for an internal report.
type Report struct {
	From, To time.Time // the period, UTC; From inclusive, To exclusive
	At       time.Time // when the report was computed, UTC
	Options  ReportOptions

	// Checkpoint is the point of the audit log the report was computed
	// up to, so that a reader can check it against an export of the log.
	// NewReport leaves it zero; the caller sets it (Service.AuditCheckpoint).
	Checkpoint Checkpoint

	Counts    ReportCounts
	Durations ReportDurations
	Entries   []ReportEntry // by ID
}

// ReportOptions say what a Report may hold beyond the public default.
type ReportOptions struct {
	// IncludeReasons adds each restriction's internal reason, and the
	// reasons given to lift it and to approve or reject it.
	IncludeReasons bool
	// IncludeSubjects adds each restriction's subject and the names of
	// the operators who created, lifted, approved or rejected it: every
	// identity the report would otherwise leave out.
	IncludeSubjects bool
}

// A Checkpoint names one point of the audit log: the event Seq and its
// Hash, which commits to every event before it, with the gateway's ed25519
// Signature over them, made at At (see package audit). A head the gateway
// could not sign has no Signature, and At is then when the event was
// recorded.
type Checkpoint struct {
	Seq       int64
	Hash      string // hex
	At        time.Time
	Signature string // base64; empty when unsigned
}

// An Outcome is how a restriction of a report stood when the report was
// computed.
type Outcome string

// The outcomes. Only OutcomeActive, OutcomeLiftedEarly and OutcomeExpired
// describe restrictions that were enforced; the others never were (yet).
const (
	OutcomeActive      Outcome = "active"       // enforced now
	OutcomeScheduled   Outcome = "scheduled"    // starts later
	OutcomePending     Outcome = "pending"      // waits for a second operator
	OutcomeLiftedEarly Outcome = "lifted_early" // enforced, then lifted before its end
	OutcomeExpired     Outcome = "expired"      // enforced until its end
	OutcomeRejected    Outcome = "rejected"     // refused by a second operator; never enforced
	OutcomeLapsed      Outcome = "lapsed"       // its end passed while it waited for approval
	OutcomeWithdrawn   Outcome = "withdrawn"    // lifted before it was ever enforced
)

// ReportCounts counts a report's restrictions. Total is the sum of the
// outcome counts, and of ByMode.
type ReportCounts struct {
	Total  int
	ByMode map[Mode]int // every mode, zero included

	Active, Scheduled, Pending  int
	LiftedEarly, Expired        int
	Rejected, Lapsed, Withdrawn int
}

// ReportDurations sum up how long a report's restrictions lasted.
//
// Enforced is restriction-time within the period: the sum, over the
// restrictions, of the part of the period each was enforced (up to when
// the report was computed), so two restrictions enforced at once count
// twice. Median and Longest are of the whole enforced span of each
// restriction that was enforced, inside the period or not; PlannedMedian
// and PlannedLongest of each restriction's planned span, Start to End.
type ReportDurations struct {
	Enforced                      time.Duration
	Median, Longest               time.Duration
	PlannedMedian, PlannedLongest time.Duration
}

// ReportEntry is one restriction of a report. ID is the restriction's
// number, which identifies the restriction, not anyone.
type ReportEntry struct {
	ID      RestrictionID
	Mode    Mode
	Outcome Outcome

	Start        time.Time // planned start
	End          time.Time // planned end, after any extension
	EffectiveEnd time.Time // when it stopped, or will stop, applying (End, or the lift or rejection)

	Planned  time.Duration // End − Start
	Enforced time.Duration // how long it was enforced, up to the report's At
	InPeriod time.Duration // how much of that lies in the period

	Notice string // the public text the restricted person was shown

	// With ReportOptions.IncludeReasons; empty otherwise.
	Reason, LiftReason, DecisionReason string
	// With ReportOptions.IncludeSubjects; empty otherwise.
	Subject, Author, LiftedBy, DecidedBy string
}

// NewReport computes the report, as of now, of the restrictions rs for
// the period [from, to).
//
// A restriction belongs to the period if it was enforced at some instant
// of it (before now), or if it never was enforced and was created in the
// period: one rejected, withdrawn, lapsed, still pending or scheduled.
// So every restriction decided in the period appears, and every one that
// affected anyone in it, once.
func NewReport(now, from, to time.Time, rs []*Restriction, opts ReportOptions) (*Report, error) {
	if from.IsZero() || to.IsZero() {
		return nil, fmt.Errorf("%w: a report needs a period: from and to", ErrInvalid)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: report period ends (%s) before it starts (%s)", ErrInvalid, to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	}
	rep := &Report{
		From: from.UTC(), To: to.UTC(), At: now.UTC(), Options: opts,
		Counts:  ReportCounts{ByMode: map[Mode]int{ModeCutoff: 0, ModeAllowlist: 0, ModeBlocklist: 0}},
		Entries: []ReportEntry{},
	}
	var enforced, planned []time.Duration
	for _, r := range rs {
		on, off := r.enforcedSpan(now)
		applied := on.Before(off)
		in := applied && overlap(on, off, from, to) > 0
		if !in && (applied || r.Created.Before(from) || !r.Created.Before(to)) {
			continue
		}
		e := ReportEntry{
			ID: r.ID, Mode: r.Mode, Outcome: r.outcome(now, applied),
			Start: r.Start.UTC(), End: r.End.UTC(), EffectiveEnd: r.EffectiveEnd().UTC(),
			Planned: r.End.Sub(r.Start),
			Notice:  r.Notice,
		}
		if applied {
			e.Enforced = off.Sub(on)
			e.InPeriod = overlap(on, off, from, to)
			enforced = append(enforced, e.Enforced)
		}
		planned = append(planned, e.Planned)
		if opts.IncludeReasons {
			e.Reason, e.LiftReason, e.DecisionReason = r.Reason, r.LiftReason, r.Approval.Reason
		}
		if opts.IncludeSubjects {
			e.Subject, e.Author, e.LiftedBy, e.DecidedBy = r.Subject.String(), r.Author, r.LiftedBy, r.Approval.By
		}
		rep.Entries = append(rep.Entries, e)
		rep.count(&e)
	}
	slices.SortFunc(rep.Entries, func(a, b ReportEntry) int { return cmp.Compare(a.ID, b.ID) })
	rep.Durations.Median, rep.Durations.Longest = medianMax(enforced)
	rep.Durations.PlannedMedian, rep.Durations.PlannedLongest = medianMax(planned)
	return rep, nil
}

// count adds e to rep's counts and durations.
func (rep *Report) count(e *ReportEntry) {
	c := &rep.Counts
	c.Total++
	c.ByMode[e.Mode]++
	rep.Durations.Enforced += e.InPeriod
	switch e.Outcome {
	case OutcomeActive:
		c.Active++
	case OutcomeScheduled:
		c.Scheduled++
	case OutcomePending:
		c.Pending++
	case OutcomeLiftedEarly:
		c.LiftedEarly++
	case OutcomeExpired:
		c.Expired++
	case OutcomeRejected:
		c.Rejected++
	case OutcomeLapsed:
		c.Lapsed++
	case OutcomeWithdrawn:
		c.Withdrawn++
	}
}

// enforcedSpan is when r was enforced up to now: from its Start, or its
// approval if that came later, to its EffectiveEnd or now if earlier. It
// is empty (on not before off) if r never was.
func (r *Restriction) enforcedSpan(now time.Time) (on, off time.Time) {
	if !r.Enforceable() {
		return now, now
	}
	on = r.Start
	if a := r.Approval; a.State == ApprovalApproved && !a.Extension() && a.Decided.After(on) {
		on = a.Decided
	}
	off = r.EffectiveEnd()
	if now.Before(off) {
		off = now
	}
	return on, off
}

// outcome is how r stands at now; applied says whether it was ever
// enforced.
func (r *Restriction) outcome(now time.Time, applied bool) Outcome {
	switch r.StatusAt(now) {
	case StatusLifted:
		if applied {
			return OutcomeLiftedEarly
		}
		return OutcomeWithdrawn
	case StatusRejected:
		return OutcomeRejected
	case StatusExpired:
		if applied {
			return OutcomeExpired
		}
		return OutcomeLapsed
	case StatusPending:
		return OutcomePending
	case StatusScheduled:
		return OutcomeScheduled
	}
	return OutcomeActive
}

// overlap is the length of [a, b) ∩ [c, d).
func overlap(a, b, c, d time.Time) time.Duration {
	if c.After(a) {
		a = c
	}
	if d.Before(b) {
		b = d
	}
	if !a.Before(b) {
		return 0
	}
	return b.Sub(a)
}

// medianMax returns the median and the largest of ds, zero for none. The
// median of an even number of values is the mean of the middle two.
func medianMax(ds []time.Duration) (median, longest time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = s[n/2-1] + (s[n/2]-s[n/2-1])/2
	}
	return median, s[n-1]
}
