package curfew

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// A RestrictionID identifies a restriction. IDs are positive and never reused.
type RestrictionID int64

// A Mode is how much of the internet a restricted subject keeps.
type Mode string

// The modes, from the strictest.
const (
	// ModeCutoff leaves no internet access at all.
	ModeCutoff Mode = "cutoff"
	// ModeAllowlist leaves only the listed domains and prefixes (a walled garden).
	ModeAllowlist Mode = "allowlist"
	// ModeBlocklist leaves everything but the listed domains.
	ModeBlocklist Mode = "blocklist"
	// ModeThrottle leaves everything, slowed to the restriction's Rate.
	ModeThrottle Mode = "throttle"
)

// Modes lists the modes, from the strictest.
var Modes = []Mode{ModeCutoff, ModeAllowlist, ModeBlocklist, ModeThrottle}

// ParseMode parses a mode name. The empty string is ModeCutoff.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeCutoff:
		return ModeCutoff, nil
	case ModeAllowlist, ModeBlocklist, ModeThrottle:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%w: mode %q: want cutoff, allowlist, blocklist or throttle", ErrInvalid, s)
}

// strictness orders modes: a higher value leaves less access.
func (m Mode) strictness() int {
	switch m {
	case ModeCutoff:
		return 4
	case ModeAllowlist:
		return 3
	case ModeBlocklist:
		return 2
	case ModeThrottle:
		return 1
	}
	return 0
}

// Stricter reports whether m leaves less access than o.
func (m Mode) Stricter(o Mode) bool { return m.strictness() > o.strictness() }

// Reach is what a mode leaves reachable, one axis of an Enforcement.
// ModeThrottle leaves everything reachable: it limits the Rate axis only.
func (m Mode) Reach() Reach {
	switch m {
	case ModeCutoff:
		return ReachCutoff
	case ModeAllowlist:
		return ReachAllowlist
	case ModeBlocklist:
		return ReachBlocklist
	}
	return ReachOpen
}

// A Reach is what of the internet a target can reach: one axis of an
// Enforcement, the other being its Rate.
type Reach string

// The reaches, from the strictest.
const (
	ReachCutoff    Reach = "cutoff"    // nothing
	ReachAllowlist Reach = "allowlist" // only AllowNames and AllowPrefixes
	ReachBlocklist Reach = "blocklist" // everything but BlockNames
	ReachOpen      Reach = "open"      // everything
)

// Stricter reports whether r leaves less reachable than o. The zero Reach
// counts as ReachOpen.
func (r Reach) Stricter(o Reach) bool { return Mode(r).strictness() > Mode(o).strictness() }

// Restricted reports whether r leaves less than everything reachable.
func (r Reach) Restricted() bool { return r.Stricter(ReachOpen) }

// Limits on free text, so a restriction always fits a notice page and a log line.
const (
	MaxReasonLen = 1000
	MaxNoticeLen = 2000
)

// MaxDuration is the longest a restriction may last. Restrictions are
// temporary by definition; a longer one must be extended deliberately.
const MaxDuration = 366 * 24 * time.Hour

// Restriction limits one subject's internet access between Start and End.
type Restriction struct {
	ID      RestrictionID
	Subject Subject
	Mode    Mode
	Allow   []string // ModeAllowlist: domains and prefixes still reachable
	Block   []string // ModeBlocklist: domains refused
	Rate    Rate     // ModeThrottle: the limit, in bits per second each way
	Reason  string   // internal; required
	Notice  string   // shown to the restricted person; optional
	Author  string   // operator who created it

	Start   time.Time // UTC; inclusive
	End     time.Time // UTC; exclusive; required: no restriction is indefinite
	Created time.Time // UTC

	Lifted     time.Time // zero unless lifted before End
	LiftedBy   string
	LiftReason string

	Expired time.Time // when curfew recorded that End passed; zero until then

	// Approval is the second operator's decision r waits for or had;
	// zero if r needed none. See Enforceable.
	Approval Approval

	// Schedule is the schedule r is one window of; zero for a one-off
	// restriction. Lifting r ends that window alone.
	Schedule ScheduleID
}

// A Status is where a restriction is in its life.
type Status string

// The statuses.
const (
	StatusScheduled Status = "scheduled" // Start is in the future
	StatusActive    Status = "active"
	StatusPending   Status = "pending"  // waits for a second operator; not enforced
	StatusRejected  Status = "rejected" // a second operator refused it; never enforced
	StatusLifted    Status = "lifted"   // ended early by an operator
	StatusExpired   Status = "expired"  // ended at End, applied or, if still pending, not
)

// EffectiveEnd is when r stops applying: End, or the lift or rejection
// time if earlier.
func (r *Restriction) EffectiveEnd() time.Time {
	end := r.End
	if !r.Lifted.IsZero() && r.Lifted.Before(end) {
		end = r.Lifted
	}
	if a := r.Approval; a.State == ApprovalRejected && !a.Extension() && a.Decided.Before(end) {
		end = a.Decided
	}
	return end
}

