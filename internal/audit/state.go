package audit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// RestrictionFields returns the fields of r as a full record holds them
// (restriction.imported, restriction.repaired).
func RestrictionFields(r *curfew.Restriction) *Fields {
	return (&Fields{
		Mode: r.Mode, Allow: r.Allow, Block: r.Block, Rate: r.Rate, Reason: r.Reason, Notice: r.Notice, Author: r.Author,
		Start: r.Start, End: r.End, Created: r.Created,
		Lifted: r.Lifted, LiftedBy: r.LiftedBy, LiftReason: r.LiftReason, Expired: r.Expired,
		Schedule: int64(r.Schedule),
	}).withApproval(r.Approval)
}

// ScheduleFields returns the fields of s as schedule.added records them;
// its subject and reason are the event's.
func ScheduleFields(s *curfew.Schedule) *Fields {
	return &Fields{
		Schedule: int64(s.ID), Days: s.Days.String(), From: s.From.String(), To: s.To.String(), Zone: s.Zone.String(),
		Until: s.Until, Mode: s.Mode, Allow: s.Allow, Block: s.Block, Rate: s.Rate, Notice: s.Notice, Author: s.Author, Created: s.Created,
	}
}

// ApprovalFields returns the fields of a restriction whose end is end and
// whose approval is a, as an event that changes them (extended, approved,
// rejected) records them after the change.
func ApprovalFields(end time.Time, a curfew.Approval) *Fields {
	return (&Fields{End: end}).withApproval(a)
}

func (f *Fields) withApproval(a curfew.Approval) *Fields {
	f.Approval, f.Asker, f.ExtendTo = a.State, a.Asker, a.ExtendTo
	f.Decided, f.DecidedBy, f.DecisionReason = a.Decided, a.By, a.Reason
	return f
}

func (f *Fields) approval() curfew.Approval {
	return curfew.Approval{State: f.Approval, Asker: f.Asker, ExtendTo: f.ExtendTo,
		Decided: f.Decided, By: f.DecidedBy, Reason: f.DecisionReason}
}

// DeviceFields returns the fields of d, whose MAC is the event's subject.
func DeviceFields(d *curfew.Device) *Fields {
	f := &Fields{Name: d.Name, Owner: d.Owner, Created: d.Created}
	for _, a := range d.Addrs {
		f.Addrs = append(f.Addrs, a.String())
	}
	return f
}

// DeviceSubject returns the subject of events about d.
func DeviceSubject(d *curfew.Device) string {
	return curfew.Subject{Kind: curfew.SubjectDevice, MAC: d.MAC}.String()
}

// restriction returns the restriction f records, with id and subject.
func (f *Fields) restriction(id curfew.RestrictionID, subject string) (*curfew.Restriction, error) {
	subj, err := curfew.ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	return &curfew.Restriction{
		ID: id, Subject: subj, Mode: f.Mode, Allow: slices.Clone(f.Allow), Block: slices.Clone(f.Block), Rate: f.Rate,
		Reason: f.Reason, Notice: f.Notice, Author: f.Author, Start: f.Start, End: f.End, Created: f.Created,
		Lifted: f.Lifted, LiftedBy: f.LiftedBy, LiftReason: f.LiftReason, Expired: f.Expired,
		Approval: f.approval(), Schedule: curfew.ScheduleID(f.Schedule),
	}, nil
}

func (f *Fields) device(subject string) (*curfew.Device, error) {
	subj, err := curfew.ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	if subj.Kind != curfew.SubjectDevice {
		return nil, fmt.Errorf("subject %s is not a device", subject)
	}
	d := &curfew.Device{MAC: subj.MAC, Name: f.Name, Owner: f.Owner, Created: f.Created}
	for _, s := range f.Addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("device %s: address %q: %w", subject, s, err)
		}
		d.Addrs = append(d.Addrs, a)
	}
	return d, nil
}

// State is what the log says the store holds: the restrictions and
// devices its events created and changed, replayed in order. The store's
// rows are held to it (Compare), so that a row edited, added or deleted
// behind curfew's back is found and not enforced.
type State struct {
	// restrictions are those not ended (neither lifted nor expired),
	// which events still change. An ended one never changes again: it is
	// kept packed (pack) in packed, at closed[id], so that a log of a
	// million events holds the garbage collector up little.
	restrictions map[curfew.RestrictionID]*curfew.Restriction
	closed       map[curfew.RestrictionID]span // pointer-free
	packed       []byte
	applied      map[curfew.RestrictionID]bool
	devices      map[string]*curfew.Device // by MAC in written form
	config       string
	problems     []Problem
}

