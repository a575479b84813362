package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

const restrictionColumns = `id, subject, mode, allow, block, reason, notice, author,
	starts_at, ends_at, created_at, lifted_at, lifted_by, lift_reason, expired_at,
	approval, approval_asker, approval_extend_to, approval_decided_at, approval_decided_by, approval_reason, rate,
	schedule_id`

// restrictionColumnsBefore reads a restrictions table that migrations
// before 0011 (a throttle's rate) or 0012 (a schedule's windows) left, as
// an earlier migration's code does: every restriction then was no throttle
// and no window. hasRate and hasSchedule say which columns the table has.
func restrictionColumnsBefore(hasRate, hasSchedule bool) string {
	cols := restrictionColumns
	if !hasSchedule {
		cols = strings.TrimSuffix(cols, "schedule_id") + "NULL"
	}
	if !hasRate {
		cols = strings.Replace(cols, "approval_reason, rate,", "approval_reason, 0,", 1)
	}
	return cols
}

// openRestrictions selects the restrictions that can still apply: neither
// lifted, nor recorded as expired, nor rejected by a second operator (a
// rejected extension leaves its restriction open). It contains the
// condition of the partial index restrictions_open, so that index serves it.
const openRestrictions = `lifted_at IS NULL AND expired_at IS NULL
	AND NOT (approval = 'rejected' AND approval_extend_to IS NULL)`

// Restrictions returns the restrictions f selects, by ascending ID. The
// conditions of f combine: the zero filter selects those neither lifted,
// recorded as expired nor rejected, All drops that condition, Subject and ID narrow the
// result further. It implements the engine's Store.
func (db *DB) Restrictions(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	return restrictions(ctx, db.sql, f)
}

// restrictions is Restrictions on q.
func restrictions(ctx context.Context, q querier, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
	var rs []*curfew.Restriction
	err := queryRestrictions(ctx, q, f, func(r *curfew.Restriction) error {
		rs = append(rs, r)
		return nil
	})
	return rs, err
}

// eachRestriction calls fn for every restriction, by ascending ID.
func eachRestriction(ctx context.Context, q querier, fn func(r *curfew.Restriction) error) error {
	return queryRestrictions(ctx, q, curfew.RestrictionFilter{All: true}, fn)
}

