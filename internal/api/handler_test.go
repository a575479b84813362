package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

var (
	now   = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	alice = curfew.Actor{Name: "alice", Role: curfew.RoleOperator}

	tokens = apitest.Tokens{
		"op-secret":     alice,
		"viewer-secret": {Name: "victor", Role: curfew.RoleViewer},
		"admin-secret":  {Name: "root", Role: curfew.RoleAdmin},
	}
)

// newHandler returns the API over svc, with its log written to logs. Its
// Accounts panic when called.
func newHandler(t *testing.T, svc curfew.Service, logs io.Writer) http.Handler {
	t.Helper()
	return newHandlerWith(t, svc, &apitest.FakeAccounts{}, logs)
}

// newAccountsHandler returns the API over acc; its Service panics when
// called.
func newAccountsHandler(t *testing.T, acc curfew.Accounts) http.Handler {
	t.Helper()
	return newHandlerWith(t, &apitest.FakeService{}, acc, nil)
}

func newHandlerWith(t *testing.T, svc curfew.Service, acc curfew.Accounts, logs io.Writer) http.Handler {
	t.Helper()
	if logs == nil {
		logs = t.Output()
	}
	h, err := api.NewHandler(&api.HandlerConfig{
		Service:  svc,
		Auth:     tokens,
		Accounts: acc,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Now:      func() time.Time { return now },
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "curfew_up 1\n") }),
	})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

// call sends one request to h with the operator token (if token is not
// empty) and returns the status and body.
func call(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func decodeError(t *testing.T, body string) api.ErrorResponse {
	t.Helper()
	var e api.ErrorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not an ErrorResponse: %v", body, err)
	}
	return e
}

func sampleRestriction() *curfew.Restriction {
	return &curfew.Restriction{
		ID:      7,
		Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}},
		Mode:    curfew.ModeCutoff,
		Reason:  "exam week",
		Notice:  "back at nine",
		Author:  "alice",
		Start:   now.Add(-time.Hour),
		End:     now.Add(time.Hour),
		Created: now.Add(-time.Hour),
	}
}

func TestNewHandlerRejectsIncompleteConfig(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	svc := &apitest.FakeService{}
	acc := &apitest.FakeAccounts{}
	tests := []struct {
		name string
		c    *api.HandlerConfig
	}{
		{"nil config", nil},
		{"no service", &api.HandlerConfig{Auth: tokens, Accounts: acc, Logger: logger}},
		{"no auth", &api.HandlerConfig{Service: svc, Accounts: acc, Logger: logger}},
		{"no accounts", &api.HandlerConfig{Service: svc, Auth: tokens, Logger: logger}},
		{"no logger", &api.HandlerConfig{Service: svc, Auth: tokens, Accounts: acc}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := api.NewHandler(tt.c); err == nil {
				t.Errorf("NewHandler succeeded, want an error")
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	svc := &apitest.FakeService{
		DevicesFunc: func(ctx context.Context) ([]*curfew.Device, error) { return nil, nil },
	}
	h := newHandler(t, svc, nil)
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"basic scheme", "Basic b3Atc2VjcmV0", http.StatusUnauthorized},
		{"bearer without secret", "Bearer ", http.StatusUnauthorized},
		{"unknown secret", "Bearer nope", http.StatusUnauthorized},
		{"valid secret", "Bearer op-secret", http.StatusOK},
		{"scheme is case-insensitive", "bearer op-secret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/devices", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusUnauthorized {
				if e := decodeError(t, rec.Body.String()); e.Code != "unauthenticated" {
					t.Errorf("code = %q, want unauthenticated", e.Code)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("no WWW-Authenticate header")
				}
			}
		})
	}
	if got := svc.Calls(); len(got) != 2 {
		t.Errorf("service calls = %v, want only the two authenticated ones", got)
	}
}

