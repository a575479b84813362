package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

const scheduleColumns = `id, subject, days, from_clock, to_clock, zone, until_at, mode, allow, block, rate,
	reason, notice, author, created_at, removed_at, removed_by, remove_reason`

// Schedules returns the schedules f selects, by ascending ID: by default
// those neither removed nor past their until as of now. It implements the
// engine's Store.
func (db *DB) Schedules(ctx context.Context, f curfew.ScheduleFilter, now time.Time) ([]*curfew.Schedule, error) {
	var (
		where []string
		args  []any
	)
	if !f.All {
		where = append(where, "removed_at IS NULL AND until_at > ?")
		args = append(args, millis(now))
	}
	if f.ID != nil {
		where = append(where, "id = ?")
		args = append(args, int64(*f.ID))
	}
	q := "SELECT " + scheduleColumns + " FROM schedules"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.sql.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	defer rows.Close()
	var ss []*curfew.Schedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	return ss, nil
}

// Schedule returns one schedule or an error wrapping curfew.ErrNotFound.
// It implements the engine's Store.
func (db *DB) Schedule(ctx context.Context, id curfew.ScheduleID) (*curfew.Schedule, error) {
	row := db.sql.QueryRowContext(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE id = ?", int64(id))
	s, err := scanSchedule(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: schedule %d", curfew.ErrNotFound, id)
	}
	return s, err
}

// CreateSchedule stores s, assigns s.ID, sets ev.After.Schedule to it and
// records ev, in one transaction. It implements the engine's Store.
func (db *DB) CreateSchedule(ctx context.Context, s *curfew.Schedule, ev *audit.Event) error {
	if s == nil || s.Subject.IsZero() || s.Zone == nil {
		return fmt.Errorf("%w: schedule without subject or zone", curfew.ErrInvalid)
	}
	if ev == nil || ev.After == nil {
		return fmt.Errorf("%w: schedule.added without fields", curfew.ErrInvalid)
	}
	subject, err := subjectText("schedule subject", s.Subject)
	if err != nil {
		return err
	}
	if _, err := curfew.LoadZone(s.Zone.String()); err != nil {
		return fmt.Errorf("%w: schedule zone cannot be stored: %v", curfew.ErrInvalid, err)
	}
	allow, err := encodeList(s.Allow)
	if err != nil {
		return err
	}
	block, err := encodeList(s.Block)
	if err != nil {
		return err
	}
	var id int64
	err = db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, evs []*audit.Event) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO schedules
			(subject, days, from_clock, to_clock, zone, until_at, mode, allow, block, rate, reason, notice, author, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			subject, s.Days.String(), s.From.String(), s.To.String(), s.Zone.String(), millis(s.Until),
			string(s.Mode), allow, block, int64(s.Rate), s.Reason, s.Notice, s.Author, millis(s.Created)).Scan(&id)
		if err != nil {
			return classify(err, "schedule")
		}
		after := *evs[0].After
		after.Schedule = id
		evs[0].After = &after
		return nil
	})
	if err != nil {
		return err
	}
	s.ID = curfew.ScheduleID(id)
	return nil
}

