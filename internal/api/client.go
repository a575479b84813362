package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
}

var _ curfew.Service = (*Client)(nil)

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

// ExportAudit implements [curfew.Service]. It copies the server's export
// to w as it arrives, however long it is.
func (c *Client) ExportAudit(ctx context.Context, from int64, w io.Writer) error {
	q := url.Values{}
	if from > 1 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/audit/export", q, nil)
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

// VerifyAudit implements [curfew.Service].
func (c *Client) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	var out AuditReport
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &out); err != nil {
		return nil, err
	}
	return AuditReportFromAPI(&out), nil
}

// CreateToken implements [curfew.Service].
func (c *Client) CreateToken(ctx context.Context, name string, role curfew.Role) (string, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, TokenRequest{Name: name, Role: string(role)}, &out); err != nil {
		return "", err
	}
	if out.Secret == "" {
		return "", errors.New("creating token: the server returned no secret")
	}
	return out.Secret, nil
}

// do sends one request with in (if not nil) as its JSON body and decodes a
// successful answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return err
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

// send sends one request with in (if not nil) as its JSON body and
// returns the answer, whose body the caller closes.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling curfew server: %w", err)
	}
	return resp, nil
}

// answerError turns an error answer into an *Error.
func answerError(status int, body []byte) error {
	var er ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Message == "" {
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
	return &Error{Status: status, Code: er.Code, Message: er.Message}
}
