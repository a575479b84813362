package api_test

import (
	"context"
	"crypto/ed25519"
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
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// newClient returns a Client talking through a real HTTP server to the API
// handler over svc, with token.
func newClient(t *testing.T, svc curfew.Service, token string) *api.Client {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, svc, nil))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(srv.URL, token, srv.Client())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8470", "ftp://x", "http://", "http://x/?q=1"} {
		if _, err := api.NewClient(u, "t", nil); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("NewClient(%q) = %v, want ErrInvalid", u, err)
		}
	}
}

func TestClientRoundTrip(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	full := &curfew.Restriction{
		ID:         3,
		Subject:    curfew.Subject{Kind: curfew.SubjectPerson, Name: "bob"},
		Mode:       curfew.ModeAllowlist,
		Allow:      []string{"wikipedia.org", "192.0.2.0/24"},
		Reason:     "exam week",
		Notice:     "back at nine",
		Author:     "alice",
		Start:      now.Add(-2 * time.Hour),
		End:        now.Add(time.Hour),
		Created:    now.Add(-2 * time.Hour),
		Lifted:     now.Add(-time.Minute),
		LiftedBy:   "alice",
		LiftReason: "done",
	}
	device := &curfew.Device{MAC: mac, Name: "phone", Owner: "bob", Addrs: []netip.Addr{netip.MustParseAddr("fd00:50::10")}, Created: now}
	var gotReq curfew.RestrictRequest
	var gotDevice *curfew.Device
	var gotFilter curfew.RestrictionFilter
	appeal := &curfew.Appeal{
		ID: 2, From: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac}, Addr: netip.MustParseAddr("192.168.50.10"),
		Restrictions: []curfew.RestrictionID{3, 4}, Message: "why?\n<b>", Created: now.Add(-time.Hour),
		Answer: "exams", Answered: now, AnsweredBy: "alice",
	}
	byAddr := &curfew.Appeal{
		ID: 3, From: curfew.Subject{Kind: curfew.SubjectIP, Prefix: netip.MustParsePrefix("2001:db8:7::5/128")}, Addr: netip.MustParseAddr("2001:db8:7::5"),
		Restrictions: []curfew.RestrictionID{5}, Message: "and me?", Created: now,
	}
	var gotAnswer string
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			gotReq = req
			return full, nil
		},
		LiftFunc: func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
			return full, nil
		},
		ExtendFunc: func(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
			if d != 30*time.Minute || !end.IsZero() || reason != "more" {
				return nil, fmt.Errorf("%w: unexpected Extend(%d, %v, %v, %q)", curfew.ErrInvalid, id, end, d, reason)
			}
			return full, nil
		},
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			return full, nil
		},
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			gotFilter = f
			return []*curfew.Restriction{full}, nil
		},
		AddDeviceFunc: func(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
			gotDevice = d
			return device, nil
		},
		DevicesFunc: func(ctx context.Context) ([]*curfew.Device, error) { return []*curfew.Device{device}, nil },
		AddPersonFunc: func(ctx context.Context, name string) (*curfew.Person, error) {
			return &curfew.Person{Name: name, Created: now}, nil
		},
		PersonsFunc: func(ctx context.Context) ([]*curfew.Person, error) {
			return []*curfew.Person{{Name: "bob", Created: now}}, nil
		},
		ExportAuditFunc: func(ctx context.Context, from int64, w io.Writer) error {
			_, err := fmt.Fprintf(w, "from %d\n", from)
			return err
		},
		AuditKeyFunc: func(ctx context.Context) (ed25519.PublicKey, error) { return auditPub, nil },
		VerifyAuditFunc: func(ctx context.Context) (*curfew.AuditReport, error) {
			return &curfew.AuditReport{Entries: 1, OK: true}, nil
		},
		AppealsFunc: func(ctx context.Context) ([]*curfew.Appeal, error) {
			return []*curfew.Appeal{appeal, byAddr}, nil
		},
		AnswerAppealFunc: func(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
			gotAnswer = fmt.Sprint(id, " ", text)
			return appeal, nil
		},
	}
	c := newClient(t, svc, "op-secret")
	ctx := t.Context()
	opts := cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}

	req := curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeAllowlist, Allow: []string{"wikipedia.org"}, Reason: "exam week", End: now.Add(time.Hour)}
	r, err := c.Restrict(ctx, req)
	if err != nil {
		t.Fatalf("Restrict: %v", err)
	}
	if diff := cmp.Diff(req, gotReq); diff != "" {
		t.Errorf("request seen by the service (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(full, r, opts); diff != "" {
		t.Errorf("Restrict (-want +got):\n%s", diff)
	}
	forced := curfew.RestrictRequest{Subject: "ip:10.0.0.0/8", Reason: "routed lab", For: time.Hour, Force: true}
	if _, err := c.Restrict(ctx, forced); err != nil {
		t.Fatalf("Restrict: %v", err)
	}
	if diff := cmp.Diff(forced, gotReq); diff != "" {
		t.Errorf("forced request seen by the service (-want +got):\n%s", diff)
	}
	if r, err = c.Lift(ctx, 3, "done"); err != nil || r.ID != 3 {
		t.Errorf("Lift = %v, %v", r, err)
	}
	if r, err = c.Extend(ctx, 3, time.Time{}, 30*time.Minute, "more"); err != nil || r.ID != 3 {
		t.Errorf("Extend = %v, %v", r, err)
	}
	if r, err = c.Restriction(ctx, 3); err != nil || r.ID != 3 {
		t.Errorf("Restriction = %v, %v", r, err)
	}
	id := curfew.RestrictionID(3)
	subj := curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac}
	rs, err := c.Restrictions(ctx, curfew.RestrictionFilter{All: true, Subject: &subj, ID: &id})
	if err != nil || len(rs) != 1 {
		t.Errorf("Restrictions = %v, %v", rs, err)
	}
	if diff := cmp.Diff(curfew.RestrictionFilter{All: true, Subject: &subj, ID: &id}, gotFilter, opts); diff != "" {
		t.Errorf("filter seen by the service (-want +got):\n%s", diff)
	}

	d, err := c.AddDevice(ctx, &curfew.Device{MAC: mac, Name: "phone", Owner: "bob", Addrs: device.Addrs})
	if err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	if diff := cmp.Diff(device, d, opts); diff != "" {
		t.Errorf("AddDevice (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&curfew.Device{MAC: mac, Name: "phone", Owner: "bob", Addrs: device.Addrs}, gotDevice, opts); diff != "" {
		t.Errorf("device seen by the service (-want +got):\n%s", diff)
	}
	if ds, err := c.Devices(ctx); err != nil || len(ds) != 1 {
		t.Errorf("Devices = %v, %v", ds, err)
	}
	if p, err := c.AddPerson(ctx, "carol"); err != nil || p.Name != "carol" || !p.Created.Equal(now) {
		t.Errorf("AddPerson = %v, %v", p, err)
	}
	if ps, err := c.Persons(ctx); err != nil || len(ps) != 1 {
		t.Errorf("Persons = %v, %v", ps, err)
	}
	var export strings.Builder
	if err := c.ExportAudit(ctx, 7, &export); err != nil || export.String() != "from 7\n" {
		t.Errorf("ExportAudit(7) = %q, %v; want the server's export", export.String(), err)
	}
	if pub, err := c.AuditKey(ctx); err != nil || !pub.Equal(auditPub) {
		t.Errorf("AuditKey = %v, %v; want %v", pub, err, auditPub)
	}
	if rep, err := c.VerifyAudit(ctx); err != nil || !rep.OK || rep.Entries != 1 {
		t.Errorf("VerifyAudit = %v, %v", rep, err)
	}
	as, err := c.Appeals(ctx)
	if err != nil {
		t.Fatalf("Appeals: %v", err)
	}
	if diff := cmp.Diff([]*curfew.Appeal{appeal, byAddr}, as, opts); diff != "" {
		t.Errorf("Appeals (-want +got):\n%s", diff)
	}
	a, err := c.AnswerAppeal(ctx, 2, "exams")
	if err != nil {
		t.Fatalf("AnswerAppeal: %v", err)
	}
	if diff := cmp.Diff(appeal, a, opts); diff != "" || gotAnswer != "2 exams" {
		t.Errorf("AnswerAppeal (-want +got):\n%s; the service saw %q", diff, gotAnswer)
	}
}