func TestUnauthenticatedRoutes(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	for _, path := range []string{"/api/v1/health", "/api/v1/openapi.json", "/metrics"} {
		status, body := call(t, h, "GET", path, "", "")
		if status != http.StatusOK {
			t.Errorf("GET %s = %d, want 200; body %s", path, status, body)
		}
	}
	status, body := call(t, h, "GET", "/api/v1/health", "", "")
	if status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("GET /api/v1/health = %d %s", status, body)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	status, body := call(t, h, "GET", "/api/v1/nothing", "op-secret", "")
	if status != http.StatusNotFound || decodeError(t, body).Code != "not_found" {
		t.Errorf("GET /api/v1/nothing = %d %s, want a JSON 404", status, body)
	}
}

func TestAuthenticatorFailureIsInternal(t *testing.T) {
	var logs bytes.Buffer
	h, err := api.NewHandler(&api.HandlerConfig{
		Service:  &apitest.FakeService{},
		Auth:     failingAuth{},
		Accounts: &apitest.FakeAccounts{},
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body := call(t, h, "GET", "/api/v1/devices", "x", "")
	if status != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", status)
	}
	if strings.Contains(body, "disk on fire") {
		t.Errorf("body %s leaks the internal detail", body)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("log %q lacks the internal detail", logs.String())
	}
}

type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, netip.Addr, string) (curfew.Actor, error) {
	return curfew.Actor{}, errors.New("disk on fire")
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{fmt.Errorf("%w: bad subject", curfew.ErrInvalid), 400, "invalid"},
		{fmt.Errorf("%w: restriction 9", curfew.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("%w: already lifted", curfew.ErrConflict), 409, "conflict"},
		{fmt.Errorf("%w: no operator", curfew.ErrUnauthenticated), 401, "unauthenticated"},
		{fmt.Errorf("%w: role viewer", curfew.ErrForbidden), 403, "forbidden"},
		{fmt.Errorf("%w: too many", curfew.ErrRateLimited), 429, "rate_limited"},
		{fmt.Errorf("querying store: %w", errors.New("database is locked")), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode, func(t *testing.T) {
			var logs bytes.Buffer
			svc := &apitest.FakeService{
				RestrictionFunc: func(context.Context, curfew.RestrictionID) (*curfew.Restriction, error) { return nil, tt.err },
			}
			status, body := call(t, newHandler(t, svc, &logs), "GET", "/api/v1/restrictions/9", "op-secret", "")
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			e := decodeError(t, body)
			if e.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", e.Code, tt.wantCode)
			}
			if tt.wantStatus == 500 {
				if strings.Contains(e.Detail, "database") {
					t.Errorf("message %q leaks the internal detail", e.Detail)
				}
				if !strings.Contains(logs.String(), "database is locked") {
					t.Errorf("log %q lacks the internal detail", logs.String())
				}
			} else if e.Detail != tt.err.Error() {
				t.Errorf("message = %q, want %q", e.Detail, tt.err.Error())
			}
		})
	}
}