// ActiveAt reports whether r applies at t.
func (r *Restriction) ActiveAt(t time.Time) bool {
	return r.Enforceable() && !t.Before(r.Start) && t.Before(r.EffectiveEnd())
}

// StatusAt returns r's status at t. A restriction still pending at its
// end is expired without ever having applied.
func (r *Restriction) StatusAt(t time.Time) Status {
	switch whole := !r.Approval.Extension(); {
	case !r.Lifted.IsZero():
		return StatusLifted
	case whole && r.Approval.State == ApprovalRejected:
		return StatusRejected
	case !t.Before(r.End):
		return StatusExpired
	case whole && r.Approval.State == ApprovalPending:
		return StatusPending
	case t.Before(r.Start):
		return StatusScheduled
	}
	return StatusActive
}

// Over reports whether r can no longer apply at t or later.
func (r *Restriction) Over(t time.Time) bool { return !t.Before(r.EffectiveEnd()) }

// Validate checks the rules every stored restriction obeys.
func (r *Restriction) Validate() error {
	if r.Subject.IsZero() {
		return fmt.Errorf("%w: missing subject", ErrInvalid)
	}
	if _, err := ParseMode(string(r.Mode)); err != nil || r.Mode == "" {
		return fmt.Errorf("%w: mode %q: want cutoff, allowlist, blocklist or throttle", ErrInvalid, r.Mode)
	}
	if r.Mode != ModeThrottle && r.Rate != 0 {
		return fmt.Errorf("%w: a rate applies to mode throttle only, not %s", ErrInvalid, r.Mode)
	}
	if err := checkText("reason", r.Reason, MaxReasonLen, true); err != nil {
		return err
	}
	if err := checkText("notice", r.Notice, MaxNoticeLen, false); err != nil {
		return err
	}
	if r.End.IsZero() {
		return fmt.Errorf("%w: missing end: every restriction must end", ErrInvalid)
	}
	if err := checkEndAfterStart(r.Start, r.End); err != nil {
		return err
	}
	if r.End.Sub(r.Start) > MaxDuration {
		return fmt.Errorf("%w: restriction lasts %s, longer than the maximum of %s", ErrInvalid, r.End.Sub(r.Start), MaxDuration)
	}
	if err := r.Approval.validate(); err != nil {
		return err
	}
	switch r.Mode {
	case ModeCutoff:
		if len(r.Allow) > 0 || len(r.Block) > 0 {
			return fmt.Errorf("%w: mode cutoff takes no allow or block list", ErrInvalid)
		}
	case ModeAllowlist:
		if len(r.Allow) == 0 {
			return fmt.Errorf("%w: mode allowlist needs at least one allowed domain or prefix", ErrInvalid)
		}
		if len(r.Block) > 0 {
			return fmt.Errorf("%w: mode allowlist takes no block list", ErrInvalid)
		}
	case ModeBlocklist:
		if len(r.Block) == 0 {
			return fmt.Errorf("%w: mode blocklist needs at least one blocked domain", ErrInvalid)
		}
		if len(r.Allow) > 0 {
			return fmt.Errorf("%w: mode blocklist takes no allow list", ErrInvalid)
		}
	case ModeThrottle:
		if len(r.Allow) > 0 || len(r.Block) > 0 {
			return fmt.Errorf("%w: mode throttle takes no allow or block list (restrict again with mode allowlist or blocklist for those)", ErrInvalid)
		}
		if r.Rate == 0 {
			return fmt.Errorf("%w: mode throttle needs a rate, such as 2mbit", ErrInvalid)
		}
		if err := r.Rate.check(); err != nil {
			return err
		}
	}
	return nil
}

// ValidateReason checks r.Reason alone, as a lift or extension's reason
// is checked.
func (r *Restriction) ValidateReason() error {
	return checkText("reason", r.Reason, MaxReasonLen, true)
}

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: missing %s", ErrInvalid, field)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%w: %s is %d characters, more than %d", ErrInvalid, field, n, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, field)
		}
	}
	return nil
}

// RestrictRequest asks for a new restriction. Exactly one of For and End
// is set; Start defaults to now.
type RestrictRequest struct {
	Subject string
	Mode    Mode
	Allow   []string
	Block   []string
	Rate    Rate // ModeThrottle only
	Reason  string
	Notice  string
	Start   time.Time
	End     time.Time
	For     time.Duration
	// Force allows an ip: subject wider than WidestIPv4 or WidestIPv6.
	Force bool
}

