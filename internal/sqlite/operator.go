package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// CreateOperator stores op with password, its console password in the
// PHC string form of its hash (empty: none), and records ev, in one
// transaction. op.Password is set from password (one-time if not empty).
// A duplicate name is curfew.ErrConflict. It implements the access
// component's Store.
func (db *DB) CreateOperator(ctx context.Context, op *curfew.Operator, password string, ev *audit.Event) error {
	if op == nil || op.Name == "" {
		return fmt.Errorf("%w: operator without a name", curfew.ErrInvalid)
	}
	if err := checkRole(fmt.Sprintf("operator %q", op.Name), op.Role); err != nil {
		return err
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		return insertOperator(ctx, tx, op, password)
	})
}

func insertOperator(ctx context.Context, tx *sql.Tx, op *curfew.Operator, password string) error {
	var hash sql.NullString
	op.Password = curfew.PasswordNone
	if password != "" {
		hash = sql.NullString{String: password, Valid: true}
		op.Password = curfew.PasswordOneTime
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO operators (name, role, created_at, created_by, password, password_temporary)
		VALUES (?, ?, ?, ?, ?, ?)`, op.Name, string(op.Role), millis(op.Created), op.CreatedBy, hash, hash.Valid)
	if err != nil {
		return classify(err, fmt.Sprintf("operator %q", op.Name))
	}
	return nil
}

const operatorColumns = "name, role, created_at, created_by, password IS NOT NULL, password_temporary, disabled_at, disabled_by, disable_reason"

func scanOperator(s interface{ Scan(...any) error }) (*curfew.Operator, error) {
	var (
		op                  curfew.Operator
		role                string
		created             int64
		hasPassword, oneOff bool
		disabled            sql.NullInt64
	)
	if err := s.Scan(&op.Name, &role, &created, &op.CreatedBy, &hasPassword, &oneOff, &disabled, &op.DisabledBy, &op.DisableReason); err != nil {
		return nil, err
	}
	var err error
	if op.Role, err = curfew.ParseRole(role); err != nil {
		return nil, fmt.Errorf("reading operator %q: %w", op.Name, err)
	}
	op.Created, op.Disabled = fromMillis(created), fromNullMillis(disabled)
	switch {
	case !hasPassword:
		op.Password = curfew.PasswordNone
	case oneOff:
		op.Password = curfew.PasswordOneTime
	default:
		op.Password = curfew.PasswordSet
	}
	return &op, nil
}

// Operators returns every operator by name. It implements the access
// component's Store.
func (db *DB) Operators(ctx context.Context) ([]*curfew.Operator, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+operatorColumns+" FROM operators ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("reading operators: %w", err)
	}
	defer rows.Close()
	var ops []*curfew.Operator
	for rows.Next() {
		op, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("reading operators: %w", err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading operators: %w", err)
	}
	return ops, nil
}

// Operator returns one operator or an error wrapping curfew.ErrNotFound.
// It implements the access component's Store.
func (db *DB) Operator(ctx context.Context, name string) (*curfew.Operator, error) {
	op, err := scanOperator(db.sql.QueryRowContext(ctx, "SELECT "+operatorColumns+" FROM operators WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no operator %q", curfew.ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading operator %q: %w", name, err)
	}
	return op, nil
}

// DisableOperator stores that op is disabled (Disabled, DisabledBy,
// DisableReason) and records ev, in one transaction. An unknown or already
// disabled operator is curfew.ErrNotFound or curfew.ErrConflict. It
// implements the access component's Store.
func (db *DB) DisableOperator(ctx context.Context, op *curfew.Operator, ev *audit.Event) error {
	if op == nil || op.Disabled.IsZero() {
		return fmt.Errorf("%w: disabling an operator without a time", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, `UPDATE operators SET disabled_at = ?, disabled_by = ?, disable_reason = ?
			WHERE name = ? AND disabled_at IS NULL`, millis(op.Disabled), op.DisabledBy, op.DisableReason, op.Name)
		if err != nil {
			return fmt.Errorf("disabling operator %q: %w", op.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			var disabled bool
			switch err := tx.QueryRowContext(ctx, "SELECT disabled_at IS NOT NULL FROM operators WHERE name = ?", op.Name).Scan(&disabled); {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%w: no operator %q", curfew.ErrNotFound, op.Name)
			case err != nil:
				return fmt.Errorf("disabling operator %q: %w", op.Name, err)
			}
			return fmt.Errorf("%w: operator %q is already disabled", curfew.ErrConflict, op.Name)
		}
		return nil
	})
}

// SetPassword stores password, the PHC string form of the hash of name's
// new console password, and whether it is a one-time password, and records
// ev, in one transaction. An unknown operator is curfew.ErrNotFound. It
// implements the access component's Store.
func (db *DB) SetPassword(ctx context.Context, name, password string, oneTime bool, ev *audit.Event) error {
	if password == "" {
		return fmt.Errorf("%w: empty password hash", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, "UPDATE operators SET password = ?, password_temporary = ? WHERE name = ?", password, oneTime, name)
		if err != nil {
			return fmt.Errorf("storing the password of %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: no operator %q", curfew.ErrNotFound, name)
		}
		return nil
	})
}

// Password returns the PHC string form of the hash of name's console
// password, or "" if it has none, or an error wrapping curfew.ErrNotFound.
// It implements the access component's Store.
func (db *DB) Password(ctx context.Context, name string) (string, error) {
	var hash sql.NullString
	err := db.sql.QueryRowContext(ctx, "SELECT password FROM operators WHERE name = ?", name).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: no operator %q", curfew.ErrNotFound, name)
	}
	if err != nil {
		return "", fmt.Errorf("reading the password of %q: %w", name, err)
	}
	return hash.String, nil
}