func TestCreateRestriction(t *testing.T) {
	var got curfew.RestrictRequest
	var gotActor curfew.Actor
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			got = req
			gotActor, _ = curfew.ActorFrom(ctx)
			return sampleRestriction(), nil
		},
	}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "POST", "/api/v1/restrictions", "op-secret",
		`{"subject":"device:02:00:00:00:00:01","mode":"cutoff","reason":"exam week","notice":"back at nine","for":"90m","starts_at":"2026-03-01T22:00:00+01:00"}`)
	if status != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", status, body)
	}
	want := curfew.RestrictRequest{
		Subject: "device:02:00:00:00:00:01",
		Mode:    curfew.ModeCutoff,
		Reason:  "exam week",
		Notice:  "back at nine",
		Start:   now,
		For:     90 * time.Minute,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Restrict request (-want +got):\n%s", diff)
	}
	if gotActor != alice {
		t.Errorf("actor in context = %v, want %v", gotActor, alice)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	wantRes := map[string]any{
		"id": 7.0, "subject": "device:02:00:00:00:00:01", "mode": "cutoff",
		"allow": []any{}, "block": []any{}, "rate": 0.0, "reason": "exam week", "notice": "back at nine",
		"author": "alice", "starts_at": "2026-03-01T20:00:00Z", "ends_at": "2026-03-01T22:00:00Z",
		"created_at": "2026-03-01T20:00:00Z", "lifted_at": nil, "lifted_by": "", "lift_reason": "",
		"expired_at": nil, "status": "active", "approval": nil, "schedule_id": nil,
	}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestListRestrictions(t *testing.T) {
	var got curfew.RestrictionFilter
	svc := &apitest.FakeService{
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			got = f
			return []*curfew.Restriction{sampleRestriction()}, nil
		},
	}
	h := newHandler(t, svc, nil)

	status, body := call(t, h, "GET", "/api/v1/restrictions?all=true&subject=person:bob&id=7", "viewer-secret", "")
	if status != http.StatusOK {
		t.Fatalf("status = %d; body %s", status, body)
	}
	if !got.All || got.Subject == nil || got.Subject.String() != "person:bob" || got.ID == nil || *got.ID != 7 {
		t.Errorf("filter = %+v, want all, person:bob, id 7", got)
	}
	var rs []api.Restriction
	if err := json.Unmarshal([]byte(body), &rs); err != nil || len(rs) != 1 || rs[0].ID != 7 {
		t.Errorf("body = %s, want one restriction 7", body)
	}

	for _, q := range []string{"all=maybe", "subject=cat:x", "id=-1", "colour=red"} {
		status, body := call(t, h, "GET", "/api/v1/restrictions?"+q, "op-secret", "")
		if status != http.StatusBadRequest {
			t.Errorf("?%s: status = %d, want 400; body %s", q, status, body)
		}
	}

	svc.RestrictionsFunc = func(context.Context, curfew.RestrictionFilter) ([]*curfew.Restriction, error) { return nil, nil }
	if _, body := call(t, h, "GET", "/api/v1/restrictions", "op-secret", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("empty list = %s, want []", body)
	}
}

func TestGetRestriction(t *testing.T) {
	svc := &apitest.FakeService{
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			if id != 7 {
				return nil, fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, id)
			}
			return sampleRestriction(), nil
		},
	}
	h := newHandler(t, svc, nil)
	tests := []struct {
		path string
		want int
	}{
		{"/api/v1/restrictions/7", 200},
		{"/api/v1/restrictions/8", 404},
		{"/api/v1/restrictions/seven", 400},
		{"/api/v1/restrictions/0", 400},
	}
	for _, tt := range tests {
		if status, body := call(t, h, "GET", tt.path, "op-secret", ""); status != tt.want {
			t.Errorf("GET %s = %d, want %d; body %s", tt.path, status, tt.want, body)
		}
	}
}

func TestLiftRestriction(t *testing.T) {
	var gotID curfew.RestrictionID
	var gotReason string
	svc := &apitest.FakeService{
		LiftFunc: func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
			gotID, gotReason = id, reason
			r := sampleRestriction()
			r.Lifted, r.LiftedBy, r.LiftReason = now, "alice", reason
			return r, nil
		},
	}
	status, body := call(t, newHandler(t, svc, nil), "POST", "/api/v1/restrictions/7/lift", "op-secret", `{"reason":"apologised"}`)
	if status != http.StatusOK {
		t.Fatalf("status = %d; body %s", status, body)
	}
	if gotID != 7 || gotReason != "apologised" {
		t.Errorf("Lift(%d, %q), want Lift(7, \"apologised\")", gotID, gotReason)
	}
	var r api.Restriction
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "lifted" || r.LiftedAt == nil || !r.LiftedAt.Equal(now) || r.LiftReason != "apologised" {
		t.Errorf("lifted restriction = %+v", r)
	}
}