// NewState returns the state of an empty log.
func NewState() *State {
	return &State{
		restrictions: map[curfew.RestrictionID]*curfew.Restriction{},
		closed:       map[curfew.RestrictionID]span{},
		applied:      map[curfew.RestrictionID]bool{},
		devices:      map[string]*curfew.Device{},
	}
}

// Apply replays e, the next event of the log.
func (s *State) Apply(e *Event) {
	if err := s.apply(e); err != nil {
		s.problems = append(s.problems, Problem{Kind: ProblemMalformed, Seq: e.Seq, Err: err.Error()})
	}
}

func (s *State) apply(e *Event) error {
	after := e.After
	if after == nil {
		after = &Fields{}
	}
	switch e.Kind {
	case KindRestrictionCreated, KindRestrictionImported, KindRestrictionRepaired, KindWindowOpened:
		if e.Kind == KindRestrictionRepaired && e.After == nil {
			delete(s.restrictions, e.Restriction)
			delete(s.closed, e.Restriction)
			delete(s.applied, e.Restriction)
			return nil
		}
		r, err := after.restriction(e.Restriction, e.Subject)
		if err != nil {
			return err
		}
		if e.Kind == KindRestrictionCreated || e.Kind == KindWindowOpened {
			r.Reason = e.Reason
		}
		if e.Kind == KindRestrictionImported {
			// Earlier releases enforced what they stored, unless it waited for
			// a second operator or was rejected by one.
			s.applied[r.ID] = r.Enforceable()
		}
		s.set(r)
		return nil
	case KindDeviceAdded, KindDeviceApproved, KindDeviceImported, KindDeviceRepaired:
		if e.Kind == KindDeviceRepaired && e.After == nil {
			subj, err := curfew.ParseSubject(e.Subject)
			if err != nil {
				return err
			}
			delete(s.devices, subj.MAC.String())
			return nil
		}
		d, err := after.device(e.Subject)
		if err != nil {
			return err
		}
		s.devices[d.MAC.String()] = d
		return nil
	case KindDeviceRemoved:
		subj, err := curfew.ParseSubject(e.Subject)
		if err != nil {
			return err
		}
		if subj.Kind != curfew.SubjectDevice {
			return fmt.Errorf("subject %s is not a device", e.Subject)
		}
		delete(s.devices, subj.MAC.String())
		return nil
	case KindPersonRemoved:
		subj, err := curfew.ParseSubject(e.Subject)
		if err != nil {
			return err
		}
		if subj.Kind != curfew.SubjectPerson {
			return fmt.Errorf("subject %s is not a person", e.Subject)
		}
		for _, d := range s.devices {
			if d.Owner == subj.Name {
				d.Owner = "" // its devices stay, without owner
			}
		}
		return nil
	case KindDaemonStarted:
		s.config = after.ConfigSHA256
		return nil
	case KindRestrictionLifted, KindRestrictionExtended, KindRestrictionExpired, KindRestrictionApplied,
		KindRestrictionApproved, KindRestrictionRejected, KindWindowClosed:
	default:
		return nil
	}
	if e.Kind == KindRestrictionApplied {
		if s.restrictions[e.Restriction] != nil {
			s.applied[e.Restriction] = true
		} else if _, ended := s.closed[e.Restriction]; !ended {
			s.problems = append(s.problems, Problem{Kind: ProblemReference, Seq: e.Seq, Restriction: e.Restriction})
		}
		return nil
	}
	r := s.Restriction(e.Restriction)
	if r == nil {
		s.problems = append(s.problems, Problem{Kind: ProblemReference, Seq: e.Seq, Restriction: e.Restriction})
		return nil
	}
	// s made r and is its only owner: it changes it in place.
	switch e.Kind {
	case KindRestrictionLifted:
		r.Lifted, r.LiftedBy, r.LiftReason = after.Lifted, after.LiftedBy, e.Reason
	case KindRestrictionExtended, KindRestrictionApproved, KindRestrictionRejected:
		// After holds the end and the approval as the change left them:
		// an extension that waits for a second operator leaves the end.
		if !after.End.IsZero() {
			r.End = after.End
		}
		r.Approval = after.approval()
	case KindRestrictionExpired, KindWindowClosed:
		r.Expired = after.Expired
	}
	s.set(r)
	return nil
}