// queryRestrictions calls fn for each restriction f selects, by ascending
// ID.
func queryRestrictions(ctx context.Context, q querier, f curfew.RestrictionFilter, fn func(r *curfew.Restriction) error) error {
	var (
		where []string
		args  []any
	)
	if !f.All {
		where = append(where, openRestrictions)
	}
	if f.Subject != nil {
		where = append(where, "subject = ?")
		args = append(args, f.Subject.String())
	}
	if f.ID != nil {
		where = append(where, "id = ?")
		args = append(args, int64(*f.ID))
	}
	columns := restrictionColumns
	var hasRate, hasSchedule bool
	if err := q.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE name = 'rate') > 0, count(*) FILTER (WHERE name = 'schedule_id') > 0
		FROM pragma_table_info('restrictions')`).Scan(&hasRate, &hasSchedule); err != nil {
		return fmt.Errorf("listing restrictions: %w", err)
	}
	if !hasRate || !hasSchedule {
		columns = restrictionColumnsBefore(hasRate, hasSchedule)
	}
	query := "SELECT " + columns + " FROM restrictions"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id"

	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("listing restrictions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRestriction(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing restrictions: %w", err)
	}
	return nil
}

// Restriction returns one restriction or an error wrapping
// curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) Restriction(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
	row := db.sql.QueryRowContext(ctx, "SELECT "+restrictionColumns+" FROM restrictions WHERE id = ?", int64(id))
	r, err := scanRestriction(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CreateRestriction stores r, assigns r.ID, sets the Restriction of ev to
// it and records ev, in one transaction. It implements the engine's Store.
// Empty allow and block lists read back as nil.
func (db *DB) CreateRestriction(ctx context.Context, r *curfew.Restriction, ev *audit.Event) error {
	if r == nil || r.Subject.IsZero() {
		return fmt.Errorf("%w: restriction without subject", curfew.ErrInvalid)
	}
	subject, err := subjectText("restriction subject", r.Subject)
	if err != nil {
		return err
	}
	allow, err := encodeList(r.Allow)
	if err != nil {
		return err
	}
	block, err := encodeList(r.Block)
	if err != nil {
		return err
	}
	var id int64
	err = db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, evs []*audit.Event) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO restrictions
			(subject, mode, allow, block, reason, notice, author, starts_at, ends_at, created_at, lifted_at, lifted_by, lift_reason, expired_at,
			 approval, approval_asker, approval_extend_to, approval_decided_at, approval_decided_by, approval_reason, rate, schedule_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			subject, string(r.Mode), allow, block, r.Reason, r.Notice, r.Author,
			millis(r.Start), millis(r.End), millis(r.Created),
			nullMillis(r.Lifted), r.LiftedBy, r.LiftReason, nullMillis(r.Expired),
			string(r.Approval.State), r.Approval.Asker, nullMillis(r.Approval.ExtendTo),
			nullMillis(r.Approval.Decided), r.Approval.By, r.Approval.Reason, int64(r.Rate), nullID(int64(r.Schedule)),
		).Scan(&id)
		if err != nil {
			if r.Schedule != 0 {
				return classify(err, fmt.Sprintf("window of schedule %d from %s", r.Schedule, r.Start.UTC().Format(time.RFC3339)))
			}
			return classify(err, "restriction")
		}
		evs[0].Restriction = curfew.RestrictionID(id)
		return nil
	})
	if err != nil {
		return err
	}
	r.ID = curfew.RestrictionID(id)
	return nil
}

// UpdateRestriction stores the mutable fields of r (End, Lifted, LiftedBy,
// LiftReason, Expired, Approval) and records ev, in one transaction. An unknown ID is
// curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) UpdateRestriction(ctx context.Context, r *curfew.Restriction, ev *audit.Event) error {
	if r == nil {
		return fmt.Errorf("%w: missing restriction", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, `UPDATE restrictions
			SET ends_at = ?, lifted_at = ?, lifted_by = ?, lift_reason = ?, expired_at = ?,
				approval = ?, approval_asker = ?, approval_extend_to = ?,
				approval_decided_at = ?, approval_decided_by = ?, approval_reason = ?
			WHERE id = ?`,
			millis(r.End), nullMillis(r.Lifted), r.LiftedBy, r.LiftReason, nullMillis(r.Expired),
			string(r.Approval.State), r.Approval.Asker, nullMillis(r.Approval.ExtendTo),
			nullMillis(r.Approval.Decided), r.Approval.By, r.Approval.Reason,
			int64(r.ID))
		if err != nil {
			return classify(err, fmt.Sprintf("restriction %d", r.ID))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("updating restriction %d: %w", r.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, r.ID)
		}
		return nil
	})
}

// RepairRestriction makes the row of restriction id what the log says,
// r, and records ev, in one transaction: it replaces the row, adds it if
// it was deleted, or, if r is nil (the log never recorded the row),
// removes it. It implements the engine's Store.
func (db *DB) RepairRestriction(ctx context.Context, id curfew.RestrictionID, r *curfew.Restriction, ev *audit.Event) error {
	var allow, block string
	if r != nil {
		var err error
		if allow, err = encodeList(r.Allow); err != nil {
			return err
		}
		if block, err = encodeList(r.Block); err != nil {
			return err
		}
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if r == nil {
			// The log never had it.
			if _, err := tx.ExecContext(ctx, "DELETE FROM restrictions WHERE id = ?", int64(id)); err != nil {
				return fmt.Errorf("repairing restriction %d: %w", id, err)
			}
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO restrictions
			(id, subject, mode, allow, block, reason, notice, author, starts_at, ends_at, created_at, lifted_at, lifted_by, lift_reason, expired_at,
			 approval, approval_asker, approval_extend_to, approval_decided_at, approval_decided_by, approval_reason, rate, schedule_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, mode = excluded.mode, allow = excluded.allow,
				block = excluded.block, reason = excluded.reason, notice = excluded.notice, author = excluded.author,
				starts_at = excluded.starts_at, ends_at = excluded.ends_at, created_at = excluded.created_at,
				lifted_at = excluded.lifted_at, lifted_by = excluded.lifted_by, lift_reason = excluded.lift_reason,
				expired_at = excluded.expired_at, approval = excluded.approval, approval_asker = excluded.approval_asker,
				approval_extend_to = excluded.approval_extend_to, approval_decided_at = excluded.approval_decided_at,
				approval_decided_by = excluded.approval_decided_by, approval_reason = excluded.approval_reason,
				rate = excluded.rate, schedule_id = excluded.schedule_id`,
			int64(id), r.Subject.String(), string(r.Mode), allow, block, r.Reason, r.Notice, r.Author,
			millis(r.Start), millis(r.End), millis(r.Created),
			nullMillis(r.Lifted), r.LiftedBy, r.LiftReason, nullMillis(r.Expired),
			string(r.Approval.State), r.Approval.Asker, nullMillis(r.Approval.ExtendTo),
			nullMillis(r.Approval.Decided), r.Approval.By, r.Approval.Reason, int64(r.Rate), nullID(int64(r.Schedule)))
		if err != nil {
			return fmt.Errorf("repairing restriction %d: %w", id, err)
		}
		return nil
	})
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanRestriction(s scanner) (*curfew.Restriction, error) {
	var (
		r                           curfew.Restriction
		id                          int64
		subject, mode, allow, block string
		start, end, created         int64
		lifted, expired             sql.NullInt64
		approval                    string
		extendTo, decided           sql.NullInt64
		rate                        int64
		schedule                    sql.NullInt64
	)
	err := s.Scan(&id, &subject, &mode, &allow, &block, &r.Reason, &r.Notice, &r.Author,
		&start, &end, &created, &lifted, &r.LiftedBy, &r.LiftReason, &expired,
		&approval, &r.Approval.Asker, &extendTo, &decided, &r.Approval.By, &r.Approval.Reason, &rate, &schedule)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading restriction: %w", err)
	}
	r.ID = curfew.RestrictionID(id)
	if r.Subject, err = curfew.ParseSubject(subject); err != nil {
		return nil, fmt.Errorf("reading restriction %d: %w", id, err)
	}
	r.Mode = curfew.Mode(mode)
	r.Rate = curfew.Rate(rate)
	if r.Allow, err = decodeList(allow); err != nil {
		return nil, fmt.Errorf("reading restriction %d: allow list: %w", id, err)
	}
	if r.Block, err = decodeList(block); err != nil {
		return nil, fmt.Errorf("reading restriction %d: block list: %w", id, err)
	}
	r.Start = fromMillis(start)
	r.End = fromMillis(end)
	r.Created = fromMillis(created)
	r.Lifted = fromNullMillis(lifted)
	r.Expired = fromNullMillis(expired)
	r.Approval.State = curfew.ApprovalState(approval)
	r.Approval.ExtendTo = fromNullMillis(extendTo)
	r.Approval.Decided = fromNullMillis(decided)
	r.Schedule = curfew.ScheduleID(schedule.Int64)
	return &r, nil
}

// encodeList stores a list of domains or prefixes as a JSON array.
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("encoding list: %w", err)
	}
	return string(b), nil
}

// decodeList reads a JSON array; an empty one is nil.
func decodeList(s string) ([]string, error) {
	if s == "[]" {
		return nil, nil // most lists: no need to decode
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}
