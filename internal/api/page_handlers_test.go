package api_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

// TestFindDevices holds GET /api/v1/devices/search to its query: what it
// passes to the service, the page it answers, and a 400 naming the
// parameter for bad input.
func TestFindDevices(t *testing.T) {
	var got curfew.DeviceQuery
	svc := &apitest.FakeService{FindDevicesFunc: func(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error) {
		got = q
		if err := q.Validate(); err != nil {
			return nil, err
		}
		return &curfew.DevicePage{Devices: []*curfew.Device{{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 7}, Name: "tv"}}, Total: 41}, nil
	}}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "GET", "/api/v1/devices/search?q=TV&owner=alice&offset=40&limit=1", "op-secret", "")
	if status != http.StatusOK || !strings.Contains(body, `"total": 41`) || !strings.Contains(body, `"mac": "02:00:00:00:00:07"`) {
		t.Errorf("GET /api/v1/devices/search = %d %s", status, body)
	}
	if want := (curfew.DeviceQuery{Search: "TV", Owner: "alice", Offset: 40, Limit: 1}); got != want {
		t.Errorf("the service was asked %+v, want %+v", got, want)
	}
	if status, _ := call(t, h, "GET", "/api/v1/devices/search", "op-secret", ""); status != http.StatusOK || got.Limit != 100 {
		t.Errorf("GET /api/v1/devices/search without a limit = %d, limit %d; want 200 with 100", status, got.Limit)
	}
	for _, tt := range []struct{ query, want string }{
		{"limit=many", `query parameter limit: \"many\" is not a whole number`},
		{"offset=1.5", `query parameter offset: \"1.5\" is not a whole number`},
		{"limit=5000", "limit 5000: want 1 to 1000"},
		{"offset=-1", "offset -1 is negative"},
		{"sort=name", `unknown query parameter \"sort\"`},
		{"owner=no%20one", "owner: "},
	} {
		status, body := call(t, h, "GET", "/api/v1/devices/search?"+tt.query, "op-secret", "")
		if status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("GET /api/v1/devices/search?%s = %d %s, want 400 saying %s", tt.query, status, body, tt.want)
		}
	}
}

// TestFindPersons does the same for GET /api/v1/persons/search.
func TestFindPersons(t *testing.T) {
	var got curfew.PersonQuery
	svc := &apitest.FakeService{FindPersonsFunc: func(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error) {
		got = q
		if err := q.Validate(); err != nil {
			return nil, err
		}
		return &curfew.PersonPage{Persons: []*curfew.Person{{Name: "alice"}}, Total: 3}, nil
	}}
	h := newHandler(t, svc, nil)
	status, body := call(t, h, "GET", "/api/v1/persons/search?q=ali&limit=2", "op-secret", "")
	if status != http.StatusOK || !strings.Contains(body, `"total": 3`) || !strings.Contains(body, `"name": "alice"`) {
		t.Errorf("GET /api/v1/persons/search = %d %s", status, body)
	}
	if want := (curfew.PersonQuery{Search: "ali", Limit: 2}); got != want {
		t.Errorf("the service was asked %+v, want %+v", got, want)
	}
	if status, body := call(t, h, "GET", "/api/v1/persons/search?owner=alice", "op-secret", ""); status != http.StatusBadRequest || !strings.Contains(body, `unknown query parameter \"owner\"`) {
		t.Errorf("GET /api/v1/persons/search?owner=alice = %d %s, want 400", status, body)
	}
}
