package curfew

import (
	"context"
	"fmt"
	"time"
)

// Operator is a person who administers curfew. Every change records the
// operator who made it. An operator uses the API with a token and signs in
// to the console with a password; a disabled one can do neither, and
// nothing re-enables it: its name stays taken, so the audit log keeps
// meaning one person by it.
type Operator struct {
	Name          string
	Role          Role
	Created       time.Time
	CreatedBy     string        // the operator who added it, or SystemActor
	Disabled      time.Time     // zero while the operator is enabled
	DisabledBy    string        // who disabled it
	DisableReason string        // why, for the audit log
	Password      PasswordState // whether it has a console password; never the password
}

// Enabled reports whether o may act at all.
func (o *Operator) Enabled() bool { return o.Disabled.IsZero() }

// Actor returns the actor o acts as.
func (o *Operator) Actor() Actor { return Actor{Name: o.Name, Role: o.Role} }

// A PasswordState says whether an operator has a console password.
type PasswordState string

// The password states.
const (
	PasswordNone    PasswordState = "none"     // no console login (an operator made by `token create`)
	PasswordOneTime PasswordState = "one-time" // set by an admin; to be changed at the first login
	PasswordSet     PasswordState = "set"      // chosen by the operator
)

// Token is an API credential of an operator. Only a hash of its secret is
// stored. An operator has at most one live token, named after it.
type Token struct {
	Name      string // the operator it acts as; unique among live tokens
	Role      Role   // at most the operator's role
	Created   time.Time
	CreatedBy string
	Revoked   time.Time // zero while live
	RevokedBy string
	// OperatorDisabled is set when the token's operator is disabled, which
	// stops the token as surely as revoking it.
	OperatorDisabled bool
}

// A TokenStatus says whether a token works.
type TokenStatus string

// The token statuses.
const (
	TokenActive   TokenStatus = "active"
	TokenRevoked  TokenStatus = "revoked"
	TokenDisabled TokenStatus = "disabled" // its operator is disabled
)

// Status returns whether t works.
func (t *Token) Status() TokenStatus {
	switch {
	case !t.Revoked.IsZero():
		return TokenRevoked
	case t.OperatorDisabled:
		return TokenDisabled
	}
	return TokenActive
}

// Status returns "active" or "disabled".
func (o *Operator) Status() string {
	if o.Enabled() {
		return "active"
	}
	return "disabled"
}

// A LimitError refuses an attempt to authenticate from a source that
// failed too often; Wait is how long until it may try again. It wraps
// ErrRateLimited.
type LimitError struct {
	Source string // the address or prefix the limit applies to
	Wait   time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: too many failed attempts to authenticate from %s; try again in %v",
		ErrRateLimited, e.Source, e.Wait.Round(time.Second))
}

// Unwrap returns ErrRateLimited.
func (e *LimitError) Unwrap() error { return ErrRateLimited }

// Accounts is what admins do with operators and their credentials. The
// gateway's access.Registry implements it; api.Client implements it over
// HTTP. Every method takes the acting operator from the context (WithActor)
// and fails with ErrUnauthenticated or ErrForbidden if its role is not
// enough; reading needs OpRead, changing the Op of its name.
type Accounts interface {
	// AddOperator adds an operator with a one-time console password,
	// which it returns; only its hash is stored.
	AddOperator(ctx context.Context, name string, role Role) (op *Operator, password string, err error)
	// Operators returns every operator, disabled ones too, by name.
	Operators(ctx context.Context) ([]*Operator, error)
	// DisableOperator disables an operator at once: its token and its
	// console sessions stop working with the next request. The last
	// enabled admin who can sign in cannot be disabled (ErrForbidden).
	DisableOperator(ctx context.Context, name, reason string) (*Operator, error)
	// ResetPassword gives an operator a new one-time console password,
	// which it returns.
	ResetPassword(ctx context.Context, name string) (password string, err error)

	// CreateToken creates the API token of operator name, creating the
	// operator with role if it does not exist, and returns its secret,
	// which is shown once and stored only as a hash.
	CreateToken(ctx context.Context, name string, role Role) (secret string, err error)
	// Tokens returns every token, revoked ones too, by name and age. No
	// secret is ever returned.
	Tokens(ctx context.Context) ([]*Token, error)
	// RevokeToken revokes the live token named name at once: the next
	// request with it is refused.
	RevokeToken(ctx context.Context, name string) (*Token, error)
}
