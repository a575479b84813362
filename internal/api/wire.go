package api

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Restriction is the wire form of a curfew.Restriction. Status is computed
// by the server at the time of the response.
type Restriction struct {
	ID         int64      `json:"id"`
	Subject    string     `json:"subject"`
	Mode       string     `json:"mode"`
	Allow      []string   `json:"allow"`
	Block      []string   `json:"block"`
	Rate       int64      `json:"rate"` // throttle: bits per second each way; 0 for every other mode
	Reason     string     `json:"reason"`
	Notice     string     `json:"notice"`
	Author     string     `json:"author"`
	StartsAt   time.Time  `json:"starts_at"`
	EndsAt     time.Time  `json:"ends_at"`
	CreatedAt  time.Time  `json:"created_at"`
	LiftedAt   *time.Time `json:"lifted_at"`
	LiftedBy   string     `json:"lifted_by"`
	LiftReason string     `json:"lift_reason"`
	ExpiredAt  *time.Time `json:"expired_at"`
	Status     string     `json:"status"`
	// Approval is null unless the restriction, or an extension of it,
	// needed a second operator.
	Approval *Approval `json:"approval"`
	// ScheduleID names the schedule the restriction is a window of; null
	// for a one-off restriction.
	ScheduleID *int64 `json:"schedule_id"`
}

// Approval is the wire form of a curfew.Approval: the second operator's
// decision that a restriction, or an extension of it, waits for or had.
type Approval struct {
	State     string     `json:"state"`    // pending, approved or rejected
	AskedBy   string     `json:"asked_by"` // the operator who may not approve it
	ExtendTo  *time.Time `json:"extend_to"`
	DecidedAt *time.Time `json:"decided_at"`
	DecidedBy string     `json:"decided_by"`
	Reason    string     `json:"reason"`
}

// ApproveRequest is the body of POST /api/v1/restrictions/{id}/approve.
type ApproveRequest struct {
	Reason string `json:"reason"`
}

// RejectRequest is the body of POST /api/v1/restrictions/{id}/reject.
type RejectRequest struct {
	Reason string `json:"reason"`
}

// Device is the wire form of a curfew.Device. `curfew devices -o json`
// adds to it what the gateway saw of the device (SeenDevice), and with
// --seen lists the unregistered devices seen too, without created_at.
type Device struct {
	MAC       string    `json:"mac"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Addrs     []string  `json:"addrs"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Learned and Hostname are what the gateway has learned of the device
	// by itself (neighbour table, DHCP leases); ignored in requests.
	// `curfew devices` takes the hostname from the seen devices when the
	// leases no longer give one.
	Learned  []string `json:"learned"`
	Hostname string   `json:"hostname"`
	// RandomMAC is true for a locally administered (randomised) MAC.
	RandomMAC  bool `json:"random_mac"`
	Registered bool `json:"registered"`
	// What the gateway saw: null or empty if it has not seen the device.
	FirstSeenAt *time.Time `json:"first_seen_at"`
	LastSeenAt  *time.Time `json:"last_seen_at"`
	SeenAddrs   []string   `json:"seen_addrs"`
	ClientID    string     `json:"client_id"`
	// Resembles lists registered devices an unregistered one shares a DHCP
	// hostname or client identifier with.
	Resembles []string `json:"resembles"`
}

// SeenDevice is the wire form of a curfew.SeenDevice.
type SeenDevice struct {
	MAC         string    `json:"mac"`
	RandomMAC   bool      `json:"random_mac"`
	Registered  bool      `json:"registered"`
	Quarantined bool      `json:"quarantined"`
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	Addrs       []string  `json:"addrs"`
	Hostname    string    `json:"hostname"`
	ClientID    string    `json:"client_id"`
	Resembles   []string  `json:"resembles"`
}

// DevicePage is one page of GET /api/v1/devices/search: the devices of
// the page and how many the search matches in all.
type DevicePage struct {
	Devices []Device `json:"devices"`
	Total   int      `json:"total"`
}

// PersonPage is one page of GET /api/v1/persons/search.
type PersonPage struct {
	Persons []Person `json:"persons"`
	Total   int      `json:"total"`
}

// Person is the wire form of a curfew.Person.
type Person struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditEntry is one event of the audit log (an audit.Event) as GET
// /api/v1/audit lists it: a few fields for a table, Detail rendered from
// the event for people, and Event, the event itself as it is stored and
// hashed, for machines.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"` // the event's kind
	Target   string          `json:"target"` // the restriction ID, subject or token acted on
	Reason   string          `json:"reason"`
	Detail   string          `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
	Event    json.RawMessage `json:"event"`
}

// AuditReport is the wire form of a curfew.AuditReport.
type AuditReport struct {
	Entries     int64      `json:"entries"`
	Checkpoints int64      `json:"checkpoints"`
	SignedSeq   int64      `json:"signed_seq"`
	SignedAt    *time.Time `json:"signed_at"`
	Unsigned    int64      `json:"unsigned"`
	OK          bool       `json:"ok"`
	Problem     string     `json:"problem"`
	Problems    []string   `json:"problems"`
}

// AuditKeyResponse is the answer to GET /api/v1/audit/key.
type AuditKeyResponse struct {
	Key string `json:"key"` // the ed25519 public key, standard base64
}

// RestrictRequest is the body of POST /api/v1/restrictions. Exactly one of
// EndsAt (RFC 3339) and For (a Go duration such as "90m") is set.
type RestrictRequest struct {
	Subject  string   `json:"subject"`
	Mode     string   `json:"mode,omitempty"`
	Allow    []string `json:"allow,omitempty"`
	Block    []string `json:"block,omitempty"`
	Rate     int64    `json:"rate,omitempty"` // throttle: bits per second each way
	Reason   string   `json:"reason"`
	Notice   string   `json:"notice,omitempty"`
	StartsAt string   `json:"starts_at,omitempty"`
	EndsAt   string   `json:"ends_at,omitempty"`
	For      string   `json:"for,omitempty"`
	// Force allows an ip: subject wider than /16 (IPv4) or /48 (IPv6).
	Force bool `json:"force,omitempty"`
}

// ExtendRequest is the body of POST /api/v1/restrictions/{id}/extend.
// Exactly one of EndsAt and For is set: EndsAt moves the end there, For
// moves it later by that much.
type ExtendRequest struct {
	EndsAt string `json:"ends_at,omitempty"`
	For    string `json:"for,omitempty"`
	Reason string `json:"reason"`
}

// LiftRequest is the body of POST /api/v1/restrictions/{id}/lift.
type LiftRequest struct {
	Reason string `json:"reason"`
}

// DeviceRequest is the body of POST /api/v1/devices.
type DeviceRequest struct {
	MAC   string   `json:"mac"`
	Name  string   `json:"name,omitempty"`
	Owner string   `json:"owner,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}

// Group is the wire form of a curfew.Group.
type Group struct {
	Name      string    `json:"name"`
	Members   []string  `json:"members"` // person:NAME and device:MAC, sorted
	CreatedAt time.Time `json:"created_at"`
}

// GroupRequest is the body of POST /api/v1/groups.
type GroupRequest struct {
	Name string `json:"name"`
}

// GroupMemberRequest is the body of POST /api/v1/groups/{name}/members and
// POST /api/v1/groups/{name}/members/remove.
type GroupMemberRequest struct {
	Member string `json:"member"` // person:NAME or device:MAC
}

// ApproveDeviceRequest is the body of POST /api/v1/devices/{mac}/approve.
type ApproveDeviceRequest struct {
	Owner string `json:"owner"`
	Name  string `json:"name,omitempty"`
}

// RemoveRequest is the body of POST /api/v1/devices/{mac}/remove and
// POST /api/v1/persons/{name}/remove.
type RemoveRequest struct {
	Reason string `json:"reason"`
}

// PersonRequest is the body of POST /api/v1/persons.
type PersonRequest struct {
	Name string `json:"name"`
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenResponse is the answer to POST /api/v1/tokens. Secret is shown once.
type TokenResponse struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Secret string `json:"secret"`
}

// Appeal is the wire form of a curfew.Appeal. Device is who sent it, as a
// subject: device:MAC, or ip:ADDR for a client known only by its address.
// Message and Answer are plain text, to be rendered escaped.
type Appeal struct {
	ID             int64      `json:"id"`
	CreatedAt      time.Time  `json:"time"`
	RestrictionIDs []int64    `json:"restriction_ids"`
	Device         string     `json:"device"`
	Addr           string     `json:"addr"`
	Message        string     `json:"message"`
	Answer         string     `json:"answer"`
	AnsweredAt     *time.Time `json:"answered_at"`
	AnsweredBy     string     `json:"answered_by"`
}

// AnswerRequest is the body of POST /api/v1/appeals/{id}/answer.
type AnswerRequest struct {
	Text string `json:"text"`
}

// ErrorResponse is the body of every error answer: an RFC 9457 problem,
// served as application/problem+json. Code is curfew's error kind:
// "invalid", "not_found", "conflict", "unauthenticated", "forbidden",
// "rate_limited" or "internal"; Detail says what is wrong and where.
type ErrorResponse struct {
	Type   string `json:"type"`  // always "about:blank": Status and Code say what kind
	Title  string `json:"title"` // the status text
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// RestrictionToAPI returns the wire form of r with its status at now.
func RestrictionToAPI(r *curfew.Restriction, now time.Time) Restriction {
	return Restriction{
		ID:         int64(r.ID),
		Subject:    r.Subject.String(),
		Mode:       string(r.Mode),
		Allow:      nonNil(r.Allow),
		Block:      nonNil(r.Block),
		Rate:       int64(r.Rate),
		Reason:     r.Reason,
		Notice:     r.Notice,
		Author:     r.Author,
		StartsAt:   r.Start.UTC(),
		EndsAt:     r.End.UTC(),
		CreatedAt:  r.Created.UTC(),
		LiftedAt:   optTime(r.Lifted),
		LiftedBy:   r.LiftedBy,
		LiftReason: r.LiftReason,
		ExpiredAt:  optTime(r.Expired),
		Status:     string(r.StatusAt(now)),
		Approval:   approvalToAPI(&r.Approval),
		ScheduleID: optID(int64(r.Schedule)),
	}
}

func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// approvalToAPI returns the wire form of a, or nil for the zero Approval.
func approvalToAPI(a *curfew.Approval) *Approval {
	if a.State == "" {
		return nil
	}
	return &Approval{
		State:     string(a.State),
		AskedBy:   a.Asker,
		ExtendTo:  optTime(a.ExtendTo),
		DecidedAt: optTime(a.Decided),
		DecidedBy: a.By,
		Reason:    a.Reason,
	}
}

// approvalFromAPI returns the domain form of w; nil is the zero Approval.
func approvalFromAPI(w *Approval) curfew.Approval {
	if w == nil {
		return curfew.Approval{}
	}
	a := curfew.Approval{State: curfew.ApprovalState(w.State), Asker: w.AskedBy, By: w.DecidedBy, Reason: w.Reason}
	if w.ExtendTo != nil {
		a.ExtendTo = w.ExtendTo.UTC()
	}
	if w.DecidedAt != nil {
		a.Decided = w.DecidedAt.UTC()
	}
	return a
}

// RestrictionFromAPI returns the domain form of w. Status is dropped: the
// domain computes it from the times.
func RestrictionFromAPI(w *Restriction) (*curfew.Restriction, error) {
	subj, err := curfew.ParseSubject(w.Subject)
	if err != nil {
		return nil, fmt.Errorf("decoding restriction %d: %w", w.ID, err)
	}
	r := &curfew.Restriction{
		ID:         curfew.RestrictionID(w.ID),
		Subject:    subj,
		Mode:       curfew.Mode(w.Mode),
		Allow:      emptyToNil(w.Allow),
		Block:      emptyToNil(w.Block),
		Rate:       curfew.Rate(w.Rate),
		Reason:     w.Reason,
		Notice:     w.Notice,
		Author:     w.Author,
		Start:      w.StartsAt.UTC(),
		End:        w.EndsAt.UTC(),
		Created:    w.CreatedAt.UTC(),
		LiftedBy:   w.LiftedBy,
		LiftReason: w.LiftReason,
		Approval:   approvalFromAPI(w.Approval),
	}
	if w.ScheduleID != nil {
		r.Schedule = curfew.ScheduleID(*w.ScheduleID)
	}
	if w.LiftedAt != nil {
		r.Lifted = w.LiftedAt.UTC()
	}
	if w.ExpiredAt != nil {
		r.Expired = w.ExpiredAt.UTC()
	}
	return r, nil
}

// DeviceToAPI returns the wire form of d.
func DeviceToAPI(d *curfew.Device) Device {
	w := Device{
		MAC:       d.MAC.String(),
		Name:      d.Name,
		Owner:     d.Owner,
		Addrs:     make([]string, 0, len(d.Addrs)),
		CreatedAt: d.Created.UTC(),
		Learned:   make([]string, 0, len(d.Learned.Addrs)),
		Hostname:  d.Learned.Hostname,
		RandomMAC: curfew.RandomMAC(d.MAC),
		// A Device is registered by definition; the CLI builds
		// unregistered entries from SeenDevice.
		Registered: true,
		SeenAddrs:  []string{},
		Resembles:  []string{},
	}
	for _, a := range d.Addrs {
		w.Addrs = append(w.Addrs, a.String())
	}
	for _, a := range d.Learned.Addrs {
		w.Learned = append(w.Learned, a.String())
	}
	return w
}

// DeviceFromAPI returns the domain form of w.
func DeviceFromAPI(w *Device) (*curfew.Device, error) {
	mac, err := curfew.ParseMAC(w.MAC)
	if err != nil {
		return nil, fmt.Errorf("decoding device: %w", err)
	}
	d := &curfew.Device{MAC: mac, Name: w.Name, Owner: w.Owner, Created: w.CreatedAt.UTC(), Learned: curfew.Learned{Hostname: w.Hostname}}
	for _, s := range w.Learned {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("decoding device %s: %w: learned address %q is not an IP address", w.MAC, curfew.ErrInvalid, s)
		}
		d.Learned.Addrs = append(d.Learned.Addrs, a)
	}
	for _, s := range w.Addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("decoding device %s: %w: address %q is not an IP address", w.MAC, curfew.ErrInvalid, s)
		}
		d.Addrs = append(d.Addrs, a)
	}
	return d, nil
}

// SeenDeviceToAPI returns the wire form of d.
func SeenDeviceToAPI(d *curfew.SeenDevice) SeenDevice {
	w := SeenDevice{
		MAC: d.MAC.String(), RandomMAC: d.RandomMAC(), Registered: d.Registered, Quarantined: d.Quarantined,
		FirstSeenAt: d.FirstSeen.UTC(), LastSeenAt: d.LastSeen.UTC(),
		Addrs: make([]string, 0, len(d.Addrs)), Hostname: d.Hostname, ClientID: d.ClientID,
		Resembles: make([]string, 0, len(d.Resembles)),
	}
	for _, a := range d.Addrs {
		w.Addrs = append(w.Addrs, a.String())
	}
	for _, m := range d.Resembles {
		w.Resembles = append(w.Resembles, m.String())
	}
	return w
}

// SeenDeviceFromAPI returns the domain form of w.
func SeenDeviceFromAPI(w *SeenDevice) (*curfew.SeenDevice, error) {
	mac, err := curfew.ParseMAC(w.MAC)
	if err != nil {
		return nil, fmt.Errorf("decoding seen device: %w", err)
	}
	d := &curfew.SeenDevice{MAC: mac, Registered: w.Registered, Quarantined: w.Quarantined, FirstSeen: w.FirstSeenAt.UTC(), LastSeen: w.LastSeenAt.UTC(),
		Hostname: w.Hostname, ClientID: w.ClientID}
	for _, s := range w.Addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("decoding seen device %s: %w: address %q is not an IP address", w.MAC, curfew.ErrInvalid, s)
		}
		d.Addrs = append(d.Addrs, a)
	}
	for _, s := range w.Resembles {
		m, err := curfew.ParseMAC(s)
		if err != nil {
			return nil, fmt.Errorf("decoding seen device %s: %w", w.MAC, err)
		}
		d.Resembles = append(d.Resembles, m)
	}
	return d, nil
}

// GroupToAPI returns the wire form of g.
func GroupToAPI(g *curfew.Group) Group {
	w := Group{Name: g.Name, Members: make([]string, 0, len(g.Members)), CreatedAt: g.Created.UTC()}
	for _, m := range g.Members {
		w.Members = append(w.Members, m.String())
	}
	return w
}

// GroupFromAPI returns the domain form of w.
func GroupFromAPI(w *Group) (*curfew.Group, error) {
	g := &curfew.Group{Name: w.Name, Created: w.CreatedAt.UTC()}
	for _, s := range w.Members {
		m, err := curfew.ParseSubject(s)
		if err != nil {
			return nil, fmt.Errorf("decoding group %s: %w", w.Name, err)
		}
		g.Members = append(g.Members, m)
	}
	return g, nil
}

// PersonToAPI returns the wire form of p.
func PersonToAPI(p *curfew.Person) Person {
	return Person{Name: p.Name, CreatedAt: p.Created.UTC()}
}

// PersonFromAPI returns the domain form of w.
func PersonFromAPI(w *Person) *curfew.Person {
	return &curfew.Person{Name: w.Name, Created: w.CreatedAt.UTC()}
}

// AuditEntryToAPI returns the wire form of e, whose encoding is data.
func AuditEntryToAPI(e *audit.Event, data []byte) AuditEntry {
	w := AuditEntry{
		Seq:    e.Seq,
		At:     e.At.UTC(),
		Actor:  e.Actor,
		Action: string(e.Kind),
		Target: eventTarget(e),
		Reason: e.Reason,
		Detail: DescribeEvent(e),
		Hash:   audit.Sum(data).String(),
		Event:  json.RawMessage(data),
	}
	if !e.Prev.IsZero() {
		w.PrevHash = e.Prev.String()
	}
	return w
}

// AuditReportToAPI returns the wire form of r.
func AuditReportToAPI(r *curfew.AuditReport) AuditReport {
	return AuditReport{Entries: r.Entries, Checkpoints: r.Checkpoints, SignedSeq: r.SignedSeq, SignedAt: optTime(r.SignedAt),
		Unsigned: r.Unsigned, OK: r.OK, Problem: r.Problem, Problems: nonNil(r.Problems)}
}

// AuditReportFromAPI returns the domain form of w.
func AuditReportFromAPI(w *AuditReport) *curfew.AuditReport {
	r := &curfew.AuditReport{Entries: w.Entries, Checkpoints: w.Checkpoints, SignedSeq: w.SignedSeq,
		Unsigned: w.Unsigned, OK: w.OK, Problem: w.Problem, Problems: emptyToNil(w.Problems)}
	if w.SignedAt != nil {
		r.SignedAt = w.SignedAt.UTC()
	}
	return r
}

// AppealToAPI returns the wire form of a.
func AppealToAPI(a *curfew.Appeal) Appeal {
	w := Appeal{
		ID:             int64(a.ID),
		CreatedAt:      a.Created.UTC(),
		RestrictionIDs: make([]int64, 0, len(a.Restrictions)),
		Device:         a.From.String(),
		Addr:           a.Addr.String(),
		Message:        a.Message,
		Answer:         a.Answer,
		AnsweredAt:     optTime(a.Answered),
		AnsweredBy:     a.AnsweredBy,
	}
	for _, id := range a.Restrictions {
		w.RestrictionIDs = append(w.RestrictionIDs, int64(id))
	}
	return w
}

// AppealFromAPI returns the domain form of w.
func AppealFromAPI(w *Appeal) (*curfew.Appeal, error) {
	from, err := curfew.ParseSubject(w.Device)
	if err != nil {
		return nil, fmt.Errorf("decoding appeal %d: %w", w.ID, err)
	}
	addr, err := netip.ParseAddr(w.Addr)
	if err != nil {
		return nil, fmt.Errorf("decoding appeal %d: %w: address %q is not an IP address", w.ID, curfew.ErrInvalid, w.Addr)
	}
	a := &curfew.Appeal{
		ID:         curfew.AppealID(w.ID),
		From:       from,
		Addr:       addr,
		Message:    w.Message,
		Created:    w.CreatedAt.UTC(),
		Answer:     w.Answer,
		AnsweredBy: w.AnsweredBy,
	}
	for _, id := range w.RestrictionIDs {
		a.Restrictions = append(a.Restrictions, curfew.RestrictionID(id))
	}
	if w.AnsweredAt != nil {
		a.Answered = w.AnsweredAt.UTC()
	}
	return a, nil
}