func TestExtendRestriction(t *testing.T) {
	type args struct {
		ID     curfew.RestrictionID
		End    time.Time
		D      time.Duration
		Reason string
	}
	var got args
	svc := &apitest.FakeService{
		ExtendFunc: func(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
			got = args{id, end, d, reason}
			return sampleRestriction(), nil
		},
	}
	h := newHandler(t, svc, nil)
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       args
	}{
		{"for", `{"for":"1h","reason":"r"}`, 200, args{7, time.Time{}, time.Hour, "r"}},
		{"ends_at", `{"ends_at":"2026-03-02T08:00:00Z","reason":"r"}`, 200, args{7, now.Add(11 * time.Hour), 0, "r"}},
		{"both", `{"for":"1h","ends_at":"2026-03-02T08:00:00Z","reason":"r"}`, 400, args{}},
		{"neither", `{"reason":"r"}`, 400, args{}},
		{"negative", `{"for":"-1h","reason":"r"}`, 400, args{}},
		{"bad time", `{"ends_at":"tomorrow","reason":"r"}`, 400, args{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = args{}
			status, body := call(t, h, "POST", "/api/v1/restrictions/7/extend", "op-secret", tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", status, tt.wantStatus, body)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Extend args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	var got *curfew.Device
	svc := &apitest.FakeService{
		AddDeviceFunc: func(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
			got = d
			c := *d
			c.Created = now
			return &c, nil
		},
		DevicesFunc: func(ctx context.Context) ([]*curfew.Device, error) {
			return []*curfew.Device{{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Created: now}}, nil
		},
	}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "POST", "/api/v1/devices", "op-secret",
		`{"mac":"02-00-00-00-00-01","name":"phone","owner":"bob","addrs":["192.168.50.10","fd00:50::10"]}`)
	if status != http.StatusCreated {
		t.Fatalf("status = %d; body %s", status, body)
	}
	want := &curfew.Device{
		MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Name: "phone", Owner: "bob",
		Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10"), netip.MustParseAddr("fd00:50::10")},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("AddDevice (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `"mac": "02:00:00:00:00:01"`) {
		t.Errorf("body %s lacks the canonical MAC", body)
	}

	for _, bad := range []string{`{"mac":"nope"}`, `{"mac":"02:00:00:00:00:01","addrs":["1.2.3"]}`, `{}`} {
		if status, body := call(t, h, "POST", "/api/v1/devices", "op-secret", bad); status != http.StatusBadRequest {
			t.Errorf("POST %s = %d, want 400; body %s", bad, status, body)
		}
	}

	status, body = call(t, h, "GET", "/api/v1/devices", "op-secret", "")
	if status != http.StatusOK || !strings.Contains(body, `"addrs": []`) {
		t.Errorf("GET /api/v1/devices = %d %s", status, body)
	}
}

func TestPersons(t *testing.T) {
	svc := &apitest.FakeService{
		AddPersonFunc: func(ctx context.Context, name string) (*curfew.Person, error) {
			if name == "bob" {
				return nil, fmt.Errorf("%w: person %q exists", curfew.ErrConflict, name)
			}
			return &curfew.Person{Name: name, Created: now}, nil
		},
		PersonsFunc: func(ctx context.Context) ([]*curfew.Person, error) {
			return []*curfew.Person{{Name: "bob", Created: now}}, nil
		},
	}
	h := newHandler(t, svc, nil)
	if status, body := call(t, h, "POST", "/api/v1/persons", "op-secret", `{"name":"carol"}`); status != 201 {
		t.Errorf("POST carol = %d %s, want 201", status, body)
	}
	if status, body := call(t, h, "POST", "/api/v1/persons", "op-secret", `{"name":"bob"}`); status != 409 {
		t.Errorf("POST bob = %d %s, want 409", status, body)
	}
	status, body := call(t, h, "GET", "/api/v1/persons", "op-secret", "")
	want := `[{"name":"bob","created_at":"2026-03-01T21:00:00Z"}]`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/persons = %d %s, want %s", status, body, want)
	}
}

// auditPub is a fixed audit public key.
var auditPub = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)).Public().(ed25519.PublicKey)

