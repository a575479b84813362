package access

import (
	"context"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Store is what the Registry needs from persistent storage. *sqlite.DB
// implements it; tests use sqlite.Open with ":memory:".
//
// Every method that changes state takes the audit event that records the
// change and writes both in one transaction: either both are stored or
// neither. The store seals the event into the log (package audit).
// A request key in the context is recorded with the change, as the
// engine's Store does it.
type Store interface {
	// Operators returns every operator by name.
	Operators(ctx context.Context) ([]*curfew.Operator, error)
	// Operator returns one operator or an error wrapping curfew.ErrNotFound.
	Operator(ctx context.Context, name string) (*curfew.Operator, error)
	// CreateOperator stores op with password, the PHC string of its
	// console password's hash (a one-time password), and records ev; a
	// duplicate name is curfew.ErrConflict.
	CreateOperator(ctx context.Context, op *curfew.Operator, password string, ev *audit.Event) error
	// DisableOperator stores op's Disabled, DisabledBy and DisableReason
	// and records ev.
	DisableOperator(ctx context.Context, op *curfew.Operator, ev *audit.Event) error
	// Password returns the PHC string of the hash of name's console
	// password, "" if it has none, or an error wrapping curfew.ErrNotFound.
	Password(ctx context.Context, name string) (string, error)
	// SetPassword stores the hash of name's new console password and
	// whether it is a one-time password, and records ev.
	SetPassword(ctx context.Context, name, password string, oneTime bool, ev *audit.Event) error

	// Tokens returns every token, revoked ones too, by name and age.
	Tokens(ctx context.Context) ([]*curfew.Token, error)
	// TokenByHash returns the token, revoked or not, whose secret hashes to
	// hash (SHA-256), or an error wrapping curfew.ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (*curfew.Token, error)
	// CreateToken stores t with the hash of its secret and records ev,
	// creating operator op first if op is not nil; a live token by the
	// same name is curfew.ErrConflict.
	CreateToken(ctx context.Context, t *curfew.Token, hash []byte, op *curfew.Operator, ev *audit.Event) error
	// RevokeToken stores that the live token named t.Name is revoked
	// (Revoked, RevokedBy) and records ev.
	RevokeToken(ctx context.Context, t *curfew.Token, ev *audit.Event) error

	// AppendEvents records evs, events that change nothing else.
	AppendEvents(ctx context.Context, evs ...*audit.Event) error

	// Request returns the record of the change actor made with the
	// idempotency key key, or an error wrapping curfew.ErrNotFound.
	Request(ctx context.Context, actor, key string) (*curfew.KeyedRequest, error)
}
