package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

const appealColumns = `id, sender, addr, restrictions, message, created_at, answer, answered_at, answered_by`

// CreateAppeal stores a, assigns a.ID, sets the After.Appeal of ev to it
// and records ev, in one transaction. It implements the engine's Store.
func (db *DB) CreateAppeal(ctx context.Context, a *curfew.Appeal, ev *audit.Event) error {
	if a == nil || a.From.IsZero() || !a.Addr.IsValid() {
		return fmt.Errorf("%w: appeal without a sender", curfew.ErrInvalid)
	}
	from, err := subjectText("appeal sender", a.From)
	if err != nil {
		return err
	}
	ids, err := json.Marshal(nonNilIDs(a.Restrictions))
	if err != nil {
		return fmt.Errorf("encoding restriction ids: %w", err)
	}
	var id int64
	err = db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, evs []*audit.Event) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO appeals
			(sender, addr, restrictions, message, created_at, answer, answered_at, answered_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			from, a.Addr.String(), string(ids), a.Message, millis(a.Created),
			a.Answer, nullMillis(a.Answered), a.AnsweredBy,
		).Scan(&id)
		if err != nil {
			return classify(err, "appeal")
		}
		var after audit.Fields
		if evs[0].After != nil {
			after = *evs[0].After
		}
		after.Appeal = id
		evs[0].After = &after
		return nil
	})
	if err != nil {
		return err
	}
	a.ID = curfew.AppealID(id)
	return nil
}

// AnswerAppeal stores the answer of a (Answer, Answered, AnsweredBy) and
// records ev, in one transaction. An unknown ID is curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) AnswerAppeal(ctx context.Context, a *curfew.Appeal, ev *audit.Event) error {
	if a == nil {
		return fmt.Errorf("%w: missing appeal", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, "UPDATE appeals SET answer = ?, answered_at = ?, answered_by = ? WHERE id = ?",
			a.Answer, nullMillis(a.Answered), a.AnsweredBy, int64(a.ID))
		if err != nil {
			return fmt.Errorf("updating appeal %d: %w", a.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("updating appeal %d: %w", a.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: appeal %d", curfew.ErrNotFound, a.ID)
		}
		return nil
	})
}

// Appeal returns one appeal or an error wrapping curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) Appeal(ctx context.Context, id curfew.AppealID) (*curfew.Appeal, error) {
	row := db.sql.QueryRowContext(ctx, "SELECT "+appealColumns+" FROM appeals WHERE id = ?", int64(id))
	a, err := scanAppeal(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: appeal %d", curfew.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Appeals returns the appeals f selects, by ascending ID. It implements
// the engine's Store.
func (db *DB) Appeals(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error) {
	var (
		where []string
		args  []any
	)
	if !f.From.IsZero() {
		where = append(where, "sender = ?")
		args = append(args, f.From.String())
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, millis(f.Since))
	}
	q := "SELECT " + appealColumns + " FROM appeals"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing appeals: %w", err)
	}
	defer rows.Close()
	var as []*curfew.Appeal
	for rows.Next() {
		a, err := scanAppeal(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing appeals: %w", err)
	}
	return as, nil
}

func scanAppeal(s scanner) (*curfew.Appeal, error) {
	var (
		a                 curfew.Appeal
		id, created       int64
		sender, addr, ids string
		answered          sql.NullInt64
	)
	err := s.Scan(&id, &sender, &addr, &ids, &a.Message, &created, &a.Answer, &answered, &a.AnsweredBy)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading appeal: %w", err)
	}
	a.ID = curfew.AppealID(id)
	if a.From, err = curfew.ParseSubject(sender); err != nil {
		return nil, fmt.Errorf("reading appeal %d: %w", id, err)
	}
	if a.Addr, err = netip.ParseAddr(addr); err != nil {
		return nil, fmt.Errorf("reading appeal %d: address: %w", id, err)
	}
	if err := json.Unmarshal([]byte(ids), &a.Restrictions); err != nil {
		return nil, fmt.Errorf("reading appeal %d: restriction ids: %w", id, err)
	}
	if len(a.Restrictions) == 0 {
		a.Restrictions = nil
	}
	a.Created = fromMillis(created)
	a.Answered = fromNullMillis(answered)
	return &a, nil
}

func nonNilIDs(ids []curfew.RestrictionID) []curfew.RestrictionID {
	if ids == nil {
		return []curfew.RestrictionID{}
	}
	return ids
}
