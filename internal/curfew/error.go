package curfew

import "errors"

// Sentinel error kinds. Attach one with fmt.Errorf("%w: …", ErrInvalid) and
// test with errors.Is; the API maps each kind to one HTTP status.
var (
	// ErrInvalid means the request is malformed or violates a domain rule.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound means a named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request clashes with the current state
	// (a duplicate name, lifting a restriction that is already over).
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated means no valid credential was presented.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the actor's role does not allow the action.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited means the caller asked too often (failed to
	// authenticate, or sent too many appeals) and must wait; the error may
	// be a *LimitError saying how long.
	ErrRateLimited = errors.New("rate limited")
	// ErrKeyReused means a request came with an idempotency key its
	// operator already used for another request (see RequestKey).
	ErrKeyReused = errors.New("idempotency key reused")
)
