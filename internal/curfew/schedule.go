package curfew

import (
	"fmt"
	"strings"
	"time"
)

// A ScheduleID identifies a schedule. IDs are positive and never reused.
type ScheduleID int64

// Days is a set of weekdays: bit d is set when time.Weekday d is in it.
type Days uint8

// The named sets of days.
const (
	Daily    Days = 1<<7 - 1
	Weekdays Days = 1<<time.Monday | 1<<time.Tuesday | 1<<time.Wednesday | 1<<time.Thursday | 1<<time.Friday
	Weekends Days = 1<<time.Saturday | 1<<time.Sunday
)

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDays parses the days a schedule runs on: "daily", "weekdays",
// "weekends", or a comma-separated list of day names (three letters or
// whole, any case) and ranges such as "mon-thu,sun". A range runs forward
// through the week, so "fri-mon" is Friday to Monday.
func ParseDays(s string) (Days, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "daily":
		return Daily, nil
	case "weekdays":
		return Weekdays, nil
	case "weekends":
		return Weekends, nil
	case "":
		return 0, fmt.Errorf("%w: days: empty (want daily, weekdays, weekends or days such as mon-thu,sun)", ErrInvalid)
	}
	var d Days
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := parseDay(from)
		if err != nil {
			return 0, fmt.Errorf("%w: days %q: %v", ErrInvalid, s, err)
		}
		b := a
		if isRange {
			if b, err = parseDay(to); err != nil {
				return 0, fmt.Errorf("%w: days %q: %v", ErrInvalid, s, err)
			}
		}
		for w := a; ; w = (w + 1) % 7 {
			d |= 1 << w
			if w == b {
				break
			}
		}
	}
	return d, nil
}

