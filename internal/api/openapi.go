package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of this API, written by hand;
// TestOpenAPIRoutes checks that it names exactly the routes NewHandler serves.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI serves GET /api/v1/openapi.json.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(openAPI)
}
