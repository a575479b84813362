package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// An Authenticator turns a bearer token secret, presented from the
// address src, into the operator it belongs to. It returns an error
// wrapping curfew.ErrUnauthenticated (or curfew.ErrNotFound) for an unknown
// secret, answered 401, and one wrapping curfew.ErrRateLimited for a
// source that failed too often, answered 429 (with Retry-After if it is a
// *curfew.LimitError); any other error is a failure of the authenticator
// itself and answers 500.
type Authenticator interface {
	Authenticate(ctx context.Context, src netip.Addr, secret string) (curfew.Actor, error)
}

// HandlerConfig is the configuration for NewHandler.
type HandlerConfig struct {
	// Service does the work. It must not be nil. The handler puts the
	// authenticated operator in each call's context with curfew.WithActor
	// and, before it reads the request, checks that the operator's role
	// allows the route's operation (curfew.Permit); the Service checks
	// again.
	Service curfew.Service

	// Auth checks bearer tokens. It must not be nil.
	Auth Authenticator

	// Accounts manages operators and tokens, under the same role checks
	// as Service. It must not be nil.
	Accounts curfew.Accounts

	// Logger receives internal errors and is otherwise quiet. It must not
	// be nil.
	Logger *slog.Logger

	// Now returns the current time, used to compute restriction status.
	// The default is time.Now.
	Now func() time.Time

	// DNS, if not nil, is the resolver's query log, served to viewers at
	// GET /api/v1/dns/queries.
	DNS DNSLog

	// Quarantine says whether the LAN quarantines unknown devices
	// (lan.unknown_devices); GET /api/v1/health reports it, so that the
	// CLI can warn when a restriction by MAC can be walked around.
	Quarantine bool

	// TimeZone is the gateway's zone (the config's timezone); GET
	// /api/v1/health reports its name, so that the CLI reads a local day
	// or a clock time such as --until 18:00 as the gateway does. Nil
	// reports none.
	TimeZone *time.Location

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
	acc    curfew.Accounts
	logger *slog.Logger
	now    func() time.Time
	dns    DNSLog // nil if the daemon runs no resolver
	// unknown is lan.unknown_devices: "allow" or "quarantine".
	unknown string
	// zone is the gateway's zone name; "" if not configured.
	zone string
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
	case c.Accounts == nil:
		return nil, errors.New("api: nil accounts")
	case c.Logger == nil:
		return nil, errors.New("api: nil logger")
	}
	h := &handler{svc: c.Service, auth: c.Auth, acc: c.Accounts, logger: c.Logger, now: c.Now, dns: c.DNS, unknown: "allow"}
	if c.Quarantine {
		h.unknown = "quarantine"
	}
	if c.TimeZone != nil {
		h.zone = c.TimeZone.String()
	}
	if h.now == nil {
		h.now = time.Now
	}

	authed := http.NewServeMux()
	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		pattern := rt.Method + " " + rt.Path
		switch {
		case rt.Op == "":
			mux.HandleFunc(pattern, rt.serve)
		case rt.Method == http.MethodPost:
			authed.Handle(pattern, h.permit(rt.Op, h.idempotent(rt.serve)))
		default:
			authed.Handle(pattern, h.permit(rt.Op, rt.serve))
		}
	}
	authed.HandleFunc("/", h.noRoute)
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics)
	}
	mux.Handle("/", h.authenticate(authed))
	return mux, nil
}

// authenticate runs next with the operator named by the request's bearer
// token in the context, or answers 401 (429 for a source that failed too
// often).
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="curfew"`)
			h.error(w, r, fmt.Errorf("%w: missing bearer token (Authorization: Bearer SECRET)", curfew.ErrUnauthenticated))
			return
		}
		actor, err := h.auth.Authenticate(r.Context(), remoteAddr(r), secret)
		if err != nil {
			if errors.Is(err, curfew.ErrRateLimited) {
				h.error(w, r, err)
				return
			}
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

// permit runs next only if the operator in the request's context may do
// op, and otherwise answers 401 or 403 before anything of the request is
// read: a caller without the role learns that it may not make the call,
// not what would be wrong with it. The Service checks the role again.
func (h *handler) permit(op curfew.Op, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := curfew.Permit(r.Context(), op); err != nil {
			h.error(w, r, err)
			return
		}
		next(w, r)
	})
}

// idempotent runs next, the handler of a state-changing route, with the
// request's Idempotency-Key, if it has one, in the context
// (curfew.WithRequestKey), together with a fingerprint of its method,
// path and body. The Service then makes the change once however often
// the request is retried with that key, answering each retry with what
// the change made, and refuses the key with another request (422). A
// malformed key is answered 400 and changes nothing.
func (h *handler) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		keys := r.Header.Values("Idempotency-Key")
		switch {
		case len(keys) == 0:
			next(w, r)
			return
		case len(keys) > 1:
			h.error(w, r, fmt.Errorf("%w: Idempotency-Key header: given %d times, want once", curfew.ErrInvalid, len(keys)))
			return
		case keys[0] == "":
			h.error(w, r, fmt.Errorf("%w: Idempotency-Key header: empty; leave it out or send a key", curfew.ErrInvalid))
			return
		}
		if err := curfew.CheckRequestKey(keys[0]); err != nil {
			h.error(w, r, fmt.Errorf("Idempotency-Key header: %w", err))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			h.error(w, r, fmt.Errorf("%w: request body: %s", curfew.ErrInvalid, describeJSONError(err)))
			return
		}
		sum := sha256.New()
		fmt.Fprintf(sum, "%s %s?%s\n", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
		sum.Write(body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		k := curfew.RequestKey{Key: keys[0], Fingerprint: hex.EncodeToString(sum.Sum(nil))}
		next(w, r.WithContext(curfew.WithRequestKey(r.Context(), k)))
	}
}

// remoteAddr returns the address the request came from: the peer of the
// connection, never a header a client could set. It is the zero Addr if
// the server does not know it.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
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
	out := map[string]string{"status": "ok", "unknown_devices": h.unknown}
	if h.zone != "" {
		out["timezone"] = h.zone
	}
	h.write(w, r, http.StatusOK, out)
}

func (h *handler) noRoute(w http.ResponseWriter, r *http.Request) {
	h.error(w, r, fmt.Errorf("%w: no route for %s %s", curfew.ErrNotFound, r.Method, r.URL.Path))
}

// error answers err with the status its kind maps to. An internal error is
// logged with its detail and answered with a generic message.
func (h *handler) error(w http.ResponseWriter, r *http.Request, err error) {
	status, code, ok := classify(err)
	msg := err.Error()
	if le := (*curfew.LimitError)(nil); errors.As(err, &le) {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(le.Wait.Seconds())), 10))
	}
	if !ok {
		h.logger.ErrorContext(r.Context(), "internal error",
			"method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the curfew daemon's log"
	}
	w.Header().Set("Content-Type", problemType)
	h.write(w, r, status, ErrorResponse{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: msg, Code: code})
}

// problemType is the media type of error answers (RFC 9457).
const problemType = "application/problem+json"

// write answers v as JSON with status.
func (h *handler) write(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		h.logger.ErrorContext(r.Context(), "encoding response", "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error","code":"internal"}`)
		w.Header().Set("Content-Type", problemType)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
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