// set records r as the restriction with its ID: open, or, once ended,
// packed.
func (s *State) set(r *curfew.Restriction) {
	if r.Lifted.IsZero() && r.Expired.IsZero() {
		s.restrictions[r.ID] = r
		if len(s.closed) > 0 {
			delete(s.closed, r.ID) // repaired back to open
		}
		return
	}
	delete(s.restrictions, r.ID)
	delete(s.applied, r.ID) // an ended restriction's enforcement no longer matters
	off := len(s.packed)
	s.packed = pack(s.packed, r)
	s.closed[r.ID] = span{off, len(s.packed)}
}

// span is where an ended restriction is in State.packed.
type span struct{ from, to int }

// pack appends r to b in a compact form that holds every field Compare
// compares, so that two restrictions pack alike if and only if Compare
// finds no difference between them.
func pack(b []byte, r *curfew.Restriction) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(l []string) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			str(s)
		}
	}
	ms := func(t time.Time) {
		if t.IsZero() {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, t.UnixMilli())
	}
	b = binary.AppendVarint(b, int64(r.ID))
	str(r.Subject.String())
	str(string(r.Mode))
	list(r.Allow)
	list(r.Block)
	str(r.Reason)
	str(r.Notice)
	str(r.Author)
	ms(r.Start)
	ms(r.End)
	ms(r.Created)
	ms(r.Lifted)
	str(r.LiftedBy)
	str(r.LiftReason)
	ms(r.Expired)
	b = binary.AppendVarint(b, int64(r.Schedule))
	a := &r.Approval
	str(string(a.State))
	str(a.Asker)
	ms(a.ExtendTo)
	ms(a.Decided)
	str(a.By)
	str(a.Reason)
	b = binary.AppendVarint(b, int64(r.Rate))
	return b
}

// unpack reads a restriction written by pack.
func unpack(b []byte) *curfew.Restriction {
	str := func() string {
		n, k := binary.Uvarint(b)
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s
	}
	list := func() []string {
		n, k := binary.Uvarint(b)
		b = b[k:]
		var l []string
		for range n {
			l = append(l, str())
		}
		return l
	}
	ms := func() time.Time {
		set := b[0]
		b = b[1:]
		if set == 0 {
			return time.Time{}
		}
		v, k := binary.Varint(b)
		b = b[k:]
		return time.UnixMilli(v).UTC()
	}
	id, k := binary.Varint(b)
	b = b[k:]
	r := &curfew.Restriction{ID: curfew.RestrictionID(id)}
	r.Subject, _ = curfew.ParseSubject(str()) // packed from a valid subject
	r.Mode = curfew.Mode(str())
	r.Allow, r.Block = list(), list()
	r.Reason, r.Notice, r.Author = str(), str(), str()
	r.Start, r.End, r.Created, r.Lifted = ms(), ms(), ms(), ms()
	r.LiftedBy, r.LiftReason = str(), str()
	r.Expired = ms()
	sched, k := binary.Varint(b)
	b = b[k:]
	r.Schedule = curfew.ScheduleID(sched)
	r.Approval.State = curfew.ApprovalState(str())
	r.Approval.Asker = str()
	r.Approval.ExtendTo, r.Approval.Decided = ms(), ms()
	r.Approval.By, r.Approval.Reason = str(), str()
	rate, _ := binary.Varint(b)
	r.Rate = curfew.Rate(rate)
	return r
}

// Problems returns what could not be replayed: events that do not decode
// into a restriction or device, and events that change a restriction no
// event created.
func (s *State) Problems() []Problem { return s.problems }

// Restrictions returns every restriction the log records, by ID. The
// caller does not change them: those not ended are s's, and the next Apply
// may change them.
func (s *State) Restrictions() []*curfew.Restriction {
	ids := slices.Sorted(maps.Keys(s.restrictions))
	for id := range s.closed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rs := make([]*curfew.Restriction, 0, len(ids))
	for _, id := range ids {
		rs = append(rs, s.Restriction(id))
	}
	return rs
}