// testExport returns a log of two events and a checkpoint, as an export.
func testExport(t *testing.T) (events [][]byte, export string) {
	t.Helper()
	var head audit.Head
	var b strings.Builder
	for _, e := range []*audit.Event{
		{At: now, Kind: audit.KindPersonAdded, Actor: "alice", Subject: "person:bob"},
		{At: now, Kind: audit.KindRestrictionLifted, Actor: "alice", Subject: "person:bob", Restriction: 3, Reason: "sorry",
			Before: &audit.Fields{End: now.Add(time.Hour)}, After: &audit.Fields{Lifted: now, LiftedBy: "alice"}},
	} {
		data, err := e.Seal(head)
		if err != nil {
			t.Fatal(err)
		}
		head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
		events = append(events, data)
		b.Write(data)
		b.WriteByte('\n')
	}
	c, err := audit.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)), head, now)
	if err != nil {
		t.Fatal(err)
	}
	b.Write(c.Encode())
	b.WriteByte('\n')
	return events, b.String()
}

func TestAudit(t *testing.T) {
	events, export := testExport(t)
	var from int64
	svc := &apitest.FakeService{
		ExportAuditFunc: func(ctx context.Context, f int64, w io.Writer) error {
			from = f
			_, err := io.WriteString(w, export)
			return err
		},
		AuditKeyFunc: func(ctx context.Context) (ed25519.PublicKey, error) { return auditPub, nil },
		VerifyAuditFunc: func(ctx context.Context) (*curfew.AuditReport, error) {
			return &curfew.AuditReport{Entries: 3, Checkpoints: 1, SignedSeq: 2, SignedAt: now, Unsigned: 1, OK: false,
				Problem: "event 2: broken link", Problems: []string{"event 2: broken link"}}, nil
		},
	}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "GET", "/api/v1/audit", "viewer-secret", "")
	want := `[{"seq":1,"at":"2026-03-01T21:00:00Z","actor":"alice","action":"person.added","target":"person:bob","reason":"",` +
		`"detail":"person bob","prev_hash":"","hash":"` + audit.Sum(events[0]).String() + `","event":` + string(events[0]) + `},` +
		`{"seq":2,"at":"2026-03-01T21:00:00Z","actor":"alice","action":"restriction.lifted","target":"3","reason":"sorry",` +
		`"detail":"lifted; it was to end at 2026-03-01T22:00:00Z","prev_hash":"` + audit.Sum(events[0]).String() + `","hash":"` +
		audit.Sum(events[1]).String() + `","event":` + string(events[1]) + `}]`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/audit = %d %s, want %s", status, body, want)
	}

	req := httptest.NewRequest("GET", "/api/v1/audit/export?from=2", nil)
	req.Header.Set("Authorization", "Bearer viewer-secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != export || from != 2 || rec.Header().Get("Content-Type") != "application/jsonl" {
		t.Errorf("GET /api/v1/audit/export?from=2 = %d %q (%s), from %d; want the export as JSON lines from 2",
			rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), from)
	}
	for _, q := range []string{"0", "x", "-1"} {
		if status, body := call(t, h, "GET", "/api/v1/audit/export?from="+q, "viewer-secret", ""); status != 400 {
			t.Errorf("GET /api/v1/audit/export?from=%s = %d %s, want 400", q, status, body)
		}
	}

	status, body = call(t, h, "GET", "/api/v1/audit/key", "viewer-secret", "")
	if want := `{"key":"` + audit.EncodePublicKey(auditPub) + `"}`; status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/audit/key = %d %s, want %s", status, body, want)
	}

	status, body = call(t, h, "GET", "/api/v1/audit/verify", "viewer-secret", "")
	want = `{"entries":3,"checkpoints":1,"signed_seq":2,"signed_at":"2026-03-01T21:00:00Z","unsigned":1,"ok":false,` +
		`"problem":"event 2: broken link","problems":["event 2: broken link"]}`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/audit/verify = %d %s, want %s", status, body, want)
	}
}

