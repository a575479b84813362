package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// An Authenticator turns a bearer token secret into the operator it belongs
// to. It returns an error wrapping curfew.ErrUnauthenticated (or
// curfew.ErrNotFound) for an unknown secret; any other error is a failure of
// the authenticator itself and answers 500.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (curfew.Actor, error)
}

// HandlerConfig is the configuration for NewHandler.
type HandlerConfig struct {
	// Service does the work. It must not be nil. The handler puts the
	// authenticated operator in each call's context with curfew.WithActor;
	// role checks are the Service's job.
	Service curfew.Service

	// Auth checks bearer tokens. It must not be nil.
	Auth Authenticator

	// Logger receives internal errors and is otherwise quiet. It must not
	// be nil.
	Logger *slog.Logger

	// Now returns the current time, used to compute restriction status.
	// The default is time.Now.
	Now func() time.Time

	// DNS, if not nil, is the resolver's query log, served to viewers at
	// GET /api/v1/dns/queries.
	DNS DNSLog

	// Metrics, if not nil, is served without authentication at GET
	// /metrics, so the daemon can expose its metrics on the API listener
	// without building a mux of its own.
	Metrics http.Handler
}

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// handler serves the API. Its fields are set once by NewHandler.
type handler struct {
	svc    curfew.Service
	auth   Authenticator
	logger *slog.Logger
	now    func() time.Time
	dns    DNSLog // nil if the daemon runs no resolver
}

// NewHandler validates c and returns the API handler. It serves:
//
//	GET  /api/v1/health         unauthenticated
//	GET  /api/v1/openapi.json   unauthenticated
//	GET  /metrics               unauthenticated, if c.Metrics is set
//	everything else under /api/v1/, with "Authorization: Bearer SECRET"
//
// Every answer, errors included, is JSON.
func NewHandler(c *HandlerConfig) (http.Handler, error) {
	switch {
	case c == nil:
		return nil, errors.New("api: nil config")
	case c.Service == nil:
		return nil, errors.New("api: nil service")
	case c.Auth == nil:
		return nil, errors.New("api: nil authenticator")
	case c.Logger == nil:
		return nil, errors.New("api: nil logger")
	}
	h := &handler{svc: c.Service, auth: c.Auth, logger: c.Logger, now: c.Now, dns: c.DNS}
	if h.now == nil {
		h.now = time.Now
	}

	// The routes that need a token, one line each.
	authed := http.NewServeMux()
	authed.HandleFunc("POST /api/v1/restrictions", h.createRestriction)
	authed.HandleFunc("GET /api/v1/restrictions", h.listRestrictions)
	authed.HandleFunc("GET /api/v1/restrictions/{id}", h.getRestriction)
	authed.HandleFunc("POST /api/v1/restrictions/{id}/lift", h.liftRestriction)
	authed.HandleFunc("POST /api/v1/restrictions/{id}/extend", h.extendRestriction)
	authed.HandleFunc("POST /api/v1/devices", h.createDevice)
	authed.HandleFunc("GET /api/v1/devices", h.listDevices)
	authed.HandleFunc("POST /api/v1/persons", h.createPerson)
	authed.HandleFunc("GET /api/v1/persons", h.listPersons)
	authed.HandleFunc("GET /api/v1/audit", h.listAudit)
	authed.HandleFunc("GET /api/v1/audit/verify", h.verifyAudit)
	authed.HandleFunc("GET /api/v1/audit/export", h.exportAudit)
	authed.HandleFunc("GET /api/v1/audit/key", h.auditKey)
	authed.HandleFunc("POST /api/v1/tokens", h.createToken)
	authed.HandleFunc("GET /api/v1/dns/queries", h.listDNSQueries)
	authed.HandleFunc("/", h.noRoute)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", h.health)
	mux.HandleFunc("GET /api/v1/openapi.json", serveOpenAPI)
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics)
	}
	mux.Handle("/", h.authenticate(authed))
	return mux, nil
}

// authenticate runs next with the operator named by the request's bearer
// token in the context, or answers 401.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="curfew"`)
			h.error(w, r, fmt.Errorf("%w: missing bearer token (Authorization: Bearer SECRET)", curfew.ErrUnauthenticated))
			return
		}
		actor, err := h.auth.Authenticate(r.Context(), secret)
		if err != nil {
			if errors.Is(err, curfew.ErrUnauthenticated) || errors.Is(err, curfew.ErrNotFound) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="curfew", error="invalid_token"`)
				h.error(w, r, fmt.Errorf("%w: invalid token", curfew.ErrUnauthenticated))
				return
			}
			h.error(w, r, fmt.Errorf("authenticating: %w", err))
			return
		}
		next.ServeHTTP(w, r.WithContext(curfew.WithActor(r.Context(), actor)))
	})
}

// bearer extracts the secret of an "Authorization: Bearer SECRET" header.
func bearer(header string) (string, bool) {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) noRoute(w http.ResponseWriter, r *http.Request) {
	h.error(w, r, fmt.Errorf("%w: no route for %s %s", curfew.ErrNotFound, r.Method, r.URL.Path))
}

// error answers err with the status its kind maps to. An internal error is
// logged with its detail and answered with a generic message.
func (h *handler) error(w http.ResponseWriter, r *http.Request, err error) {
	status, code, ok := classify(err)
	msg := err.Error()
	if !ok {
		h.logger.ErrorContext(r.Context(), "internal error",
			"method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the curfew daemon's log"
	}
	h.write(w, r, status, ErrorResponse{Code: code, Message: msg})
}

// write answers v as JSON with status.
func (h *handler) write(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		h.logger.ErrorContext(r.Context(), "encoding response", "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"code":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode reads the request body, which must be exactly one JSON value of
// at most maxBodyBytes with no unknown fields, into v.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSON(http.MaxBytesReader(w, r.Body, maxBodyBytes), v)
}

// decodeJSON is decode without the ResponseWriter, for tests and fuzzing.
// Its errors wrap curfew.ErrInvalid and say what is wrong and where.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %s", curfew.ErrInvalid, describeJSONError(err))
	}
	// Exactly one value: anything but trailing white space is an error.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err == nil:
		return fmt.Errorf("%w: request body: more than one JSON value", curfew.ErrInvalid)
	default:
		return fmt.Errorf("%w: request body: after the first JSON value: %s", curfew.ErrInvalid, describeJSONError(err))
	}
}

// describeJSONError turns a decoding error into a message that names the
// field or the position at fault.
func describeJSONError(err error) string {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		timeErr *time.ParseError
	)
	switch {
	case errors.Is(err, io.EOF):
		return "empty; want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &tooBig):
		return fmt.Sprintf("larger than %d KiB", tooBig.Limit>>10)
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("got a JSON %s, want %s", typ.Value, jsonTypeName(typ.Type.String()))
		}
		return fmt.Sprintf("field %q: got a JSON %s, want %s", typ.Field, typ.Value, jsonTypeName(typ.Type.String()))
	case errors.As(err, &timeErr):
		return fmt.Sprintf("%q is not an RFC 3339 time", timeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonTypeName names a Go type the way a JSON client thinks of it.
func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "a boolean"
	}
	return "an object"
}
