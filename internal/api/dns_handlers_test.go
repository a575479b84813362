package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

type fakeDNSLog struct{}

func (fakeDNSLog) Queries() []curfew.DNSQuery {
	return []curfew.DNSQuery{{At: now, Client: netip.MustParseAddr("fd00:50::11"), Name: "news.example.org.", Type: "AAAA",
		Result: "restricted", Rcode: "NOERROR", Duration: 1500 * time.Microsecond}}
}

func (fakeDNSLog) Clients() []curfew.DNSClient {
	return []curfew.DNSClient{{Client: netip.MustParseAddr("10.50.0.11"), Queries: 7, Refused: 2, Last: now}}
}

func TestDNSQueries(t *testing.T) {
	h, err := api.NewHandler(&api.HandlerConfig{Service: &apitest.FakeService{}, Auth: tokens, Accounts: &apitest.FakeAccounts{},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), DNS: fakeDNSLog{}})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, h, "GET", "/api/v1/dns/queries", "", ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: status %d, want 401", code)
	}
	code, body := call(t, h, "GET", "/api/v1/dns/queries", "viewer-secret", "")
	if code != http.StatusOK {
		t.Fatalf("as a viewer: status %d, body %s", code, body)
	}
	var got api.DNSLogResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := api.DNSLogResponse{
		Queries: []api.DNSQuery{{At: now, Client: "fd00:50::11", Name: "news.example.org.", Type: "AAAA", Result: "restricted", Rcode: "NOERROR", DurationMS: 1.5}},
		Clients: []api.DNSClient{{Client: "10.50.0.11", Queries: 7, Refused: 2, Last: now}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dns queries (-want +got):\n%s", diff)
	}

	// A daemon without a resolver answers 404, not an empty log.
	code, body = call(t, newHandler(t, &apitest.FakeService{}, nil), "GET", "/api/v1/dns/queries", "viewer-secret", "")
	if code != http.StatusNotFound {
		t.Errorf("without a resolver: status %d, body %s; want 404", code, body)
	}
}
