package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api/apitest"
)

// TestOpenAPIRoutes checks that the OpenAPI document lists exactly the
// routes the handler serves, and that it parses.
func TestOpenAPIRoutes(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	status, body := call(t, h, "GET", "/api/v1/openapi.json", "", "")
	if status != http.StatusOK {
		t.Fatalf("status = %d", status)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("document does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	var got []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			got = append(got, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(got)
	want := []string{
		"GET /api/v1/audit",
		"GET /api/v1/audit/verify",
		"GET /api/v1/devices",
		"GET /api/v1/dns/queries",
		"GET /api/v1/health",
		"GET /api/v1/openapi.json",
		"GET /api/v1/persons",
		"GET /api/v1/restrictions",
		"GET /api/v1/restrictions/{id}",
		"POST /api/v1/devices",
		"POST /api/v1/persons",
		"POST /api/v1/restrictions",
		"POST /api/v1/restrictions/{id}/extend",
		"POST /api/v1/restrictions/{id}/lift",
		"POST /api/v1/tokens",
	}
	if !slices.Equal(got, want) {
		t.Errorf("documented routes = %q, want %q", got, want)
	}
	// Every documented route exists: none answers the catch-all 404.
	for _, route := range want {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{id}", "1")
		status, body := call(t, h, method, path, "wrong", "")
		if status == http.StatusNotFound {
			t.Errorf("%s %s = 404 %s", method, path, body)
		}
	}
}