// An export refused before its first byte gets the error's status.
func TestAuditExportRefused(t *testing.T) {
	svc := &apitest.FakeService{
		ExportAuditFunc: func(ctx context.Context, _ int64, _ io.Writer) error {
			_, err := curfew.Require(ctx, curfew.RoleAdmin)
			return err
		},
	}
	h := newHandler(t, svc, nil)
	if status, body := call(t, h, "GET", "/api/v1/audit/export", "viewer-secret", ""); status != 403 || !strings.Contains(body, "forbidden") {
		t.Errorf("GET /api/v1/audit/export refused = %d %s, want 403", status, body)
	}
}

func TestCreateToken(t *testing.T) {
	acc := &apitest.FakeAccounts{
		CreateTokenFunc: func(ctx context.Context, name string, role curfew.Role) (string, error) {
			if _, err := curfew.Require(ctx, curfew.RoleAdmin); err != nil {
				return "", err
			}
			return "s3cret", nil
		},
	}
	h := newAccountsHandler(t, acc)
	status, body := call(t, h, "POST", "/api/v1/tokens", "op-secret", `{"name":"dave","role":"viewer"}`)
	if status != http.StatusForbidden {
		t.Errorf("operator creating a token = %d %s, want 403", status, body)
	}
	status, body = call(t, h, "POST", "/api/v1/tokens", "admin-secret", `{"name":"dave","role":"king"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "king") {
		t.Errorf("unknown role = %d %s, want 400 naming it", status, body)
	}
	status, body = call(t, h, "POST", "/api/v1/tokens", "admin-secret", `{"name":"dave","role":"viewer"}`)
	want := `{"name":"dave","role":"viewer","secret":"s3cret"}`
	if status != http.StatusCreated || compact(t, body) != want {
		t.Errorf("admin creating a token = %d %s, want 201 %s", status, body, want)
	}
}

func TestStrictDecoding(t *testing.T) {
	svc := &apitest.FakeService{}
	h := newHandler(t, svc, nil)
	valid := `{"subject":"person:bob","reason":"r","for":"1h"}`
	tests := []struct {
		name string
		body string
		want string // in the message
	}{
		{"empty", "", "empty"},
		{"unknown field", `{"subject":"person:bob","reason":"r","for":"1h","colour":"red"}`, `unknown field "colour"`},
		{"two values", valid + valid, "more than one JSON value"},
		{"trailing garbage", valid + "x", "after the first JSON value"},
		{"wrong type", `{"subject":"person:bob","reason":"r","for":60}`, `field "for": got a JSON number, want a string`},
		{"wrong list type", `{"subject":"person:bob","reason":"r","for":"1h","allow":"a.org"}`, `field "allow"`},
		{"not an object", `[1]`, "want an object"},
		{"malformed", `{"subject":`, "truncated"},
		{"syntax", `{"subject" "x"}`, "malformed JSON at byte"},
		{"huge", `{"reason":"` + strings.Repeat("a", 70<<10) + `"}`, "larger than 64 KiB"},
		{"bad duration", `{"subject":"person:bob","reason":"r","for":"forever"}`, `for: "forever" is not a duration`},
		{"zero duration", `{"subject":"person:bob","reason":"r","for":"0s"}`, `for: "0s" is not positive`},
		{"bad time", `{"subject":"person:bob","reason":"r","ends_at":"9pm"}`, `ends_at: "9pm" is not an RFC 3339 time`},
		{"bad start", `{"subject":"person:bob","reason":"r","for":"1h","starts_at":"2026-13-01T00:00:00Z"}`, `starts_at: "2026-13-01T00:00:00Z"`},
		{"both ends", `{"subject":"person:bob","reason":"r","for":"1h","ends_at":"2026-03-02T00:00:00Z"}`, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, h, "POST", "/api/v1/restrictions", "op-secret", tt.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", status, body)
			}
			e := decodeError(t, body)
			if e.Code != "invalid" || !strings.Contains(e.Detail, tt.want) {
				t.Errorf("error = %+v, want code invalid and a message containing %q", e, tt.want)
			}
			if strings.Contains(e.Detail, "\n") {
				t.Errorf("message %q spans lines", e.Detail)
			}
		})
	}
	if calls := svc.Calls(); len(calls) != 0 {
		t.Errorf("service calls = %v, want none", calls)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compacting %q: %v", s, err)
	}
	return b.String()
}

// TestRoleBeforeRequest checks that every state-changing route answers a
// caller whose role is not enough with 403 before it reads the request:
// an invalid request gets 403 as a valid one does, not 400, and the
// Service is never called.
func TestRoleBeforeRequest(t *testing.T) {
	ok := func() (*curfew.Restriction, error) { return sampleRestriction(), nil }
	svc := &apitest.FakeService{
		RestrictFunc: func(context.Context, curfew.RestrictRequest) (*curfew.Restriction, error) { return ok() },
		LiftFunc:     func(context.Context, curfew.RestrictionID, string) (*curfew.Restriction, error) { return ok() },
		ExtendFunc: func(context.Context, curfew.RestrictionID, time.Time, time.Duration, string) (*curfew.Restriction, error) {
			return ok()
		},
		AddDeviceFunc: func(_ context.Context, d *curfew.Device) (*curfew.Device, error) { return d, nil },
		AddPersonFunc: func(_ context.Context, name string) (*curfew.Person, error) { return &curfew.Person{Name: name}, nil },
		AnswerAppealFunc: func(context.Context, curfew.AppealID, string) (*curfew.Appeal, error) {
			return &curfew.Appeal{ID: 1}, nil
		},
	}
	acc := &apitest.FakeAccounts{
		CreateTokenFunc: func(context.Context, string, curfew.Role) (string, error) { return "s3cret", nil },
		RevokeTokenFunc: func(context.Context, string) (*curfew.Token, error) { return &curfew.Token{}, nil },
		AddOperatorFunc: func(context.Context, string, curfew.Role) (*curfew.Operator, string, error) {
			return &curfew.Operator{}, "pw", nil
		},
		DisableOperatorFunc: func(context.Context, string, string) (*curfew.Operator, error) { return &curfew.Operator{}, nil },
		ResetPasswordFunc:   func(context.Context, string) (string, error) { return "pw", nil },
	}
	h := newHandlerWith(t, svc, acc, nil)
	tests := []struct {
		name, token, path string
		valid, invalid    string // bodies
	}{
		{"restrict", "viewer-secret", "/api/v1/restrictions",
			`{"subject":"device:02:00:00:00:00:01","reason":"r","for":"1h"}`, `{"subject":"cat:x","for":"forever"}`},
		{"lift", "viewer-secret", "/api/v1/restrictions/7/lift", `{"reason":"r"}`, `{"reason":1}`},
		{"lift a bad id", "viewer-secret", "/api/v1/restrictions/seven/lift", "", `{"reason":"r"}`},
		{"extend", "viewer-secret", "/api/v1/restrictions/7/extend", `{"for":"1h","reason":"r"}`, `{"for":"1h","ends_at":"9pm"}`},
		{"add device", "viewer-secret", "/api/v1/devices", `{"mac":"02:00:00:00:00:01"}`, `{"mac":"nope"}`},
		{"add person", "viewer-secret", "/api/v1/persons", `{"name":"carol"}`, `{"name":"carol","colour":"red"}`},
		{"create token as operator", "op-secret", "/api/v1/tokens", `{"name":"dave","role":"viewer"}`, `{"name":"dave","role":"king"}`},
		{"answer an appeal", "viewer-secret", "/api/v1/appeals/1/answer", `{"text":"soon"}`, `{"text":7}`},
		{"revoke token as operator", "op-secret", "/api/v1/tokens/dave/revoke", "", `{"colour":"red"}`},
		{"add operator as operator", "op-secret", "/api/v1/operators", `{"name":"dave","role":"viewer"}`, `{"name":"dave","role":"king"}`},
		{"disable operator as operator", "op-secret", "/api/v1/operators/root/disable", `{"reason":"r"}`, `{"reason":1}`},
		{"reset password as operator", "op-secret", "/api/v1/operators/root/password", "", `{"colour":"red"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range []string{tt.valid, tt.invalid} {
				if body == "" {
					continue
				}
				status, resp := call(t, h, "POST", tt.path, tt.token, body)
				if status != http.StatusForbidden || decodeError(t, resp).Code != "forbidden" {
					t.Errorf("POST %s %s = %d %s, want 403 forbidden", tt.path, body, status, resp)
				}
			}
		})
	}
	if calls := append(svc.Calls(), acc.Calls()...); len(calls) != 0 {
		t.Errorf("service calls = %v, want none", calls)
	}
}

