// Package enforce defines how curfew's enforcers are driven: the Backend
// interface, Multi to fan one Snapshot out to several backends, and Memory,
// an in-memory backend that renders what it enforces as text for tests.
package enforce

import (
	"context"

	"github.com/curfew/curfew/internal/curfew"
)

// A Backend makes one enforcement mechanism match a Snapshot.
type Backend interface {
	// Apply makes the backend enforce exactly s. It may be called again
	// with an identical Snapshot and must then change nothing. Applying
	// the zero Snapshot removes every restriction the backend installed.
	Apply(ctx context.Context, s *curfew.Snapshot) error

	// Close removes what the backend installed and releases its resources.
	Close() error
}

// A Verifier is a Backend whose installed state can drift from what it was
// told to enforce (someone flushes the firewall table).
type Verifier interface {
	// Verify compares the installed state with the last applied Snapshot,
	// repairs any difference, and returns how many objects it repaired.
	// It may be called concurrently with Apply, and should not make Apply
	// wait while it reads the installed state: the caller does not hold
	// its own lock around it. A comparison that an Apply overlapped is
	// stale and must be discarded or done again, never used to repair.
	Verify(ctx context.Context) (repaired int, err error)
}

// A Watcher is a Verifier that learns, as it happens, that someone else may
// have changed its installed state (another firewall manager deleted its
// table, say), so that a repair need not wait for the next periodic check.
type Watcher interface {
	Verifier
	// Watch calls changed soon after each change by someone else to the
	// installed state, until ctx is done, and then returns ctx's error.
	// changed must not block; several changes may be reported by one
	// call. An error other than ctx's means the Watcher cannot watch
	// (any more): the caller still has its periodic check.
	Watch(ctx context.Context, changed func()) error
}
