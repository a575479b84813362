package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// CreateToken stores t with hash, the SHA-256 of its secret, and records ev,
// in one transaction. If op is not nil, the operator is created first in
// the same transaction (a duplicate name is curfew.ErrConflict); otherwise
// operator t.Name must exist (curfew.ErrNotFound). A live token by the same
// name, or the same hash, is curfew.ErrConflict. It implements the access
// component's Store.
func (db *DB) CreateToken(ctx context.Context, t *curfew.Token, hash []byte, op *curfew.Operator, ev *audit.Event) error {
	if t == nil || t.Name == "" {
		return fmt.Errorf("%w: token without a name", curfew.ErrInvalid)
	}
	if len(hash) != sha256.Size {
		return fmt.Errorf("%w: token hash is %d bytes, want %d", curfew.ErrInvalid, len(hash), sha256.Size)
	}
	if err := checkRole(fmt.Sprintf("token %q", t.Name), t.Role); err != nil {
		return err
	}
	if op != nil {
		if err := checkRole(fmt.Sprintf("operator %q", op.Name), op.Role); err != nil {
			return err
		}
	}
	if op != nil && op.Name != t.Name {
		return fmt.Errorf("%w: token %q for operator %q", curfew.ErrInvalid, t.Name, op.Name)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if op != nil {
			if err := insertOperator(ctx, tx, op, ""); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens (name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
			t.Name, string(t.Role), hash, millis(t.Created), t.CreatedBy)
		if err != nil {
			return classify(err, fmt.Sprintf("token %q", t.Name))
		}
		return nil
	})
}

// tokenColumns are the columns scanToken reads, from tokens t joined with
// operators o.
const tokenColumns = "t.name, t.role, t.created_at, t.created_by, t.revoked_at, t.revoked_by, o.disabled_at IS NOT NULL"

func scanToken(s interface{ Scan(...any) error }) (*curfew.Token, error) {
	var (
		t       curfew.Token
		role    string
		created int64
		revoked sql.NullInt64
	)
	if err := s.Scan(&t.Name, &role, &created, &t.CreatedBy, &revoked, &t.RevokedBy, &t.OperatorDisabled); err != nil {
		return nil, err
	}
	var err error
	if t.Role, err = curfew.ParseRole(role); err != nil {
		return nil, fmt.Errorf("reading token %q: %w", t.Name, err)
	}
	t.Created, t.Revoked = fromMillis(created), fromNullMillis(revoked)
	return &t, nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not, or an error wrapping curfew.ErrNotFound. It implements the access
// component's Store.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*curfew.Token, error) {
	row := db.sql.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens t JOIN operators o ON o.name = t.name WHERE t.hash = ?", hash)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: token", curfew.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading token: %w", err)
	}
	return t, nil
}

// Tokens returns every token, revoked ones too, by name and then age. It
// implements the access component's Store.
func (db *DB) Tokens(ctx context.Context) ([]*curfew.Token, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens t JOIN operators o ON o.name = t.name ORDER BY t.name, t.id")
	if err != nil {
		return nil, fmt.Errorf("reading tokens: %w", err)
	}
	defer rows.Close()
	var ts []*curfew.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("reading tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken marks the live token named t.Name revoked at t.Revoked by
// t.RevokedBy and records ev, in one transaction. Without a live token by
// that name it is curfew.ErrNotFound. It implements the access component's
// Store.
func (db *DB) RevokeToken(ctx context.Context, t *curfew.Token, ev *audit.Event) error {
	if t == nil || t.Revoked.IsZero() {
		return fmt.Errorf("%w: revoking a token without a time", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE name = ? AND revoked_at IS NULL",
			millis(t.Revoked), t.RevokedBy, t.Name)
		if err != nil {
			return fmt.Errorf("revoking token %q: %w", t.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: no live token %q", curfew.ErrNotFound, t.Name)
		}
		return nil
	})
}
