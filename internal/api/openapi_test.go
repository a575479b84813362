package api_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
)

// TestOpenAPIRoutes holds the OpenAPI document to the route table the mux
// is built from, both ways: every route is documented with its request
// body, its success status and its response schema, every documented
// route is served, and nothing else is.
func TestOpenAPIRoutes(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	status, body := call(t, h, "GET", "/api/v1/openapi.json", "", "")
	if status != http.StatusOK {
		t.Fatalf("status = %d", status)
	}
	type mediaSchema struct {
		Schema struct {
			Ref   string `json:"$ref"`
			Items struct {
				Ref string `json:"$ref"`
			} `json:"items"`
		} `json:"schema"`
	}
	type operation struct {
		RequestBody *struct {
			Content map[string]mediaSchema `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Ref     string                 `json:"$ref"`
			Content map[string]mediaSchema `json:"content"`
		} `json:"responses"`
		Security   *[]any `json:"security"`
		Parameters []struct {
			Ref string `json:"$ref"`
		} `json:"parameters"`
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("document does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]operation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	// schemaName is the component a wire type is documented as: its type
	// name, or that of its elements for a list; "" for an inline schema.
	schemaName := func(v any) (name string, list bool) {
		typ := reflect.TypeOf(v)
		if typ == nil {
			return "", false
		}
		if typ.Kind() == reflect.Slice {
			typ, list = typ.Elem(), true
		}
		if typ.Kind() != reflect.Struct {
			return "", list
		}
		return typ.Name(), list
	}
	const ref = "#/components/schemas/"
	served := map[string]bool{}
	for _, rt := range api.Routes() {
		key := rt.Method + " " + rt.Path
		served[key] = true
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s is served but not documented", key)
			continue
		}
		if public := op.Security != nil && len(*op.Security) == 0; public != (rt.Op == "") {
			t.Errorf("%s: documented as needing no token = %v, but its operation is %q", key, public, rt.Op)
		}
		switch name, _ := schemaName(rt.Request); {
		case rt.Request == nil && op.RequestBody != nil:
			t.Errorf("%s documents a request body, but the route reads none", key)
		case rt.Request != nil && op.RequestBody == nil:
			t.Errorf("%s reads a %T but documents no request body", key, rt.Request)
		case name != "":
			if got := op.RequestBody.Content["application/json"].Schema.Ref; got != ref+name {
				t.Errorf("%s: documented request body %q, want %s%s", key, got, ref, name)
			}
		}
		resp, ok := op.Responses[strconv.Itoa(rt.Status)]
		if !ok {
			t.Errorf("%s: no documented %d answer", key, rt.Status)
			continue
		}
		if name, list := schemaName(rt.Response); name != "" {
			s := resp.Content["application/json"].Schema
			got := s.Ref
			if list {
				got = s.Items.Ref
			}
			if got != ref+name {
				t.Errorf("%s: documented %d answer %q (list %v), want %s%s", key, rt.Status, got, list, ref, name)
			}
		}
		if rt.Op != "" {
			if _, ok := op.Responses["401"]; !ok {
				t.Errorf("%s needs a token but documents no 401 answer", key)
			}
			if _, ok := op.Responses["403"]; !ok && rt.Op.LeastRole() != curfew.RoleViewer {
				t.Errorf("%s needs the %s role but documents no 403 answer", key, rt.Op.LeastRole())
			}
		}
		// Every change takes an Idempotency-Key, and answers 422 for a
		// key used for another request.
		if rt.Op != "" && rt.Method == http.MethodPost {
			if !slices.ContainsFunc(op.Parameters, func(p struct {
				Ref string `json:"$ref"`
			}) bool {
				return p.Ref == "#/components/parameters/IdempotencyKey"
			}) {
				t.Errorf("%s changes state but documents no Idempotency-Key header", key)
			}
			if _, ok := op.Responses["422"]; !ok {
				t.Errorf("%s changes state but documents no 422 answer for a reused Idempotency-Key", key)
			}
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is documented but not in the route table", key)
		}
	}

	// And the mux serves exactly the table: every route reaches its
	// handler (the fake service panics when it is reached), and a path
	// that is not in the table answers the catch-all 404.
	for _, rt := range api.Routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "olga").Replace(rt.Path)
		status, body, reached := probe(h, rt.Method, path, "admin-secret")
		if !reached && status == http.StatusNotFound && strings.Contains(body, "no route") {
			t.Errorf("%s %s is in the route table but the mux answers %d %s", rt.Method, path, status, body)
		}
	}
	for _, bad := range []string{"GET /api/v1/restriction", "DELETE /api/v1/restrictions/1", "GET /api/v1/tokens/x"} {
		method, path, _ := strings.Cut(bad, " ")
		if status, body, _ := probe(h, method, path, "admin-secret"); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s, which is not in the route table, = %d %s; want 404 or 405", bad, status, body)
		}
	}
}

// probe calls h and reports whether the request reached the service (an
// apitest.FakeService with no funcs set panics when a method is called).
func probe(h http.Handler, method, path, token string) (status int, body string, reached bool) {
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	defer func() {
		if recover() != nil {
			reached = true
		}
	}()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), false
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
		"Restriction":      api.Restriction{},
		"RestrictRequest":  api.RestrictRequest{},
		"ExtendRequest":    api.ExtendRequest{},
		"LiftRequest":      api.LiftRequest{},
		"Approval":         api.Approval{},
		"ApproveRequest":   api.ApproveRequest{},
		"RejectRequest":    api.RejectRequest{},
		"Device":           api.Device{},
		"DeviceRequest":    api.DeviceRequest{},
		"Person":           api.Person{},
		"PersonRequest":    api.PersonRequest{},
		"AuditEntry":       api.AuditEntry{},
		"AuditReport":      api.AuditReport{},
		"AuditKeyResponse": api.AuditKeyResponse{},
		"Report":           api.Report{},
		"Checkpoint":       api.Checkpoint{},
		"ReportCounts":     api.ReportCounts{},
		"ReportDurations":  api.ReportDurations{},
		"ReportEntry":      api.ReportEntry{},
		"TokenRequest":     api.TokenRequest{},
		"TokenResponse":    api.TokenResponse{},
		"Appeal":           api.Appeal{},
		"AnswerRequest":    api.AnswerRequest{},
		"Error":            api.ErrorResponse{},
		"DNSLogResponse":   api.DNSLogResponse{},
		"DNSQuery":         api.DNSQuery{},
		"DNSClient":        api.DNSClient{},
		"Token":            api.Token{},
		"Operator":         api.Operator{},
		"OperatorRequest":  api.OperatorRequest{},
		"OperatorCreated":  api.OperatorCreated{},
		"DisableRequest":   api.DisableRequest{},
		"PasswordResponse": api.PasswordResponse{},
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

// TestRolesByRoute checks every route of the table with every role: a
// role the route's operation allows reaches the service, any other gets
// 403 before anything is read, and no token or an unknown one gets 401.
func TestRolesByRoute(t *testing.T) {
	h := newHandler(t, &apitest.FakeService{}, nil)
	secrets := map[curfew.Role]string{curfew.RoleViewer: "viewer-secret", curfew.RoleOperator: "op-secret", curfew.RoleAdmin: "admin-secret"}
	for _, rt := range api.Routes() {
		if rt.Op == "" {
			continue
		}
		path := strings.NewReplacer("{id}", "1", "{name}", "olga").Replace(rt.Path)
		for _, role := range []curfew.Role{curfew.RoleViewer, curfew.RoleOperator, curfew.RoleAdmin} {
			status, body, reached := probe(h, rt.Method, path, secrets[role])
			allowed := role.Allows(rt.Op.LeastRole())
			switch {
			case allowed && !reached && status == http.StatusForbidden:
				t.Errorf("%s %s as %s = 403 %s; its operation %s needs only %s", rt.Method, path, role, body, rt.Op, rt.Op.LeastRole())
			case !allowed && (reached || status != http.StatusForbidden):
				t.Errorf("%s %s as %s = %d (reached the service: %v), want 403: %s needs %s", rt.Method, path, role, status, reached, rt.Op, rt.Op.LeastRole())
			}
		}
		for _, token := range []string{"", "no-such-secret"} {
			if status, _, reached := probe(h, rt.Method, path, token); status != http.StatusUnauthorized || reached {
				t.Errorf("%s %s with token %q = %d (reached the service: %v), want 401", rt.Method, path, token, status, reached)
			}
		}
	}
}
