package api

import (
	"errors"
	"net/http"

	"github.com/curfew/curfew/internal/curfew"
)

// errorKinds maps each curfew error kind to its HTTP status and wire code.
// It is the one place where kinds meet statuses; anything not listed is an
// internal error (500), logged and not sent.
var errorKinds = []struct {
	err    error
	status int
	code   string
}{
	{curfew.ErrInvalid, http.StatusBadRequest, "invalid"},
	{curfew.ErrNotFound, http.StatusNotFound, "not_found"},
	{curfew.ErrConflict, http.StatusConflict, "conflict"},
	{curfew.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{curfew.ErrForbidden, http.StatusForbidden, "forbidden"},
	{curfew.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{curfew.ErrKeyReused, http.StatusUnprocessableEntity, "key_reused"},
}

const codeInternal = "internal"

// classify returns the status and code of err; ok is false for an internal
// error.
func classify(err error) (status int, code string, ok bool) {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.status, k.code, true
		}
	}
	return http.StatusInternalServerError, codeInternal, false
}

// Error is an error answer from a curfew server, as the Client returns it.
// It unwraps to the curfew error kind its code names (curfew.ErrNotFound
// and so on), so callers test it with errors.Is.
type Error struct {
	Status  int    // HTTP status
	Code    string // the wire code, see ErrorResponse
	Message string // the server's message
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the curfew error kind of e, or nil for an internal or
// unknown one.
func (e *Error) Unwrap() error {
	for _, k := range errorKinds {
		if k.code == e.Code {
			return k.err
		}
	}
	// An older or newer server may send a code we do not know; fall back
	// on the status.
	if e.Code != codeInternal {
		for _, k := range errorKinds {
			if k.status == e.Status {
				return k.err
			}
		}
	}
	return nil
}
