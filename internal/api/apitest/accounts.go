package apitest

import (
	"context"
	"sync"

	"github.com/curfew/curfew/internal/curfew"
)

// FakeAccounts implements curfew.Accounts by calling its func fields.
// Calling a method whose field is nil panics, and the stack trace names
// the method. Every call is recorded, before the func runs, in Calls.
type FakeAccounts struct {
	AddOperatorFunc     func(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error)
	OperatorsFunc       func(ctx context.Context) ([]*curfew.Operator, error)
	DisableOperatorFunc func(ctx context.Context, name, reason string) (*curfew.Operator, error)
	ResetPasswordFunc   func(ctx context.Context, name string) (string, error)
	CreateTokenFunc     func(ctx context.Context, name string, role curfew.Role) (string, error)
	TokensFunc          func(ctx context.Context) ([]*curfew.Token, error)
	RevokeTokenFunc     func(ctx context.Context, name string) (*curfew.Token, error)

	mu    sync.Mutex // guards calls
	calls []string   // method names, in call order
}

var _ curfew.Accounts = (*FakeAccounts)(nil)

func (f *FakeAccounts) record(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
}

// Calls returns the names of the methods called so far, in order.
func (f *FakeAccounts) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// AddOperator implements [curfew.Accounts].
func (f *FakeAccounts) AddOperator(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
	f.record("AddOperator")
	return f.AddOperatorFunc(ctx, name, role)
}

// Operators implements [curfew.Accounts].
func (f *FakeAccounts) Operators(ctx context.Context) ([]*curfew.Operator, error) {
	f.record("Operators")
	return f.OperatorsFunc(ctx)
}

// DisableOperator implements [curfew.Accounts].
func (f *FakeAccounts) DisableOperator(ctx context.Context, name, reason string) (*curfew.Operator, error) {
	f.record("DisableOperator")
	return f.DisableOperatorFunc(ctx, name, reason)
}

// ResetPassword implements [curfew.Accounts].
func (f *FakeAccounts) ResetPassword(ctx context.Context, name string) (string, error) {
	f.record("ResetPassword")
	return f.ResetPasswordFunc(ctx, name)
}

// CreateToken implements [curfew.Accounts].
func (f *FakeAccounts) CreateToken(ctx context.Context, name string, role curfew.Role) (string, error) {
	f.record("CreateToken")
	return f.CreateTokenFunc(ctx, name, role)
}

// Tokens implements [curfew.Accounts].
func (f *FakeAccounts) Tokens(ctx context.Context) ([]*curfew.Token, error) {
	f.record("Tokens")
	return f.TokensFunc(ctx)
}

// RevokeToken implements [curfew.Accounts].
func (f *FakeAccounts) RevokeToken(ctx context.Context, name string) (*curfew.Token, error) {
	f.record("RevokeToken")
	return f.RevokeTokenFunc(ctx, name)
}