// Open returns the restrictions the log records that are neither lifted
// nor expired, by ID, as Restrictions does.
func (s *State) Open() []*curfew.Restriction {
	ids := slices.Sorted(maps.Keys(s.restrictions))
	rs := make([]*curfew.Restriction, 0, len(ids))
	for _, id := range ids {
		rs = append(rs, s.restrictions[id])
	}
	return rs
}

// Restriction returns the restriction with id as the log records it, or
// nil.
func (s *State) Restriction(id curfew.RestrictionID) *curfew.Restriction {
	if r := s.restrictions[id]; r != nil {
		return r
	}
	if sp, ok := s.closed[id]; ok {
		return unpack(s.packed[sp.from:sp.to])
	}
	return nil
}

// Applied reports whether the log records that restriction id was enforced.
func (s *State) Applied(id curfew.RestrictionID) bool { return s.applied[id] }

// Devices returns every device the log records, by MAC.
func (s *State) Devices() []*curfew.Device {
	macs := slices.Sorted(maps.Keys(s.devices))
	ds := make([]*curfew.Device, 0, len(macs))
	for _, m := range macs {
		ds = append(ds, s.devices[m])
	}
	return ds
}

// Config returns the configuration digest the latest daemon.started
// recorded, or "".
func (s *State) Config() string { return s.config }

// A Difference is a stored row that is not what the log says.
type Difference struct {
	Restriction curfew.RestrictionID // for a restriction
	MAC         string               // for a device
	// Fields that differ; nil if Row or Log is nil.
	Fields []string
	// The row as stored (nil: there is none) and as the log has it (nil:
	// the log never recorded it). One of each pair is set.
	Row, Log             *curfew.Restriction
	RowDevice, LogDevice *curfew.Device
}

// Problem returns d as a problem of a verification.
func (d *Difference) Problem() Problem {
	return Problem{Kind: ProblemState, Restriction: d.Restriction, Device: d.MAC, Fields: d.Fields,
		NoRow: d.Row == nil && d.RowDevice == nil, NoRecord: d.Log == nil && d.LogDevice == nil}
}

// Compare holds the stored rows to s and returns every row that differs,
// restrictions by ID then devices by MAC.
func (s *State) Compare(rows []*curfew.Restriction, devices []*curfew.Device) []Difference {
	c := s.Comparer()
	for _, r := range rows {
		c.Restriction(r)
	}
	for _, d := range devices {
		c.Device(d)
	}
	return c.Done()
}

// A Comparer holds stored rows to a State one at a time, so that the rows
// need not all be in memory at once. Call Done once every row is given.
type Comparer struct {
	s       *State
	seen    []bool                        // by ID, for IDs up to the newest the log knows
	more    map[curfew.RestrictionID]bool // seen, above those
	seenMAC map[string]bool
	diffs   []Difference
	scratch []byte // a row, packed
}

// Comparer returns a Comparer of rows against s, which must not change
// until Done.
func (s *State) Comparer() *Comparer {
	var newest curfew.RestrictionID
	for id := range s.restrictions {
		newest = max(newest, id)
	}
	for id := range s.closed {
		newest = max(newest, id)
	}
	return &Comparer{s: s, seen: make([]bool, newest+1), more: map[curfew.RestrictionID]bool{}, seenMAC: map[string]bool{}}
}

func (c *Comparer) see(id curfew.RestrictionID) {
	if id >= 0 && int64(id) < int64(len(c.seen)) {
		c.seen[id] = true
	} else {
		c.more[id] = true
	}
}

func (c *Comparer) saw(id curfew.RestrictionID) bool {
	if id >= 0 && int64(id) < int64(len(c.seen)) {
		return c.seen[id]
	}
	return c.more[id]
}

