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

// CreateToken stores t with hash, the SHA-256 of its secret, and records
// ev, in one transaction. A duplicate name (or hash) is curfew.ErrConflict. It
// implements the engine's Store.
func (db *DB) CreateToken(ctx context.Context, t *curfew.Token, hash []byte, ev *audit.Event) error {
	if t == nil || t.Name == "" {
		return fmt.Errorf("%w: token without a name", curfew.ErrInvalid)
	}
	if len(hash) != sha256.Size {
		return fmt.Errorf("%w: token hash is %d bytes, want %d", curfew.ErrInvalid, len(hash), sha256.Size)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)",
			t.Name, string(t.Role), hash, millis(t.Created))
		if err != nil {
			return classify(err, fmt.Sprintf("token %q", t.Name))
		}
		return nil
	})
}

// TokenByHash returns the token whose secret hashes to hash, or an error
// wrapping curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*curfew.Token, error) {
	var (
		t       curfew.Token
		role    string
		created int64
	)
	err := db.sql.QueryRowContext(ctx, "SELECT name, role, created_at FROM tokens WHERE hash = ?", hash).Scan(&t.Name, &role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: token", curfew.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading token: %w", err)
	}
	if t.Role, err = curfew.ParseRole(role); err != nil {
		return nil, fmt.Errorf("reading token %q: %w", t.Name, err)
	}
	t.Created = fromMillis(created)
	return &t, nil
}
