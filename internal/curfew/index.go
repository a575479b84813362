package curfew

import (
	"bytes"
	"container/heap"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Index holds the restrictions that are not over and the devices, grouped
// by what they bind to, so that a Snapshot can be brought up to date for
// the few targets a change touches (Update) instead of being recomputed
// for every device (Snapshot). The engine keeps one, as the store's only
// writer. An Index is not safe for concurrent use.
type Index struct {
	// Quarantine is copied into every Snapshot: the LAN admits registered
	// devices only.
	Quarantine bool

	open     map[RestrictionID]*Restriction
	byMAC    map[string][]*Restriction // device subjects, by MAC bytes
	byPerson map[string][]*Restriction // person subjects, by name
	byPrefix map[netip.Prefix][]*Restriction
	devices  map[string]*Device        // by MAC bytes
	owned    map[string][]*Device      // by owner name
	byGroup  map[string][]*Restriction // group subjects, by name
	registry *Registry                 // the devices' MACs; nil when a device was added or removed since it was built
	groups   map[string]*Group
	// memberOf holds, for each member (memberKey), the names of the
	// groups that hold it.
	memberOf map[string][]string

	// events holds the starts and ends of the restrictions, earliest
	// first, so that finding what changed between two instants costs the
	// changes, not the restrictions. An event whose gen differs from
	// gens[id] is stale (the restriction was replaced or deleted).
	events eventHeap
	gens   map[RestrictionID]uint64
	gen    uint64

	// schedules are those not removed; due holds the start of the next
	// window of each, one entry a schedule, earliest first, so that the
	// cost of finding the windows that open does not grow with the
	// windows that have passed. An entry whose gen differs from
	// sgens[id] is stale.
	schedules map[ScheduleID]*Schedule
	due       dueHeap
	sgens     map[ScheduleID]uint64
	// windows holds the newest window put of each schedule, until it is
	// deleted.
	windows map[ScheduleID]*Restriction
}

// Due is a window of a schedule that has started: the caller stores it as
// a restriction (Schedule.Window) and Puts it.
type Due struct {
	Schedule *Schedule
	Window   Window
}

type dueEntry struct {
	Due
	gen uint64
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].Window.Start.Before(h[j].Window.Start) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// event is a start or end of a restriction.
type event struct {
	at  time.Time
	r   *Restriction
	gen uint64
	end bool
}

type eventHeap []event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// NewIndex returns an Index of rs, devices and groups.
func NewIndex(rs []*Restriction, devices []*Device, groups ...*Group) *Index {
	x := &Index{
		open:     make(map[RestrictionID]*Restriction, len(rs)),
		byMAC:    make(map[string][]*Restriction, len(rs)),
		byPerson: map[string][]*Restriction{},
		byPrefix: map[netip.Prefix][]*Restriction{},
		devices:  make(map[string]*Device, len(devices)),
		owned:    map[string][]*Device{},
		byGroup:  map[string][]*Restriction{},
		groups:   map[string]*Group{},
		memberOf: map[string][]string{},
		gens:     make(map[RestrictionID]uint64, len(rs)),

		schedules: map[ScheduleID]*Schedule{},
		sgens:     map[ScheduleID]uint64{},
		windows:   map[ScheduleID]*Restriction{},
	}
	for _, d := range devices {
		x.PutDevice(d)
	}
	for _, g := range groups {
		x.PutGroup(g, nil)
	}
	for _, r := range rs {
		x.Put(r)
	}
	return x
}

// Put adds r, or replaces the restriction with r's ID. r must not be
// modified afterwards except through another Put.
func (x *Index) Put(r *Restriction) {
	x.Delete(r.ID)
	x.open[r.ID] = r
	x.gen++
	x.gens[r.ID] = x.gen
	heap.Push(&x.events, event{at: r.Start, r: r, gen: x.gen})
	heap.Push(&x.events, event{at: r.EffectiveEnd(), r: r, gen: x.gen, end: true})
	if r.Schedule != 0 {
		if w := x.windows[r.Schedule]; w == nil || !w.Start.After(r.Start) {
			x.windows[r.Schedule] = r
		}
	}
	switch r.Subject.Kind {
	case SubjectDevice:
		k := string(r.Subject.MAC)
		x.byMAC[k] = append(x.byMAC[k], r)
	case SubjectPerson:
		x.byPerson[r.Subject.Name] = append(x.byPerson[r.Subject.Name], r)
	case SubjectGroup:
		x.byGroup[r.Subject.Name] = append(x.byGroup[r.Subject.Name], r)
	case SubjectIP:
		x.byPrefix[r.Subject.Prefix] = append(x.byPrefix[r.Subject.Prefix], r)
	}
}

// PutSchedule adds s, or replaces the schedule with s's ID: its windows
// that end after after (the end of the last window of s the caller has
// stored, or s.Created) will be Due in turn. s must not be modified
// afterwards except through another PutSchedule. A window of s already
// open stays as the caller stored it, a restriction: PutSchedule changes
// no restriction.
func (x *Index) PutSchedule(s *Schedule, after time.Time) {
	x.DeleteSchedule(s.ID)
	x.schedules[s.ID] = s
	x.gen++
	x.sgens[s.ID] = x.gen
	if w, ok := s.Next(after); ok {
		heap.Push(&x.due, dueEntry{Due: Due{Schedule: s, Window: w}, gen: x.gen})
	}
}

// DeleteSchedule removes the schedule with id, if x has it: no more of its
// windows will be Due.
func (x *Index) DeleteSchedule(id ScheduleID) {
	delete(x.schedules, id)
	delete(x.sgens, id)
}

// Window returns the newest window of schedule id that x has (it is not
// over), or nil. It must not be modified but through Put.
func (x *Index) Window(id ScheduleID) *Restriction { return x.windows[id] }

// Schedule returns the schedule with id if x has it, or nil.
func (x *Index) Schedule(id ScheduleID) *Schedule { return x.schedules[id] }

// Due returns the windows that start at or before now and were not
// returned before, in order of start, and moves each schedule on to its
// next window. A window that also ended by now (the gateway was down
// through all of it) is among them: the caller records it whole. Its cost
// is that of the windows returned, not of the schedules nor of the
// windows before them.
func (x *Index) Due(now time.Time) []Due {
	var due []Due
	for len(x.due) > 0 && !x.due[0].Window.Start.After(now) {
		e := heap.Pop(&x.due).(dueEntry)
		if x.sgens[e.Schedule.ID] != e.gen {
			continue
		}
		due = append(due, e.Due)
		if w, ok := e.Schedule.Next(e.Window.End); ok {
			heap.Push(&x.due, dueEntry{Due: Due{Schedule: e.Schedule, Window: w}, gen: e.gen})
		}
	}
	return due
}

// Restriction returns the restriction with id if x has it (it is not
// over), or nil. It must not be modified but through Put.
func (x *Index) Restriction(id RestrictionID) *Restriction { return x.open[id] }

// Delete removes the restriction with id, if x has it.
func (x *Index) Delete(id RestrictionID) {
	r, ok := x.open[id]
	if !ok {
		return
	}
	delete(x.open, id)
	delete(x.gens, id)
	if r.Schedule != 0 && x.windows[r.Schedule] == r {
		delete(x.windows, r.Schedule)
	}
	drop := func(l []*Restriction) []*Restriction {
		return slices.DeleteFunc(l, func(o *Restriction) bool { return o.ID == id })
	}
	switch r.Subject.Kind {
	case SubjectDevice:
		k := string(r.Subject.MAC)
		if x.byMAC[k] = drop(x.byMAC[k]); len(x.byMAC[k]) == 0 {
			delete(x.byMAC, k)
		}
	case SubjectPerson:
		if x.byPerson[r.Subject.Name] = drop(x.byPerson[r.Subject.Name]); len(x.byPerson[r.Subject.Name]) == 0 {
			delete(x.byPerson, r.Subject.Name)
		}
	case SubjectGroup:
		if x.byGroup[r.Subject.Name] = drop(x.byGroup[r.Subject.Name]); len(x.byGroup[r.Subject.Name]) == 0 {
			delete(x.byGroup, r.Subject.Name)
		}
	case SubjectIP:
		if x.byPrefix[r.Subject.Prefix] = drop(x.byPrefix[r.Subject.Prefix]); len(x.byPrefix[r.Subject.Prefix]) == 0 {
			delete(x.byPrefix, r.Subject.Prefix)
		}
	}
}

// PutDevice adds d, or replaces the device with d's MAC.
func (x *Index) PutDevice(d *Device) {
	k := string(d.MAC)
	old := x.devices[k]
	if old != nil && old.Owner != "" {
		x.owned[old.Owner] = slices.DeleteFunc(x.owned[old.Owner], func(o *Device) bool { return string(o.MAC) == k })
	}
	if old == nil {
		x.registry = nil
	}
	x.devices[k] = d
	if d.Owner != "" {
		x.owned[d.Owner] = append(x.owned[d.Owner], d)
	}
}

// DeleteDevice removes the device with mac, if x has it. Restrictions on
// its MAC stay.
func (x *Index) DeleteDevice(mac net.HardwareAddr) {
	k := string(mac)
	old := x.devices[k]
	if old == nil {
		return
	}
	if old.Owner != "" {
		if x.owned[old.Owner] = slices.DeleteFunc(x.owned[old.Owner], func(o *Device) bool { return string(o.MAC) == k }); len(x.owned[old.Owner]) == 0 {
			delete(x.owned, old.Owner)
		}
	}
	delete(x.devices, k)
	x.registry = nil
}

// Registry returns the registered MACs, building it again only if a device
// was added or removed since the last call.
func (x *Index) Registry() *Registry {
	if x.registry == nil {
		r := &Registry{macs: make(map[string]struct{}, len(x.devices))}
		for k := range x.devices {
			r.macs[k] = struct{}{}
		}
		x.registry = r
	}
	return x.registry
}

// memberKey is the key of a group member in Index.memberOf.
func memberKey(s Subject) string {
	if s.Kind == SubjectDevice {
		return "d" + string(s.MAC)
	}
	return "p" + s.Name
}

// PutGroup adds g, or replaces the group with g's name, and adds to t (if
// not nil) the devices of its members before and after: those whose
// restrictions may have changed.
func (x *Index) PutGroup(g *Group, t *Targets) {
	if old := x.groups[g.Name]; old != nil {
		if t != nil {
			x.addGroupDevices(t, g.Name)
		}
		for _, m := range old.Members {
			k := memberKey(m)
			if x.memberOf[k] = slices.DeleteFunc(x.memberOf[k], func(n string) bool { return n == g.Name }); len(x.memberOf[k]) == 0 {
				delete(x.memberOf, k)
			}
		}
	}
	x.groups[g.Name] = g
	for _, m := range g.Members {
		k := memberKey(m)
		x.memberOf[k] = append(x.memberOf[k], g.Name)
	}
	if t != nil {
		x.addGroupDevices(t, g.Name)
	}
}

// GroupsOf returns the names of the groups that hold member.
func (x *Index) GroupsOf(member Subject) []string {
	return slices.Clone(x.memberOf[memberKey(member)])
}

// addGroupDevices adds to t every device of group name's members.
func (x *Index) addGroupDevices(t *Targets, name string) {
	g := x.groups[name]
	if g == nil {
		return
	}
	for _, m := range g.Members {
		switch m.Kind {
		case SubjectDevice:
			t.AddMAC(m.MAC)
		case SubjectPerson:
			for _, d := range x.owned[m.Name] {
				t.AddMAC(d.MAC)
			}
		}
	}
}

// Targets is a set of enforcement targets: devices by MAC and prefixes.
type Targets struct {
	MACs     map[string]bool // MAC bytes
	Prefixes map[netip.Prefix]bool
}

// AddMAC adds a device to t.
func (t *Targets) AddMAC(mac net.HardwareAddr) {
	if t.MACs == nil {
		t.MACs = map[string]bool{}
	}
	t.MACs[string(mac)] = true
}

// Add adds the targets r binds to, as x knows them.
func (x *Index) Add(t *Targets, r *Restriction) {
	switch r.Subject.Kind {
	case SubjectDevice:
		t.AddMAC(r.Subject.MAC)
	case SubjectPerson:
		for _, d := range x.owned[r.Subject.Name] {
			t.AddMAC(d.MAC)
		}
	case SubjectGroup:
		x.addGroupDevices(t, r.Subject.Name)
	case SubjectIP:
		if t.Prefixes == nil {
			t.Prefixes = map[netip.Prefix]bool{}
		}
		t.Prefixes[r.Subject.Prefix] = true
	}
}

// Advance adds to t the targets of every restriction that started or
// ended since the last Advance, up to and including now, and returns the
// restrictions that ended (they are over: the caller records and deletes
// them). Its cost is that of the changes, not of the restrictions.
func (x *Index) Advance(t *Targets, now time.Time) (over []*Restriction) {
	for len(x.events) > 0 && !x.events[0].at.After(now) {
		e := heap.Pop(&x.events).(event)
		if x.gens[e.r.ID] != e.gen {
			continue
		}
		x.Add(t, e.r)
		if e.end {
			over = append(over, e.r)
		}
	}
	return over
}

// NextChange returns the first start or end after the last Advance of a
// restriction in x that is not over at now, or the start of the next
// window of a schedule after the last Due, whichever comes first; the zero
// time if there is none.
func (x *Index) NextChange(now time.Time) time.Time {
	var next time.Time
	for len(x.events) > 0 {
		e := x.events[0]
		if x.gens[e.r.ID] == e.gen && !e.r.Over(now) {
			next = e.at
			break
		}
		heap.Pop(&x.events)
	}
	for len(x.due) > 0 {
		e := x.due[0]
		if x.sgens[e.Schedule.ID] == e.gen {
			if next.IsZero() || e.Window.Start.Before(next) {
				next = e.Window.Start
			}
			break
		}
		heap.Pop(&x.due)
	}
	return next
}

// restrictionsOf returns the restrictions that bind to the device with
// mac: on its MAC, on its owner, and on every group that holds the device
// or its owner, each once.
func (x *Index) restrictionsOf(mac string) []*Restriction {
	rs := x.byMAC[mac]
	d := x.devices[mac]
	if d != nil && d.Owner != "" {
		if p := x.byPerson[d.Owner]; len(p) > 0 {
			rs = append(slices.Clip(rs), p...)
		}
	}
	if len(x.byGroup) == 0 {
		return rs
	}
	groups := x.memberOf["d"+mac]
	if d != nil && d.Owner != "" {
		if via := x.memberOf["p"+d.Owner]; len(via) > 0 {
			groups = append(slices.Clip(groups), via...)
		}
	}
	for i, name := range groups {
		if slices.Contains(groups[:i], name) {
			continue // the device is in the group directly and by its owner
		}
		if g := x.byGroup[name]; len(g) > 0 {
			rs = append(slices.Clip(rs), g...)
		}
	}
	return rs
}

func (x *Index) deviceRule(now time.Time, mac string) (*DeviceRule, bool) {
	e, ok := combine(now, x.restrictionsOf(mac))
	if !ok {
		return nil, false
	}
	rule := &DeviceRule{MAC: net.HardwareAddr(mac), Enforcement: e}
	if d := x.devices[mac]; d != nil && len(d.Addrs) > 0 {
		rule.Addrs = slices.Clone(d.Addrs)
		slices.SortFunc(rule.Addrs, netip.Addr.Compare)
	}
	return rule, true
}

// Snapshot computes what must be enforced at now, for every target. It
// advances x to now.
func (x *Index) Snapshot(now time.Time) *Snapshot {
	x.Advance(&Targets{}, now)
	t := Targets{MACs: make(map[string]bool, len(x.byMAC)), Prefixes: make(map[netip.Prefix]bool, len(x.byPrefix))}
	for mac := range x.byMAC {
		t.MACs[mac] = true
	}
	for name := range x.byPerson {
		for _, d := range x.owned[name] {
			t.MACs[string(d.MAC)] = true
		}
	}
	for name := range x.byGroup {
		x.addGroupDevices(&t, name)
	}
	for p := range x.byPrefix {
		t.Prefixes[p] = true
	}
	return x.Update(&Snapshot{}, now, t)
}

// Update returns the Snapshot for now, computed from prev by recomputing
// only the targets in t. It equals Snapshot(now) provided t holds every
// target whose restrictions or devices changed since prev was computed and
// every target Advance(t, now) adds, which must have been called. It does
// not modify prev. Its cost is one copy of prev's slice of pointers plus
// the work for t.
func (x *Index) Update(prev *Snapshot, now time.Time, t Targets) *Snapshot {
	s := &Snapshot{At: now, NextChange: x.NextChange(now), Quarantine: x.Quarantine, Registered: x.Registry()}

	macs := make([]string, 0, len(t.MACs))
	for mac := range t.MACs {
		macs = append(macs, mac)
	}
	slices.Sort(macs)
	fresh := make([]*DeviceRule, 0, len(macs))
	for _, mac := range macs {
		if rule, ok := x.deviceRule(now, mac); ok {
			fresh = append(fresh, rule)
		}
	}
	// Splice the fresh rules into prev's list: the runs between two
	// targets are copied whole, so that the rules of the devices left
	// alone are not even read.
	s.Devices = make([]*DeviceRule, 0, len(prev.Devices)+len(fresh))
	pos, i := 0, 0
	for _, mac := range macs {
		mb := []byte(mac)
		k, found := slices.BinarySearchFunc(prev.Devices[pos:], mb, func(d *DeviceRule, m []byte) int {
			return bytes.Compare(d.MAC, m)
		})
		k += pos
		s.Devices = append(s.Devices, prev.Devices[pos:k]...)
		if found {
			k++ // recomputed: its fresh rule, if any, replaces it
		}
		if i < len(fresh) && string(fresh[i].MAC) == mac {
			s.Devices = append(s.Devices, fresh[i])
			i++
		}
		pos = k
	}
	s.Devices = append(s.Devices, prev.Devices[pos:]...)

	// Prefixes are few (routed subnets), so they are recomputed whole
	// whenever any of them is touched.
	if len(t.Prefixes) == 0 {
		s.Prefixes = prev.Prefixes
	} else {
		for p, rs := range x.byPrefix {
			if e, ok := combine(now, rs); ok {
				s.Prefixes = append(s.Prefixes, PrefixRule{Prefix: p, Enforcement: e})
			}
		}
		slices.SortFunc(s.Prefixes, func(a, b PrefixRule) int { return comparePrefix(a.Prefix, b.Prefix) })
	}
	return s
}
