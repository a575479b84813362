package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/curfew/curfew/internal/curfew"
)

// AddOperator implements [curfew.Accounts].
func (c *Client) AddOperator(ctx context.Context, name string, role curfew.Role) (*curfew.Operator, string, error) {
	var out OperatorCreated
	if err := c.do(ctx, http.MethodPost, "/api/v1/operators", nil, OperatorRequest{Name: name, Role: string(role)}, &out); err != nil {
		return nil, "", err
	}
	if out.Password == "" {
		return nil, "", errors.New("adding operator: the server returned no password")
	}
	return OperatorFromAPI(&out.Operator), out.Password, nil
}

// Operators implements [curfew.Accounts].
func (c *Client) Operators(ctx context.Context) ([]*curfew.Operator, error) {
	var out []Operator
	if err := c.do(ctx, http.MethodGet, "/api/v1/operators", nil, nil, &out); err != nil {
		return nil, err
	}
	ops := make([]*curfew.Operator, 0, len(out))
	for i := range out {
		ops = append(ops, OperatorFromAPI(&out[i]))
	}
	return ops, nil
}

// DisableOperator implements [curfew.Accounts].
func (c *Client) DisableOperator(ctx context.Context, name, reason string) (*curfew.Operator, error) {
	var out Operator
	if err := c.do(ctx, http.MethodPost, "/api/v1/operators/"+url.PathEscape(name)+"/disable", nil, DisableRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return OperatorFromAPI(&out), nil
}

// ResetPassword implements [curfew.Accounts].
func (c *Client) ResetPassword(ctx context.Context, name string) (string, error) {
	var out PasswordResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/operators/"+url.PathEscape(name)+"/password", nil, nil, &out); err != nil {
		return "", err
	}
	if out.Password == "" {
		return "", errors.New("resetting password: the server returned no password")
	}
	return out.Password, nil
}

// CreateToken implements [curfew.Accounts].
func (c *Client) CreateToken(ctx context.Context, name string, role curfew.Role) (string, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, TokenRequest{Name: name, Role: string(role)}, &out); err != nil {
		return "", err
	}
	if out.Secret == "" {
		return "", errors.New("creating token: the server returned no secret")
	}
	return out.Secret, nil
}

// Tokens implements [curfew.Accounts].
func (c *Client) Tokens(ctx context.Context) ([]*curfew.Token, error) {
	var out []Token
	if err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &out); err != nil {
		return nil, err
	}
	ts := make([]*curfew.Token, 0, len(out))
	for i := range out {
		ts = append(ts, TokenFromAPI(&out[i]))
	}
	return ts, nil
}

// RevokeToken implements [curfew.Accounts].
func (c *Client) RevokeToken(ctx context.Context, name string) (*curfew.Token, error) {
	var out Token
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(name)+"/revoke", nil, nil, &out); err != nil {
		return nil, err
	}
	return TokenFromAPI(&out), nil
}