func TestAppeals(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	appeal := &curfew.Appeal{
		ID: 1, From: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac}, Addr: netip.MustParseAddr("192.168.50.10"),
		Restrictions: []curfew.RestrictionID{3}, Message: "<script>alert(1)</script>", Created: now,
	}
	var answered string
	svc := &apitest.FakeService{
		AppealsFunc: func(ctx context.Context) ([]*curfew.Appeal, error) { return []*curfew.Appeal{appeal}, nil },
		AnswerAppealFunc: func(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
			if id != 1 {
				return nil, fmt.Errorf("%w: appeal %d", curfew.ErrNotFound, id)
			}
			answered = text
			a := *appeal
			a.Answer, a.Answered, a.AnsweredBy = text, now.Add(time.Minute), "alice"
			return &a, nil
		},
	}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "GET", "/api/v1/appeals", "viewer-secret", "")
	want := `[{"id":1,"time":"2026-03-01T21:00:00Z","restriction_ids":[3],"device":"device:02:00:00:00:00:01","addr":"192.168.50.10",` +
		`"message":"\u003cscript\u003ealert(1)\u003c/script\u003e","answer":"","answered_at":null,"answered_by":""}]`
	if status != 200 || compact(t, body) != want {
		t.Errorf("GET /api/v1/appeals = %d %s, want %s", status, body, want)
	}
	status, body = call(t, h, "POST", "/api/v1/appeals/1/answer", "op-secret", `{"text":"Until Friday."}`)
	if status != 200 || answered != "Until Friday." || !strings.Contains(body, `"answered_at": "2026-03-01T21:01:00Z"`) {
		t.Errorf("POST /api/v1/appeals/1/answer = %d %s (the service saw %q), want 200 with the answer", status, body, answered)
	}
	if status, body := call(t, h, "POST", "/api/v1/appeals/9/answer", "op-secret", `{"text":"x"}`); status != 404 {
		t.Errorf("answering appeal 9 = %d %s, want 404", status, body)
	}
	if status, body := call(t, h, "POST", "/api/v1/appeals/nine/answer", "op-secret", `{"text":"x"}`); status != 400 || !strings.Contains(body, "nine") {
		t.Errorf("answering appeal nine = %d %s, want 400 naming it", status, body)
	}
}

// Every error answer is an RFC 9457 problem.
func TestErrorsAreProblems(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	for _, tt := range []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"POST", "/api/v1/restrictions", "op-secret", `{"subject": 7}`, 400, "invalid"},
		{"GET", "/api/v1/restrictions", "", "", 401, "unauthenticated"},
		{"POST", "/api/v1/tokens", "viewer-secret", `{}`, 403, "forbidden"},
		{"GET", "/api/v1/nothing", "viewer-secret", "", 404, "not_found"},
	} {
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); rec.Code != tt.status || ct != "application/problem+json" {
			t.Errorf("%s %s = %d %s, want %d application/problem+json", tt.method, tt.path, rec.Code, ct, tt.status)
		}
		e := decodeError(t, rec.Body.String())
		if e.Type != "about:blank" || e.Status != tt.status || e.Title != http.StatusText(tt.status) || e.Code != tt.code || e.Detail == "" {
			t.Errorf("%s %s: problem %+v, want about:blank, status %d, its title, code %s and a detail", tt.method, tt.path, e, tt.status, tt.code)
		}
	}
}
