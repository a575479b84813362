package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Groups returns every group with its members, sorted by name. It
// implements the engine's Store.
func (db *DB) Groups(ctx context.Context) ([]*curfew.Group, error) {
	gs, err := db.groups(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	return gs, nil
}

// Group returns one group or an error wrapping curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) Group(ctx context.Context, name string) (*curfew.Group, error) {
	gs, err := db.groups(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading group %q: %w", name, err)
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("%w: group %q", curfew.ErrNotFound, name)
	}
	return gs[0], nil
}

// groups reads group name, or every group if name is empty, with members
// in one query.
func (db *DB) groups(ctx context.Context, name string) ([]*curfew.Group, error) {
	q := `SELECT g.name, g.created_at, m.member FROM groups g LEFT JOIN group_members m ON m.group_name = g.name`
	var args []any
	if name != "" {
		q += " WHERE g.name = ?"
		args = append(args, name)
	}
	q += " ORDER BY g.name, m.member"
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gs []*curfew.Group
	for rows.Next() {
		var (
			n       string
			created int64
			member  sql.NullString
		)
		if err := rows.Scan(&n, &created, &member); err != nil {
			return nil, err
		}
		if len(gs) == 0 || gs[len(gs)-1].Name != n {
			gs = append(gs, &curfew.Group{Name: n, Created: fromMillis(created)})
		}
		if member.Valid {
			s, err := curfew.ParseSubject(member.String)
			if err != nil {
				return nil, fmt.Errorf("group %q: %w", n, err)
			}
			g := gs[len(gs)-1]
			g.Members = append(g.Members, s)
		}
	}
	return gs, rows.Err()
}

// CreateGroup stores g (without members) and records ev, in one
// transaction. A duplicate name is curfew.ErrConflict. It implements the
// engine's Store.
func (db *DB) CreateGroup(ctx context.Context, g *curfew.Group, ev *audit.Event) error {
	if g == nil || g.Name == "" {
		return fmt.Errorf("%w: group without a name", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO groups (name, created_at) VALUES (?, ?)", g.Name, millis(g.Created)); err != nil {
			return classify(err, fmt.Sprintf("group %q", g.Name))
		}
		return nil
	})
}

// AddGroupMember adds member to group name at at and records ev, in one
// transaction. An unknown group or person is curfew.ErrNotFound, a member
// already in the group curfew.ErrConflict. It implements the engine's
// Store.
func (db *DB) AddGroupMember(ctx context.Context, name string, member curfew.Subject, at time.Time, ev *audit.Event) error {
	if err := curfew.CheckMember(member); err != nil {
		return err
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if err := exists(ctx, tx, "group "+name, "SELECT count(*) FROM groups WHERE name = ?", name); err != nil {
			return err
		}
		if member.Kind == curfew.SubjectPerson {
			if err := exists(ctx, tx, "person "+member.Name, "SELECT count(*) FROM persons WHERE name = ?", member.Name); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO group_members (group_name, member, added_at) VALUES (?, ?, ?)", name, member.String(), millis(at))
		if err != nil {
			if errors.Is(classify(err, ""), curfew.ErrConflict) {
				return fmt.Errorf("%w: %s is already a member of group %s", curfew.ErrConflict, member, name)
			}
			return fmt.Errorf("adding %s to group %q: %w", member, name, err)
		}
		return nil
	})
}

// RemoveGroupMember removes member from group name and records ev, in one
// transaction. An unknown group, or a member it does not hold, is
// curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) RemoveGroupMember(ctx context.Context, name string, member curfew.Subject, ev *audit.Event) error {
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if err := exists(ctx, tx, "group "+name, "SELECT count(*) FROM groups WHERE name = ?", name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE group_name = ? AND member = ?", name, member.String())
		if err != nil {
			return fmt.Errorf("removing %s from group %q: %w", member, name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s is not a member of group %s", curfew.ErrNotFound, member, name)
		}
		return nil
	})
}

// exists fails with curfew.ErrNotFound, naming what, unless the count
// query q returns more than zero.
func exists(ctx context.Context, tx *sql.Tx, what, q string, args ...any) error {
	var n int
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return fmt.Errorf("looking up %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: no %s", curfew.ErrNotFound, what)
	}
	return nil
}