func TestClientErrorKinds(t *testing.T) {
	kinds := []error{curfew.ErrInvalid, curfew.ErrNotFound, curfew.ErrConflict, curfew.ErrForbidden, curfew.ErrUnauthenticated, curfew.ErrRateLimited}
	for _, kind := range kinds {
		t.Run(kind.Error(), func(t *testing.T) {
			svc := &apitest.FakeService{
				RestrictionFunc: func(context.Context, curfew.RestrictionID) (*curfew.Restriction, error) {
					return nil, fmt.Errorf("%w: restriction 9", kind)
				},
			}
			_, err := newClient(t, svc, "op-secret").Restriction(t.Context(), 9)
			if !errors.Is(err, kind) {
				t.Errorf("Restriction error = %v, want one wrapping %v", err, kind)
			}
			if want := kind.Error() + ": restriction 9"; err == nil || err.Error() != want {
				t.Errorf("message = %v, want %q", err, want)
			}
		})
	}

	t.Run("internal", func(t *testing.T) {
		svc := &apitest.FakeService{
			RestrictionFunc: func(context.Context, curfew.RestrictionID) (*curfew.Restriction, error) {
				return nil, errors.New("database is locked")
			},
		}
		_, err := newClient(t, svc, "op-secret").Restriction(t.Context(), 9)
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 500 {
			t.Fatalf("error = %v, want an *api.Error with status 500", err)
		}
		for _, kind := range kinds {
			if errors.Is(err, kind) {
				t.Errorf("internal error wraps %v", kind)
			}
		}
	})

	t.Run("bad token", func(t *testing.T) {
		_, err := newClient(t, &apitest.FakeService{}, "wrong").Devices(t.Context())
		if !errors.Is(err, curfew.ErrUnauthenticated) {
			t.Errorf("error = %v, want ErrUnauthenticated", err)
		}
	})

	t.Run("not a curfew server", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}))
		defer srv.Close()
		c, _ := api.NewClient(srv.URL, "t", nil)
		_, err := c.Devices(t.Context())
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 502 {
			t.Errorf("error = %v, want an *api.Error with status 502", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, _ := api.NewClient(url, "t", nil)
		_, err := c.Devices(t.Context())
		var apiErr *api.Error
		if err == nil || errors.As(err, &apiErr) {
			t.Errorf("error = %v, want a transport error", err)
		}
	})
}

// TestClientTimeZone checks that the CLI learns the gateway's zone from the
// health route, without a token, and that a server configured without
// one says nothing rather than a zone of its own.
func TestClientTimeZone(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	for _, tt := range []struct {
		zone *time.Location
		want string
	}{{london, "Europe/London"}, {time.UTC, "UTC"}, {nil, ""}} {
		h, err := api.NewHandler(&api.HandlerConfig{
			Service: &apitest.FakeService{}, Auth: tokens, Accounts: &apitest.FakeAccounts{},
			Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), TimeZone: tt.zone,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		c, err := api.NewClient(srv.URL, "", srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.TimeZone(context.Background())
		srv.Close()
		if err != nil || got != tt.want {
			t.Errorf("TimeZone() with %v configured = %q, %v, want %q", tt.zone, got, err, tt.want)
		}
	}
}