func parseDay(s string) (time.Weekday, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for w := time.Sunday; w <= time.Saturday; w++ {
		if n == dayNames[w] || n == strings.ToLower(w.String()) {
			return w, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", s)
}

// Has reports whether w is in d.
func (d Days) Has(w time.Weekday) bool { return d&(1<<w) != 0 }

// String returns the canonical form of d, which ParseDays reads back:
// "daily", "weekdays", "weekends", or ranges from Monday on, such as
// "mon-thu,sun".
func (d Days) String() string {
	switch d {
	case Daily:
		return "daily"
	case Weekdays:
		return "weekdays"
	case Weekends:
		return "weekends"
	case 0:
		return ""
	}
	var parts []string
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	for i := 0; i < len(order); {
		if !d.Has(order[i]) {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && d.Has(order[j+1]) {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, dayNames[order[i]])
		default:
			parts = append(parts, dayNames[order[i]]+"-"+dayNames[order[j]])
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// A Clock is a local time of day, in minutes since midnight (0 to 1439).
type Clock int

// ParseClock parses "HH:MM" (24-hour).
func ParseClock(s string) (Clock, error) {
	if len(s) != 5 || s[2] != ':' || !isDigits(s[:2]) || !isDigits(s[3:]) {
		return 0, fmt.Errorf("%w: time of day %q: want HH:MM, such as 22:00", ErrInvalid, s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("%w: time of day %q: want HH:MM from 00:00 to 23:59", ErrInvalid, s)
	}
	return Clock(h*60 + m), nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String returns c as "HH:MM".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// MaxScheduleAhead is how far away a schedule's Until may be when it is
// added: a schedule is as temporary as a restriction.
const MaxScheduleAhead = MaxDuration

// Schedule restricts one subject in a window that recurs on Days, from
// From to To local time in Zone, until Until. A window whose To is not
// after its From runs past midnight and belongs to the day it starts on.
// Each window, once open, is enforced as a Restriction whose Schedule is
// the schedule's ID (see Window).
//
// Local times follow Zone's daylight saving changes: a 22:00 window
// starts at 22:00 local on both sides of a change. A From or To that
// falls in a skipped hour (spring forward) means the first valid time
// after it, the instant of the change; one that falls in a repeated hour
// (fall back) means its first occurrence.
type Schedule struct {
	ID      ScheduleID
	Subject Subject
	Days    Days
	From    Clock
	To      Clock
	Zone    *time.Location
	Until   time.Time // UTC; no window runs past it

	Mode   Mode
	Allow  []string
	Block  []string
	Rate   Rate   // ModeThrottle: the limit each way
	Reason string // internal; required
	Notice string // shown to the restricted person; optional
	Author string

	Created time.Time // UTC; no window starts before it

	Removed      time.Time // zero unless removed; no window runs past it
	RemovedBy    string
	RemoveReason string
}

// A Window is one occurrence of a schedule: [Start, End), both UTC.
type Window struct {
	Start, End time.Time
}

// end is when s stops making windows: Until, or its removal if earlier.
func (s *Schedule) end() time.Time {
	if !s.Removed.IsZero() && s.Removed.Before(s.Until) {
		return s.Removed
	}
	return s.Until
}

// Over reports whether s makes no window at t or later.
func (s *Schedule) Over(t time.Time) bool { return !t.Before(s.end()) }

// windowOn returns the window that starts on the local day (y, m, d), cut
// to Created and to the schedule's end; ok is false if the day is not in
// Days or nothing of the window is left.
func (s *Schedule) windowOn(y int, m time.Month, d int) (w Window, ok bool) {
	if !s.Days.Has(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()) {
		return Window{}, false
	}
	w.Start = localAt(y, m, d, s.From, s.Zone)
	if s.To > s.From {
		w.End = localAt(y, m, d, s.To, s.Zone)
	} else {
		w.End = localAt(y, m, d+1, s.To, s.Zone)
	}
	if w.Start.Before(s.Created) {
		w.Start = s.Created
	}
	if end := s.end(); w.End.After(end) {
		w.End = end
	}
	if !w.End.After(w.Start) {
		return Window{}, false
	}
	return Window{Start: w.Start.UTC(), End: w.End.UTC()}, true
}

// localAt returns the instant the clocks of loc show c on day (y, m, d)
// (normalised as time.Date does), following the rules in Schedule's doc
// for skipped and repeated local times.
func localAt(y int, m time.Month, d int, c Clock, loc *time.Location) time.Time {
	h, mi := int(c)/60, int(c)%60
	t := time.Date(y, m, d, h, mi, 0, 0, loc)
	want := time.Date(y, m, d, h, mi, 0, 0, time.UTC) // the wall clock wanted, normalised
	if wall(t) != want {
		// In a gap: the clocks jumped over h:mi; take the jump itself,
		// which ends t's zone period if t fell before it, or starts it.
		start, end := t.ZoneBounds()
		if wall(t).Before(want) {
			return end
		}
		return start
	}
	// In a repeated stretch the same wall clock shows twice: take the
	// first. Offsets change by at most a few hours, in steps of 15
	// minutes, so an earlier occurrence lies within 3 hours after the
	// start of t's zone period, or there is none.
	if start, _ := t.ZoneBounds(); start.IsZero() || t.Sub(start) > 3*time.Hour {
		return t
	}
	for back := 15 * time.Minute; back <= 3*time.Hour; back += 15 * time.Minute {
		if u := t.Add(-back); wall(u) == want {
			t = u
		}
	}
	return t
}

// wall returns t's local wall clock as a UTC time, for comparing.
func wall(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// Next returns the first window of s that ends after after: the window
// open at after, if one is, else the next one to start. ok is false if s
// makes no more windows.
func (s *Schedule) Next(after time.Time) (w Window, ok bool) {
	if s.Zone == nil || s.Days == 0 || s.Over(after) {
		return Window{}, false
	}
	// A window starts on the day before at the earliest (past midnight)
	// and, as some day in every week is in Days, within 8 days.
	l := after.In(s.Zone)
	y, m, d := l.Date()
	for i := -1; i <= 8; i++ {
		w, ok := s.windowOn(y, m, d+i)
		if !ok {
			if !localAt(y, m, d+i, s.From, s.Zone).Before(s.end()) {
				return Window{}, false
			}
			continue
		}
		if w.End.After(after) {
			return w, true
		}
	}
	return Window{}, false
}

// Windows returns the windows of s that overlap [from, to), in order, each
// whole (not cut to from or to). The kernel's backstop loads them for the
// days ahead; its cost is that of the windows returned.
func (s *Schedule) Windows(from, to time.Time) []Window {
	var ws []Window
	for at := from; at.Before(to); {
		w, ok := s.Next(at)
		if !ok || !w.Start.Before(to) {
			break
		}
		ws = append(ws, w)
		at = w.End
	}
	return ws
}

// LongestWindow returns the length of the longest window s makes: a
// window is longer by the hour the clocks go back in it.
func (s *Schedule) LongestWindow() time.Duration {
	var longest time.Duration
	for _, w := range s.Windows(s.Created, s.end()) {
		longest = max(longest, w.End.Sub(w.Start))
	}
	return longest
}

// Window returns the restriction that enforces w, one window of s: s's
// subject, mode, lists and notice, from w.Start to w.End. The caller
// gives it an ID when it stores it.
func (s *Schedule) Window(w Window) *Restriction {
	return &Restriction{
		Subject:  s.Subject,
		Mode:     s.Mode,
		Allow:    s.Allow,
		Block:    s.Block,
		Rate:     s.Rate,
		Reason:   s.Reason,
		Notice:   s.Notice,
		Author:   s.Author,
		Start:    w.Start,
		End:      w.End,
		Created:  w.Start,
		Schedule: s.ID,
	}
}

// Validate checks the rules every stored schedule obeys.
func (s *Schedule) Validate() error {
	if s.Subject.IsZero() {
		return fmt.Errorf("%w: missing subject", ErrInvalid)
	}
	if s.Days == 0 || s.Days&^Daily != 0 {
		return fmt.Errorf("%w: days: none given", ErrInvalid)
	}
	if s.From < 0 || s.From >= 24*60 || s.To < 0 || s.To >= 24*60 {
		return fmt.Errorf("%w: from and to must be times of day", ErrInvalid)
	}
	if s.From == s.To {
		return fmt.Errorf("%w: --from and --to are both %s: a window must last", ErrInvalid, s.From)
	}
	if s.Zone == nil {
		return fmt.Errorf("%w: missing time zone", ErrInvalid)
	}
	if s.Until.IsZero() {
		return fmt.Errorf("%w: missing until: every schedule must end", ErrInvalid)
	}
	// A window is held to a restriction's rules, from one minute long.
	r := s.Window(Window{Start: s.Until.Add(-time.Minute), End: s.Until})
	if err := r.Validate(); err != nil {
		return err
	}
	return nil
}

// ScheduleRequest asks for a new schedule. Zone is an IANA zone name;
// empty means DefaultZone.
type ScheduleRequest struct {
	Subject string
	Days    string
	From    string
	To      string
	Zone    string
	Until   time.Time
	Mode    Mode
	Allow   []string
	Block   []string
	Rate    Rate // ModeThrottle only
	Reason  string
	Notice  string
	Force   bool // as for RestrictRequest
}

// Schedule builds the schedule req asks for, as of now, by author, in
// zone def when req names none, and validates it.
func (req *ScheduleRequest) Schedule(now time.Time, author string, def *time.Location) (*Schedule, error) {
	subj, err := ParseSubject(req.Subject)
	if err != nil {
		return nil, err
	}
	if err := subj.CheckNew(req.Force); err != nil {
		return nil, err
	}
	days, err := ParseDays(req.Days)
	if err != nil {
		return nil, err
	}
	from, err := ParseClock(req.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to, err := ParseClock(req.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	zone := def
	if req.Zone != "" {
		if zone, err = LoadZone(req.Zone); err != nil {
			return nil, err
		}
	}
	if zone == nil {
		zone = time.UTC
	}
	if zone.String() == "Local" {
		return nil, fmt.Errorf("%w: the gateway's time zone has no IANA name (set timezone in its configuration): give --tz ZONE", ErrInvalid)
	}
	switch {
	case req.Until.IsZero():
		return nil, fmt.Errorf("%w: missing until: every schedule must end", ErrInvalid)
	case !req.Until.After(now):
		return nil, fmt.Errorf("%w: until %s is not in the future", ErrInvalid, req.Until.UTC().Format(time.RFC3339))
	case req.Until.Sub(now) > MaxScheduleAhead:
		return nil, fmt.Errorf("%w: until %s is more than 366 days away", ErrInvalid, req.Until.UTC().Format(time.RFC3339))
	}
	mode, err := ParseMode(string(req.Mode))
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
	s := &Schedule{
		Subject: subj,
		Days:    days,
		From:    from,
		To:      to,
		Zone:    zone,
		Until:   req.Until.UTC(),
		Mode:    mode,
		Allow:   allow,
		Block:   block,
		Rate:    req.Rate,
		Reason:  strings.TrimSpace(req.Reason),
		Notice:  strings.TrimSpace(req.Notice),
		Author:  author,
		Created: now.UTC(),
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadZone loads the IANA time zone name ("Europe/London"), refusing
// names that do not exist and the ambiguous "Local".
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%w: time zone %q: want an IANA name such as Europe/London", ErrInvalid, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q does not exist (want an IANA name such as Europe/London)", ErrInvalid, name)
	}
	return loc, nil
}

// ScheduleFilter selects schedules. The zero filter selects those that
// are not over.
type ScheduleFilter struct {
	All bool        // include removed and ended ones
	ID  *ScheduleID // only this one
}
