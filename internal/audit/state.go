package audit

import (
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
	return &Fields{
		Mode: r.Mode, Allow: r.Allow, Block: r.Block, Reason: r.Reason, Notice: r.Notice, Author: r.Author,
		Start: r.Start, End: r.End, Created: r.Created,
		Lifted: r.Lifted, LiftedBy: r.LiftedBy, LiftReason: r.LiftReason, Expired: r.Expired,
	}
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
		ID: id, Subject: subj, Mode: f.Mode, Allow: slices.Clone(f.Allow), Block: slices.Clone(f.Block),
		Reason: f.Reason, Notice: f.Notice, Author: f.Author, Start: f.Start, End: f.End, Created: f.Created,
		Lifted: f.Lifted, LiftedBy: f.LiftedBy, LiftReason: f.LiftReason, Expired: f.Expired,
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
	restrictions map[curfew.RestrictionID]*curfew.Restriction
	applied      map[curfew.RestrictionID]bool
	devices      map[string]*curfew.Device // by MAC in written form
	config       string
	problems     []Problem
}

// NewState returns the state of an empty log.
func NewState() *State {
	return &State{
		restrictions: map[curfew.RestrictionID]*curfew.Restriction{},
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
	case KindRestrictionCreated, KindRestrictionImported, KindRestrictionRepaired:
		if e.Kind == KindRestrictionRepaired && e.After == nil {
			delete(s.restrictions, e.Restriction)
			delete(s.applied, e.Restriction)
			return nil
		}
		r, err := after.restriction(e.Restriction, e.Subject)
		if err != nil {
			return err
		}
		if e.Kind == KindRestrictionCreated {
			r.Reason = e.Reason
		}
		s.restrictions[r.ID] = r
		if e.Kind == KindRestrictionImported {
			s.applied[r.ID] = true // the first release enforced what it stored
		}
		return nil
	case KindDeviceAdded, KindDeviceImported, KindDeviceRepaired:
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
	case KindDaemonStarted:
		s.config = after.ConfigSHA256
		return nil
	case KindRestrictionLifted, KindRestrictionExtended, KindRestrictionExpired, KindRestrictionApplied:
	default:
		return nil
	}
	r := s.restrictions[e.Restriction]
	if r == nil {
		s.problems = append(s.problems, Problem{Kind: ProblemReference, Seq: e.Seq, Restriction: e.Restriction})
		return nil
	}
	c := *r
	switch e.Kind {
	case KindRestrictionLifted:
		c.Lifted, c.LiftedBy, c.LiftReason = after.Lifted, after.LiftedBy, e.Reason
	case KindRestrictionExtended:
		c.End = after.End
	case KindRestrictionExpired:
		c.Expired = after.Expired
	case KindRestrictionApplied:
		s.applied[r.ID] = true
		return nil
	}
	s.restrictions[r.ID] = &c
	return nil
}

// Problems returns what could not be replayed: events that do not decode
// into a restriction or device, and events that change a restriction no
// event created.
func (s *State) Problems() []Problem { return s.problems }

// Restrictions returns every restriction the log records, by ID.
func (s *State) Restrictions() []*curfew.Restriction {
	ids := slices.Sorted(maps.Keys(s.restrictions))
	rs := make([]*curfew.Restriction, 0, len(ids))
	for _, id := range ids {
		rs = append(rs, s.restrictions[id])
	}
	return rs
}

// Restriction returns the restriction with id as the log records it, or nil.
func (s *State) Restriction(id curfew.RestrictionID) *curfew.Restriction { return s.restrictions[id] }

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
	var diffs []Difference
	seen := map[curfew.RestrictionID]bool{}
	for _, row := range rows {
		seen[row.ID] = true
		log := s.restrictions[row.ID]
		if log == nil {
			diffs = append(diffs, Difference{Restriction: row.ID, Row: row})
			continue
		}
		if f := restrictionDiff(row, log); len(f) > 0 {
			diffs = append(diffs, Difference{Restriction: row.ID, Fields: f, Row: row, Log: log})
		}
	}
	for id, log := range s.restrictions {
		if !seen[id] {
			diffs = append(diffs, Difference{Restriction: id, Log: log})
		}
	}
	seenMAC := map[string]bool{}
	for _, row := range devices {
		mac := row.MAC.String()
		seenMAC[mac] = true
		log := s.devices[mac]
		if log == nil {
			diffs = append(diffs, Difference{MAC: mac, RowDevice: row})
			continue
		}
		if f := deviceDiff(row, log); len(f) > 0 {
			diffs = append(diffs, Difference{MAC: mac, Fields: f, RowDevice: row, LogDevice: log})
		}
	}
	for mac, log := range s.devices {
		if !seenMAC[mac] {
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