// Restriction holds one stored restriction row to the log.
func (c *Comparer) Restriction(row *curfew.Restriction) {
	c.see(row.ID)
	if sp, ok := c.s.closed[row.ID]; ok {
		c.scratch = pack(c.scratch[:0], row)
		if bytes.Equal(c.scratch, c.s.packed[sp.from:sp.to]) {
			return // the common case, without unpacking
		}
	}
	log := c.s.Restriction(row.ID)
	if log == nil {
		c.diffs = append(c.diffs, Difference{Restriction: row.ID, Row: row})
		return
	}
	if f := restrictionDiff(row, log); len(f) > 0 {
		c.diffs = append(c.diffs, Difference{Restriction: row.ID, Fields: f, Row: row, Log: log})
	}
}

// Device holds one stored device row to the log.
func (c *Comparer) Device(row *curfew.Device) {
	mac := row.MAC.String()
	c.seenMAC[mac] = true
	log := c.s.devices[mac]
	if log == nil {
		c.diffs = append(c.diffs, Difference{MAC: mac, RowDevice: row})
		return
	}
	if f := deviceDiff(row, log); len(f) > 0 {
		c.diffs = append(c.diffs, Difference{MAC: mac, Fields: f, RowDevice: row, LogDevice: log})
	}
}

// Done returns every row that differs from the log, and every restriction
// or device the log has but no row was given for: restrictions by ID, then
// devices by MAC.
func (c *Comparer) Done() []Difference {
	diffs := c.diffs
	for id, log := range c.s.restrictions {
		if !c.saw(id) {
			diffs = append(diffs, Difference{Restriction: id, Log: log})
		}
	}
	for id := range c.s.closed {
		if !c.saw(id) {
			diffs = append(diffs, Difference{Restriction: id, Log: c.s.Restriction(id)})
		}
	}
	for mac, log := range c.s.devices {
		if !c.seenMAC[mac] {
			diffs = append(diffs, Difference{MAC: mac, LogDevice: log})
		}
	}
	slices.SortFunc(diffs, func(a, b Difference) int {
		switch {
		case a.MAC != b.MAC:
			if a.MAC == "" || b.MAC != "" && a.MAC < b.MAC {
				return -1
			}
			return 1
		case a.Restriction < b.Restriction:
			return -1
		case a.Restriction > b.Restriction:
			return 1
		}
		return 0
	})
	return diffs
}

// restrictionDiff names the fields in which a and b differ, at the
// precision the store and the log keep (milliseconds).
func restrictionDiff(a, b *curfew.Restriction) []string {
	var f []string
	add := func(name string, differ bool) {
		if differ {
			f = append(f, name)
		}
	}
	ms := func(x, y time.Time) bool { return x.UnixMilli() != y.UnixMilli() || x.IsZero() != y.IsZero() }
	add("subject", a.Subject.String() != b.Subject.String())
	add("mode", a.Mode != b.Mode)
	add("allow", !slices.Equal(a.Allow, b.Allow))
	add("block", !slices.Equal(a.Block, b.Block))
	add("rate", a.Rate != b.Rate)
	add("reason", a.Reason != b.Reason)
	add("notice", a.Notice != b.Notice)
	add("author", a.Author != b.Author)
	add("starts_at", ms(a.Start, b.Start))
	add("ends_at", ms(a.End, b.End))
	add("created_at", ms(a.Created, b.Created))
	add("lifted_at", ms(a.Lifted, b.Lifted))
	add("lifted_by", a.LiftedBy != b.LiftedBy)
	add("lift_reason", a.LiftReason != b.LiftReason)
	add("expired_at", ms(a.Expired, b.Expired))
	add("schedule", a.Schedule != b.Schedule)
	x, y := &a.Approval, &b.Approval
	add("approval", x.State != y.State)
	add("approval_asker", x.Asker != y.Asker)
	add("extend_to", ms(x.ExtendTo, y.ExtendTo))
	add("decided_at", ms(x.Decided, y.Decided))
	add("decided_by", x.By != y.By)
	add("decision_reason", x.Reason != y.Reason)
	return f
}

func deviceDiff(a, b *curfew.Device) []string {
	var f []string
	if a.Name != b.Name {
		f = append(f, "name")
	}
	if a.Owner != b.Owner {
		f = append(f, "owner")
	}
	if !slices.Equal(a.Addrs, b.Addrs) {
		f = append(f, "addrs")
	}
	if a.Created.UnixMilli() != b.Created.UnixMilli() {
		f = append(f, "created_at")
	}
	return f
}