// RemoveSchedule stores the removal of s (Removed, RemovedBy,
// RemoveReason) and records ev and, if window is not nil, the lift of that
// open window of s (its Lifted fields) with liftEv, in one transaction.
// An unknown ID is curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) RemoveSchedule(ctx context.Context, s *curfew.Schedule, ev *audit.Event, window *curfew.Restriction, liftEv *audit.Event) error {
	if s == nil {
		return fmt.Errorf("%w: missing schedule", curfew.ErrInvalid)
	}
	evs := []*audit.Event{ev}
	if window != nil {
		evs = append(evs, liftEv)
	}
	return db.write(ctx, evs, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET removed_at = ?, removed_by = ?, remove_reason = ?
			WHERE id = ? AND removed_at IS NULL`,
			millis(s.Removed), s.RemovedBy, s.RemoveReason, int64(s.ID))
		if err != nil {
			return fmt.Errorf("removing schedule %d: %w", s.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("removing schedule %d: %w", s.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: schedule %d (or it is removed already)", curfew.ErrNotFound, s.ID)
		}
		if window == nil {
			return nil
		}
		res, err = tx.ExecContext(ctx, `UPDATE restrictions SET lifted_at = ?, lifted_by = ?, lift_reason = ?
			WHERE id = ? AND schedule_id = ?`,
			nullMillis(window.Lifted), window.LiftedBy, window.LiftReason, int64(window.ID), int64(s.ID))
		if err != nil {
			return fmt.Errorf("lifting window %d of schedule %d: %w", window.ID, s.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%w: restriction %d is no window of schedule %d", curfew.ErrNotFound, window.ID, s.ID)
		}
		return nil
	})
}

// LastWindows returns, for every schedule that has one stored, the end of
// its latest window: where its expansion into windows resumes. It
// implements the engine's Store.
func (db *DB) LastWindows(ctx context.Context) (map[curfew.ScheduleID]time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT schedule_id, MAX(ends_at) FROM restrictions
		WHERE schedule_id IS NOT NULL GROUP BY schedule_id`)
	if err != nil {
		return nil, fmt.Errorf("reading the schedules' last windows: %w", err)
	}
	defer rows.Close()
	last := map[curfew.ScheduleID]time.Time{}
	for rows.Next() {
		var id, end int64
		if err := rows.Scan(&id, &end); err != nil {
			return nil, fmt.Errorf("reading the schedules' last windows: %w", err)
		}
		last[curfew.ScheduleID(id)] = fromMillis(end)
	}
	return last, rows.Err()
}

// LiftedWindows returns, by schedule, the starts of the stored windows
// that end after from and were lifted. It implements the engine's Store.
func (db *DB) LiftedWindows(ctx context.Context, from time.Time) (map[curfew.ScheduleID][]time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT schedule_id, starts_at FROM restrictions
		WHERE schedule_id IS NOT NULL AND lifted_at IS NOT NULL AND ends_at > ? ORDER BY schedule_id, starts_at`, millis(from))
	if err != nil {
		return nil, fmt.Errorf("reading the schedules' lifted windows: %w", err)
	}
	defer rows.Close()
	lifted := map[curfew.ScheduleID][]time.Time{}
	for rows.Next() {
		var id, start int64
		if err := rows.Scan(&id, &start); err != nil {
			return nil, fmt.Errorf("reading the schedules' lifted windows: %w", err)
		}
		lifted[curfew.ScheduleID(id)] = append(lifted[curfew.ScheduleID(id)], fromMillis(start))
	}
	return lifted, rows.Err()
}

func scanSchedule(sc scanner) (*curfew.Schedule, error) {
	var (
		s                             curfew.Schedule
		id, until, created, rate      int64
		subject, days, from, to, zone string
		mode, allow, block            string
		removed                       sql.NullInt64
	)
	err := sc.Scan(&id, &subject, &days, &from, &to, &zone, &until, &mode, &allow, &block, &rate,
		&s.Reason, &s.Notice, &s.Author, &created, &removed, &s.RemovedBy, &s.RemoveReason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading schedule: %w", err)
	}
	s.ID = curfew.ScheduleID(id)
	bad := func(what string, err error) error { return fmt.Errorf("reading schedule %d: %s: %w", id, what, err) }
	if s.Subject, err = curfew.ParseSubject(subject); err != nil {
		return nil, bad("subject", err)
	}
	if s.Days, err = curfew.ParseDays(days); err != nil {
		return nil, bad("days", err)
	}
	if s.From, err = curfew.ParseClock(from); err != nil {
		return nil, bad("from", err)
	}
	if s.To, err = curfew.ParseClock(to); err != nil {
		return nil, bad("to", err)
	}
	if s.Zone, err = curfew.LoadZone(zone); err != nil {
		return nil, bad("zone", err)
	}
	s.Mode = curfew.Mode(mode)
	if s.Allow, err = decodeList(allow); err != nil {
		return nil, bad("allow list", err)
	}
	if s.Block, err = decodeList(block); err != nil {
		return nil, bad("block list", err)
	}
	s.Rate = curfew.Rate(rate)
	s.Until = fromMillis(until)
	s.Created = fromMillis(created)
	s.Removed = fromNullMillis(removed)
	return &s, nil
}

// nullID stores an ID that may be absent (zero) as NULL.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }
