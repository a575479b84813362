package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Client implements curfew.Service by calling a curfew server over HTTP.
// Its errors for error answers are *Error values, which unwrap to the
// curfew error kinds; transport failures wrap no kind. The actor in the
// context is ignored: the server acts as the operator of the token.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	// long makes the calls whose answer takes as long as the audit log
	// is (its export and its verification): hc without its timeout, so
	// that only the caller's context bounds them.
	long *http.Client
}

var (
	_ curfew.Service  = (*Client)(nil)
	_ curfew.Accounts = (*Client)(nil)
)

// maxResponseBytes bounds what the client reads of one answer.
const maxResponseBytes = 64 << 20

// NewClient returns a Client for the server at baseURL (such as
// "http://127.0.0.1:8470") that presents token as its bearer token. A nil
// hc means an http.Client with a 30-second timeout. ExportAudit and
// VerifyAudit, whose answers grow with the audit log, use hc without its
// timeout: their context bounds them.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: server URL %q: want http://HOST:PORT or https://HOST:PORT", curfew.ErrInvalid, baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	long := *hc
	long.Timeout = 0
	return &Client{base: u, token: token, hc: hc, long: &long}, nil
}

// Restrict implements [curfew.Service].
func (c *Client) Restrict(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodPost, "/api/v1/restrictions", nil, restrictRequestToAPI(&req), &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// AddSchedule implements [curfew.Service].
func (c *Client) AddSchedule(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error) {
	var out Schedule
	if err := c.do(ctx, http.MethodPost, "/api/v1/schedules", nil, scheduleRequestToAPI(&req), &out); err != nil {
		return nil, err
	}
	return ScheduleFromAPI(&out)
}

// RemoveSchedule implements [curfew.Service].
func (c *Client) RemoveSchedule(ctx context.Context, id curfew.ScheduleID, reason string) (*curfew.Schedule, error) {
	var out Schedule
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/schedules/%d/remove", id), nil, RemoveScheduleRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return ScheduleFromAPI(&out)
}

// Schedules implements [curfew.Service].
func (c *Client) Schedules(ctx context.Context, f curfew.ScheduleFilter) ([]*curfew.Schedule, error) {
	q := url.Values{}
	if f.All {
		q.Set("all", "true")
	}
	var out []Schedule
	if err := c.do(ctx, http.MethodGet, "/api/v1/schedules", q, nil, &out); err != nil {
		return nil, err
	}
	ss := make([]*curfew.Schedule, 0, len(out))
	for i := range out {
		s, err := ScheduleFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	return ss, nil
}

// Lift implements [curfew.Service].
func (c *Client) Lift(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/restrictions/%d/lift", id), nil, LiftRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// Extend implements [curfew.Service].
func (c *Client) Extend(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
	body := ExtendRequest{Reason: reason}
	if !end.IsZero() {
		body.EndsAt = formatTime(end)
	}
	if d != 0 {
		body.For = d.String()
	}
	var out Restriction
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/restrictions/%d/extend", id), nil, body, &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// Approve implements [curfew.Service].
func (c *Client) Approve(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/restrictions/%d/approve", id), nil, ApproveRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// Reject implements [curfew.Service].
func (c *Client) Reject(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/restrictions/%d/reject", id), nil, RejectRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// Restriction implements [curfew.Service].
func (c *Client) Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/restrictions/%d", id), nil, nil, &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
}

// Restrictions implements [curfew.Service].
func (c *Client) Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	q := url.Values{}
	if f.All {
		q.Set("all", "true")
	}
	if f.Subject != nil {
		q.Set("subject", f.Subject.String())
	}
	if f.ID != nil {
		q.Set("id", strconv.FormatInt(int64(*f.ID), 10))
	}
	var out []Restriction
	if err := c.do(ctx, http.MethodGet, "/api/v1/restrictions", q, nil, &out); err != nil {
		return nil, err
	}
	rs := make([]*curfew.Restriction, 0, len(out))
	for i := range out {
		r, err := RestrictionFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// AddDevice implements [curfew.Service].
func (c *Client) AddDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	var out Device
	if err := c.do(ctx, http.MethodPost, "/api/v1/devices", nil, deviceRequestToAPI(d), &out); err != nil {
		return nil, err
	}
	return DeviceFromAPI(&out)
}

// Devices implements [curfew.Service].
func (c *Client) Devices(ctx context.Context) ([]*curfew.Device, error) {
	var out []Device
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices", nil, nil, &out); err != nil {
		return nil, err
	}
	ds := make([]*curfew.Device, 0, len(out))
	for i := range out {
		d, err := DeviceFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// FindDevices implements [curfew.Service].
func (c *Client) FindDevices(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error) {
	v := url.Values{"offset": {strconv.Itoa(q.Offset)}, "limit": {strconv.Itoa(q.Limit)}}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Owner != "" {
		v.Set("owner", q.Owner)
	}
	var out DevicePage
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices/search", v, nil, &out); err != nil {
		return nil, err
	}
	page := &curfew.DevicePage{Total: out.Total}
	for i := range out.Devices {
		d, err := DeviceFromAPI(&out.Devices[i])
		if err != nil {
			return nil, err
		}
		page.Devices = append(page.Devices, d)
	}
	return page, nil
}

// FindPersons implements [curfew.Service].
func (c *Client) FindPersons(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error) {
	v := url.Values{"offset": {strconv.Itoa(q.Offset)}, "limit": {strconv.Itoa(q.Limit)}}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	var out PersonPage
	if err := c.do(ctx, http.MethodGet, "/api/v1/persons/search", v, nil, &out); err != nil {
		return nil, err
	}
	page := &curfew.PersonPage{Total: out.Total}
	for i := range out.Persons {
		page.Persons = append(page.Persons, PersonFromAPI(&out.Persons[i]))
	}
	return page, nil
}

// ApproveDevice implements [curfew.Service].
func (c *Client) ApproveDevice(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
	var out Device
	body := ApproveDeviceRequest{Owner: d.Owner, Name: d.Name}
	if err := c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(d.MAC.String())+"/approve", nil, body, &out); err != nil {
		return nil, err
	}
	return DeviceFromAPI(&out)
}

// UnknownDevices returns the server's lan.unknown_devices, "allow" or
// "quarantine", from GET /api/v1/health; "" from a server too old to say.
func (c *Client) UnknownDevices(ctx context.Context) (string, error) {
	var out map[string]string
	if err := c.do(ctx, http.MethodGet, "/api/v1/health", nil, nil, &out); err != nil {
		return "", err
	}
	return out["unknown_devices"], nil
}

// TimeZone returns the name of the gateway's zone (the config's timezone,
// such as Europe/Madrid), from GET /api/v1/health; "" from a server too
// old to say. It needs no token.
func (c *Client) TimeZone(ctx context.Context) (string, error) {
	var out map[string]string
	if err := c.do(ctx, http.MethodGet, "/api/v1/health", nil, nil, &out); err != nil {
		return "", err
	}
	return out["timezone"], nil
}

// SeenDevices implements [curfew.Service].
func (c *Client) SeenDevices(ctx context.Context) ([]*curfew.SeenDevice, error) {
	var out []SeenDevice
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices/seen", nil, nil, &out); err != nil {
		return nil, err
	}
	ds := make([]*curfew.SeenDevice, 0, len(out))
	for i := range out {
		d, err := SeenDeviceFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// RemoveDevice implements [curfew.Service].
func (c *Client) RemoveDevice(ctx context.Context, mac net.HardwareAddr, reason string) (*curfew.Device, error) {
	var out Device
	if err := c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(mac.String())+"/remove", nil, RemoveRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return DeviceFromAPI(&out)
}

// RemovePerson implements [curfew.Service].
func (c *Client) RemovePerson(ctx context.Context, name, reason string) (*curfew.Person, error) {
	var out Person
	if err := c.do(ctx, http.MethodPost, "/api/v1/persons/"+url.PathEscape(name)+"/remove", nil, RemoveRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return PersonFromAPI(&out), nil
}

// AddPerson implements [curfew.Service].
func (c *Client) AddPerson(ctx context.Context, name string) (*curfew.Person, error) {
	var out Person
	if err := c.do(ctx, http.MethodPost, "/api/v1/persons", nil, PersonRequest{Name: name}, &out); err != nil {
		return nil, err
	}
	return PersonFromAPI(&out), nil
}

// Persons implements [curfew.Service].
func (c *Client) Persons(ctx context.Context) ([]*curfew.Person, error) {
	var out []Person
	if err := c.do(ctx, http.MethodGet, "/api/v1/persons", nil, nil, &out); err != nil {
		return nil, err
	}
	ps := make([]*curfew.Person, 0, len(out))
	for i := range out {
		ps = append(ps, PersonFromAPI(&out[i]))
	}
	return ps, nil
}

// ExportAudit implements [curfew.Service]. It copies the server's export
// to w as it arrives, however long it is.
func (c *Client) ExportAudit(ctx context.Context, from int64, w io.Writer) error {
	q := url.Values{}
	if from > 1 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	u := *c.base
	u.Path += "/api/v1/audit/export"
	u.RawQuery = q.Encode()
	resp, err := c.open(ctx, c.long, http.MethodGet, u.String(), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return answerError(resp.StatusCode, b)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading the audit export: %w", err)
	}
	return nil
}

// AuditCheckpoint implements [curfew.Service].
func (c *Client) AuditCheckpoint(ctx context.Context) (curfew.Checkpoint, error) {
	var out Checkpoint
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/checkpoint", nil, nil, &out); err != nil {
		return curfew.Checkpoint{}, err
	}
	return CheckpointFromAPI(&out), nil
}

// AuditKey implements [curfew.Service].
func (c *Client) AuditKey(ctx context.Context) (ed25519.PublicKey, error) {
	var out AuditKeyResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/key", nil, nil, &out); err != nil {
		return nil, err
	}
	pub, err := audit.ParsePublicKey(out.Key)
	if err != nil {
		return nil, fmt.Errorf("decoding answer of GET /api/v1/audit/key: %w", err)
	}
	return pub, nil
}

// AddGroup implements [curfew.Service].
func (c *Client) AddGroup(ctx context.Context, name string) (*curfew.Group, error) {
	var out Group
	if err := c.do(ctx, http.MethodPost, "/api/v1/groups", nil, GroupRequest{Name: name}, &out); err != nil {
		return nil, err
	}
	return GroupFromAPI(&out)
}

// AddGroupMember implements [curfew.Service].
func (c *Client) AddGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	return c.changeGroup(ctx, "/api/v1/groups/"+url.PathEscape(name)+"/members", member)
}

// RemoveGroupMember implements [curfew.Service].
func (c *Client) RemoveGroupMember(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error) {
	return c.changeGroup(ctx, "/api/v1/groups/"+url.PathEscape(name)+"/members/remove", member)
}

func (c *Client) changeGroup(ctx context.Context, path string, member curfew.Subject) (*curfew.Group, error) {
	var out Group
	if err := c.do(ctx, http.MethodPost, path, nil, GroupMemberRequest{Member: member.String()}, &out); err != nil {
		return nil, err
	}
	return GroupFromAPI(&out)
}

// Groups implements [curfew.Service].
func (c *Client) Groups(ctx context.Context) ([]*curfew.Group, error) {
	var out []Group
	if err := c.do(ctx, http.MethodGet, "/api/v1/groups", nil, nil, &out); err != nil {
		return nil, err
	}
	gs := make([]*curfew.Group, 0, len(out))
	for i := range out {
		g, err := GroupFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// VerifyAudit implements [curfew.Service].
func (c *Client) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	var out AuditReport
	u := *c.base
	u.Path += "/api/v1/audit/verify"
	status, answer, err := c.roundTrip(ctx, c.long, http.MethodGet, u.String(), "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, answerError(status, answer)
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return nil, fmt.Errorf("decoding answer of GET /api/v1/audit/verify: %w", err)
	}
	return AuditReportFromAPI(&out), nil
}

// Appeals implements [curfew.Service].
func (c *Client) Appeals(ctx context.Context) ([]*curfew.Appeal, error) {
	var out []Appeal
	if err := c.do(ctx, http.MethodGet, "/api/v1/appeals", nil, nil, &out); err != nil {
		return nil, err
	}
	as := make([]*curfew.Appeal, 0, len(out))
	for i := range out {
		a, err := AppealFromAPI(&out[i])
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// AnswerAppeal implements [curfew.Service].
func (c *Client) AnswerAppeal(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
	var out Appeal
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/appeals/%d/answer", id), nil, AnswerRequest{Text: text}, &out); err != nil {
		return nil, err
	}
	return AppealFromAPI(&out)
}

// do sends one request with in (if not nil) as its JSON body and decodes a
// successful answer into out. Every POST, the API's state-changing
// method, carries an idempotency key: that of ctx (curfew.WithRequestKey),
// which is then meant for this one call, or else a new random one.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var key string
	if method == http.MethodPost {
		if k, ok := curfew.RequestKeyFrom(ctx); ok {
			key = k.Key
		} else {
			key = rand.Text()
		}
	}
	return c.send(ctx, method, path, q, key, in, out)
}

// retryFor is how long a request with an idempotency key is retried while
// the server cannot be reached or its answer is lost.
const retryFor = 30 * time.Second

// send makes one call. With an idempotency key (sent as the
// Idempotency-Key header), a call whose answer did not arrive (the server
// was restarting, the connection dropped) is sent again with the same key
// for up to retryFor: the server then returns what the first one did, if
// it was stored, rather than doing it twice.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, key string, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var b []byte
	if in != nil {
		var err error
		if b, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
	}
	deadline := time.Now().Add(retryFor)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		status, answer, err := c.roundTrip(ctx, c.hc, method, u.String(), key, b)
		if err != nil {
			if key == "" || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
			continue
		}
		if status < 200 || status > 299 {
			return answerError(status, answer)
		}
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("decoding answer of %s %s: %w", method, path, err)
		}
		return nil
	}
}

// roundTrip sends one request and reads its answer; err is set only if no
// whole answer arrived.
func (c *Client) roundTrip(ctx context.Context, hc *http.Client, method, url, key string, body []byte) (int, []byte, error) {
	resp, err := c.open(ctx, hc, method, url, key, body)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer of %s %s: %w", method, resp.Request.URL.Path, err)
	}
	return resp.StatusCode, b, nil
}

// open sends one request and returns the answer as it starts to arrive;
// the caller closes its body.
func (c *Client) open(ctx context.Context, hc *http.Client, method, url, key string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling curfew server: %w", err)
	}
	return resp, nil
}

// answerError turns an error answer into an *Error.
func answerError(status int, body []byte) error {
	var er ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Detail == "" {
		// Not one of ours: a proxy, or a server that is not curfew.
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &Error{Status: status, Message: fmt.Sprintf("server answered %d: %s", status, msg)}
	}
	return &Error{Status: status, Code: er.Code, Message: er.Detail}
}
