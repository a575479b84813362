package api

import (
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Operator is the wire form of a curfew.Operator. It never carries a
// password or its hash: PasswordState says only whether there is one.
type Operator struct {
	Name          string     `json:"name"`
	Role          string     `json:"role"`
	Status        string     `json:"status"`         // "active" or "disabled"
	PasswordState string     `json:"password_state"` // "none", "one-time" or "set"
	CreatedAt     time.Time  `json:"created_at"`
	CreatedBy     string     `json:"created_by"`
	DisabledAt    *time.Time `json:"disabled_at"`
	DisabledBy    string     `json:"disabled_by"`
	DisableReason string     `json:"disable_reason"`
}

// OperatorRequest is the body of POST /api/v1/operators.
type OperatorRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// OperatorCreated is the answer to POST /api/v1/operators. Password is
// the one-time console password, shown once.
type OperatorCreated struct {
	Operator Operator `json:"operator"`
	Password string   `json:"password"`
}

// DisableRequest is the body of POST /api/v1/operators/{name}/disable.
type DisableRequest struct {
	Reason string `json:"reason"`
}

// PasswordResponse is the answer to POST /api/v1/operators/{name}/password:
// a new one-time console password, shown once.
type PasswordResponse struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Token is the wire form of a curfew.Token. It never carries the secret
// or its hash.
type Token struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Status    string     `json:"status"` // "active", "revoked" or "disabled" (its operator is)
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at"`
	RevokedBy string     `json:"revoked_by"`
}

// OperatorToAPI returns the wire form of op.
func OperatorToAPI(op *curfew.Operator) Operator {
	return Operator{
		Name:          op.Name,
		Role:          string(op.Role),
		Status:        op.Status(),
		PasswordState: string(op.Password),
		CreatedAt:     op.Created.UTC(),
		CreatedBy:     op.CreatedBy,
		DisabledAt:    optTime(op.Disabled),
		DisabledBy:    op.DisabledBy,
		DisableReason: op.DisableReason,
	}
}

// OperatorFromAPI returns the domain form of w.
func OperatorFromAPI(w *Operator) *curfew.Operator {
	op := &curfew.Operator{
		Name:          w.Name,
		Role:          curfew.Role(w.Role),
		Created:       w.CreatedAt.UTC(),
		CreatedBy:     w.CreatedBy,
		DisabledBy:    w.DisabledBy,
		DisableReason: w.DisableReason,
		Password:      curfew.PasswordState(w.PasswordState),
	}
	if w.DisabledAt != nil {
		op.Disabled = w.DisabledAt.UTC()
	}
	return op
}

// TokenToAPI returns the wire form of t.
func TokenToAPI(t *curfew.Token) Token {
	return Token{
		Name:      t.Name,
		Role:      string(t.Role),
		Status:    string(t.Status()),
		CreatedAt: t.Created.UTC(),
		CreatedBy: t.CreatedBy,
		RevokedAt: optTime(t.Revoked),
		RevokedBy: t.RevokedBy,
	}
}

// TokenFromAPI returns the domain form of w.
func TokenFromAPI(w *Token) *curfew.Token {
	t := &curfew.Token{
		Name:             w.Name,
		Role:             curfew.Role(w.Role),
		Created:          w.CreatedAt.UTC(),
		CreatedBy:        w.CreatedBy,
		RevokedBy:        w.RevokedBy,
		OperatorDisabled: w.Status == string(curfew.TokenDisabled),
	}
	if w.RevokedAt != nil {
		t.Revoked = w.RevokedAt.UTC()
	}
	return t
}