// Restriction builds the restriction r asks for, as of now, by author, and
// validates it, holding its subject to Subject.CheckNew. It does not check
// that the subject exists, nor that it holds none of the gateway's
// addresses (Subject.CheckGateway): those are the engine's to know.
func (req *RestrictRequest) Restriction(now time.Time, author string) (*Restriction, error) {
	subj, err := ParseSubject(req.Subject)
	if err != nil {
		return nil, err
	}
	if err := subj.CheckNew(req.Force); err != nil {
		return nil, err
	}
	mode, err := ParseMode(string(req.Mode))
	if err != nil {
		return nil, err
	}
	start := req.Start
	if start.IsZero() || start.Before(now) {
		start = now
	}
	end, err := endFrom(now, start, req.End, req.For)
	if err != nil {
		return nil, err
	}
	allow, err := normalizeList("allow", req.Allow, true)
	if err != nil {
		return nil, err
	}
	block, err := normalizeList("block", req.Block, false)
	if err != nil {
		return nil, err
	}
	r := &Restriction{
		Subject: subj,
		Mode:    mode,
		Allow:   allow,
		Block:   block,
		Rate:    req.Rate,
		Reason:  strings.TrimSpace(req.Reason),
		Notice:  strings.TrimSpace(req.Notice),
		Author:  author,
		Start:   start.UTC(),
		End:     end.UTC(),
		Created: now.UTC(),
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// endFrom resolves "--for D" or "--until T" against start, which is now or
// later.
func endFrom(now, start, end time.Time, d time.Duration) (time.Time, error) {
	switch {
	case !end.IsZero() && d != 0:
		return time.Time{}, fmt.Errorf("%w: give a duration or an end time, not both", ErrInvalid)
	case d < 0:
		return time.Time{}, fmt.Errorf("%w: duration %s is negative", ErrInvalid, d)
	case d > 0:
		return start.Add(d), nil
	case end.IsZero():
		return time.Time{}, fmt.Errorf("%w: missing duration or end time: every restriction must end", ErrInvalid)
	}
	if !end.After(now) {
		return time.Time{}, fmt.Errorf("%w: end time %s is not in the future", ErrInvalid, end.UTC().Format(time.RFC3339))
	}
	if err := checkEndAfterStart(start, end); err != nil {
		return time.Time{}, err
	}
	return end, nil
}

// checkEndAfterStart reports, in the API's field names, an end that is not
// after the start. An end in the past is the caller's to report first: it
// is the likelier mistake, and its message says so.
func checkEndAfterStart(start, end time.Time) error {
	switch {
	case end.Before(start):
		return fmt.Errorf("%w: ends_at %s is before starts_at %s", ErrInvalid, end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	case end.Equal(start):
		return fmt.Errorf("%w: ends_at %s is the same instant as starts_at: a restriction must last", ErrInvalid, end.UTC().Format(time.RFC3339))
	}
	return nil
}

// ExtendedEnd returns the new End of r when extended by d or to end (exactly
// one is set) at now, or an error if r cannot be extended. A restriction
// that waits for a second operator, or was refused by one, cannot.
func (r *Restriction) ExtendedEnd(now, end time.Time, d time.Duration) (time.Time, error) {
	switch st := r.StatusAt(now); st {
	case StatusLifted, StatusExpired, StatusRejected:
		return time.Time{}, fmt.Errorf("%w: restriction %d is %s", ErrConflict, r.ID, st)
	case StatusPending:
		return time.Time{}, fmt.Errorf("%w: restriction %d waits for approval; its end can move once a second operator has approved it (or lift it and restrict anew)", ErrConflict, r.ID)
	}
	if !end.IsZero() && d != 0 {
		return time.Time{}, fmt.Errorf("%w: give a duration or an end time, not both", ErrInvalid)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%w: duration %s is negative", ErrInvalid, d)
	}
	if d > 0 {
		// "--for D" lengthens the restriction by D; "--until T" moves its
		// end to T, earlier or later.
		end = r.End.Add(d)
	}
	if end.IsZero() {
		return time.Time{}, fmt.Errorf("%w: missing duration or end time", ErrInvalid)
	}
	if !end.After(now) {
		return time.Time{}, fmt.Errorf("%w: new end %s is not in the future", ErrInvalid, end.UTC().Format(time.RFC3339))
	}
	if err := checkEndAfterStart(r.Start, end); err != nil {
		return time.Time{}, err
	}
	if end.Sub(r.Start) > MaxDuration {
		return time.Time{}, fmt.Errorf("%w: restriction would last %s, longer than the maximum of %s", ErrInvalid, end.Sub(r.Start), MaxDuration)
	}
	return end.UTC(), nil
}

// RestrictionFilter selects restrictions. The zero filter selects those that
// are active, scheduled or pending.
type RestrictionFilter struct {
	All     bool           // include lifted, expired and rejected ones
	Subject *Subject       // only this subject
	ID      *RestrictionID // only this one
}
