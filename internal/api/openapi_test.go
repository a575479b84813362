package api_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
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
		"GET /api/v1/audit/export",
		"GET /api/v1/audit/key",
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

// TestOpenAPISchemas checks that the document's request and response
// schemas name exactly the JSON fields of the wire types, so that a field
// added to one is added to the other.
func TestOpenAPISchemas(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	h := newHandler(t, &apitest.FakeService{}, nil)
	if _, body := call(t, h, "GET", "/api/v1/openapi.json", "", ""); json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatal("document does not parse")
	}
	for name, v := range map[string]any{
		"Restriction":     api.Restriction{},
		"RestrictRequest": api.RestrictRequest{},
		"ExtendRequest":   api.ExtendRequest{},
		"LiftRequest":     api.LiftRequest{},
		"Device":          api.Device{},
		"DeviceRequest":   api.DeviceRequest{},
		"Person":          api.Person{},
		"PersonRequest":   api.PersonRequest{},
		"AuditEntry":      api.AuditEntry{},
		"AuditReport":     api.AuditReport{},
		"AuditKey":        api.AuditKeyResponse{},
		"TokenRequest":    api.TokenRequest{},
		"TokenResponse":   api.TokenResponse{},
		"Error":           api.ErrorResponse{},
	} {
		var want []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if tag != "" && tag != "-" {
				want = append(want, tag)
			}
		}
		slices.Sort(want)
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is not documented", name)
			continue
		}
		got := slices.Sorted(maps.Keys(s.Properties))
		if !slices.Equal(got, want) {
			t.Errorf("schema %s documents %q, want the fields of %T: %q", name, got, v, want)
		}
	}
}
