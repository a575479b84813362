package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
}

var (
	_ curfew.Service  = (*Client)(nil)
	_ curfew.Accounts = (*Client)(nil)
)

// maxResponseBytes bounds what the client reads of one answer.
const maxResponseBytes = 64 << 20

// NewClient returns a Client for the server at baseURL (such as
// "http://127.0.0.1:8470") that presents token as its bearer token. A nil
// hc means an http.Client with a 30-second timeout.
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
	return &Client{base: u, token: token, hc: hc}, nil
}

// Restrict implements [curfew.Service].
func (c *Client) Restrict(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
	var out Restriction
	if err := c.do(ctx, http.MethodPost, "/api/v1/restrictions", nil, restrictRequestToAPI(&req), &out); err != nil {
		return nil, err
	}
	return RestrictionFromAPI(&out)
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

// Audit implements [curfew.Service].
func (c *Client) Audit(ctx context.Context) ([]*curfew.AuditEntry, error) {
	var out []AuditEntry
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit", nil, nil, &out); err != nil {
		return nil, err
	}
	es := make([]*curfew.AuditEntry, 0, len(out))
	for i := range out {
		es = append(es, AuditEntryFromAPI(&out[i]))
	}
	return es, nil
}

// VerifyAudit implements [curfew.Service].
func (c *Client) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	var out AuditReport
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &out); err != nil {
		return nil, err
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
// successful answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("calling curfew server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("reading answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding answer of %s %s: %w", method, path, err)
	}
	return nil
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