// restrictRequestToAPI returns the wire form of req, for the client.
func restrictRequestToAPI(req *curfew.RestrictRequest) RestrictRequest {
	w := RestrictRequest{
		Subject: req.Subject,
		Mode:    string(req.Mode),
		Allow:   req.Allow,
		Block:   req.Block,
		Rate:    int64(req.Rate),
		Reason:  req.Reason,
		Notice:  req.Notice,
		Force:   req.Force,
	}
	if !req.Start.IsZero() {
		w.StartsAt = formatTime(req.Start)
	}
	if !req.End.IsZero() {
		w.EndsAt = formatTime(req.End)
	}
	if req.For != 0 {
		w.For = req.For.String()
	}
	return w
}

// fromAPI returns the domain request w asks for, with errors that name the
// offending field.
func (w *RestrictRequest) fromAPI() (curfew.RestrictRequest, error) {
	req := curfew.RestrictRequest{
		Subject: w.Subject,
		Mode:    curfew.Mode(w.Mode),
		Allow:   w.Allow,
		Block:   w.Block,
		Rate:    curfew.Rate(w.Rate),
		Reason:  w.Reason,
		Notice:  w.Notice,
		Force:   w.Force,
	}
	var err error
	if req.Start, err = parseTime("starts_at", w.StartsAt); err != nil {
		return curfew.RestrictRequest{}, err
	}
	if req.End, err = parseTime("ends_at", w.EndsAt); err != nil {
		return curfew.RestrictRequest{}, err
	}
	if req.For, err = parseDuration("for", w.For); err != nil {
		return curfew.RestrictRequest{}, err
	}
	if !req.End.IsZero() && req.For != 0 {
		return curfew.RestrictRequest{}, fmt.Errorf("%w: give ends_at or for, not both", curfew.ErrInvalid)
	}
	return req, nil
}

// extendArgs holds the decoded arguments of an extend request.
type extendArgs struct {
	end    time.Time
	d      time.Duration
	reason string
}

func (w *ExtendRequest) fromAPI() (extendArgs, error) {
	var a extendArgs
	var err error
	if a.end, err = parseTime("ends_at", w.EndsAt); err != nil {
		return extendArgs{}, err
	}
	if a.d, err = parseDuration("for", w.For); err != nil {
		return extendArgs{}, err
	}
	switch {
	case !a.end.IsZero() && a.d != 0:
		return extendArgs{}, fmt.Errorf("%w: give ends_at or for, not both", curfew.ErrInvalid)
	case a.end.IsZero() && a.d == 0:
		return extendArgs{}, fmt.Errorf("%w: missing ends_at or for", curfew.ErrInvalid)
	}
	a.reason = w.Reason
	return a, nil
}

// parseTime parses an optional RFC 3339 time; field names it in errors.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %q is not an RFC 3339 time such as 2026-03-01T21:00:00Z", curfew.ErrInvalid, field, s)
	}
	return t.UTC(), nil
}

// parseDuration parses an optional positive Go duration; field names it in
// errors.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %q is not a duration such as 90m or 2h30m", curfew.ErrInvalid, field, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%w: %s: %q is not positive", curfew.ErrInvalid, field, s)
	}
	return d, nil
}

// parseAppealID parses an appeal ID from a URL path.
func parseAppealID(s string) (curfew.AppealID, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: appeal id %q is not a positive integer", curfew.ErrInvalid, s)
	}
	return curfew.AppealID(id), nil
}

// parseID parses a restriction ID from a URL path.
func parseID(s string) (curfew.RestrictionID, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: restriction id %q is not a positive integer", curfew.ErrInvalid, s)
	}
	return curfew.RestrictionID(id), nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func emptyToNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
