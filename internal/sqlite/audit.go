package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// appendEvents seals evs after the head of the log and inserts them in tx.
// The head is the
// newest event, or the latest checkpoint if that signs a newer one: events
// were then dropped from the end of the database, and the log goes on
// from the checkpoint, so that the loss stays visible as a gap instead of
// being papered over.
func (db *DB) appendEvents(ctx context.Context, tx *sql.Tx, evs []*audit.Event) error {
	head, err := lastEvent(ctx, tx)
	if err != nil {
		return err
	}
	var named int64
	if c := db.latest; c != nil {
		named = c.Seq
		if c.Seq > head.Seq {
			head = audit.Head{Seq: c.Seq, Hash: c.Head}
		}
	}
	for _, e := range evs {
		if e.At.IsZero() {
			e.At = db.now()
		}
		e.LastCheckpoint = named
		data, err := e.Seal(head)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO audit_events (seq, data) VALUES (?, ?)", e.Seq, string(data)); err != nil {
			return fmt.Errorf("recording audit event: %w", err)
		}
		head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
	}
	return nil
}

// querier is a *sql.Tx, *sql.Conn or *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// lastEvent returns the head of the events in the database: the zero Head
// if there is none.
func lastEvent(ctx context.Context, q querier) (audit.Head, error) {
	var (
		seq  int64
		data []byte
	)
	err := q.QueryRowContext(ctx, "SELECT seq, data FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&seq, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return audit.Head{}, fmt.Errorf("reading the last audit event: %w", err)
	}
	return audit.Head{Seq: seq, Hash: audit.Sum(data)}, nil
}

// AppendEvents records evs, which change no stored state (the gateway's
// own events), in one transaction. It implements the engine's Store.
func (db *DB) AppendEvents(ctx context.Context, evs ...*audit.Event) error {
	return db.write(ctx, evs, nil)
}

// AuditHead returns the newest event in the database (not the latest
// checkpoint's, if the database lost events after it): the zero Head if
// there is none. It implements the engine's Store.
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	return lastEvent(ctx, db.sql)
}

// AuditEvent returns the encoding of event seq, or an error wrapping
// curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) AuditEvent(ctx context.Context, seq int64) ([]byte, error) {
	var data []byte
	err := db.sql.QueryRowContext(ctx, "SELECT data FROM audit_events WHERE seq = ?", seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: audit event %d", curfew.ErrNotFound, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("reading audit event %d: %w", seq, err)
	}
	return data, nil
}

// NewestCheckpoint returns the newest checkpoint in the database, or nil.
// It implements the engine's Store.
func (db *DB) NewestCheckpoint(ctx context.Context) (*audit.Checkpoint, error) {
	return newestCheckpoint(ctx, db.sql)
}

func newestCheckpoint(ctx context.Context, q querier) (*audit.Checkpoint, error) {
	var data []byte
	err := q.QueryRowContext(ctx, "SELECT data FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the newest checkpoint: %w", err)
	}
	c, err := audit.ParseCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("reading the newest checkpoint: %w", err)
	}
	return c, nil
}

// CheckpointFile returns the content of the checkpoint file as it is now
// on disk, or nil if there is none. Without a CheckpointPath, the
// database is the only place checkpoints are kept, and it returns the
// newest stored one. It implements the engine's Store.
func (db *DB) CheckpointFile() ([]byte, error) {
	if db.checkpointPath == "" {
		c, err := newestCheckpoint(context.Background(), db.sql)
		if c == nil || err != nil {
			return nil, err
		}
		return c.Encode(), nil
	}
	b, err := os.ReadFile(db.checkpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint file: %w", err)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b, nil
}

// SaveCheckpoint stores c, which must be newer than every checkpoint
// stored before (curfew.ErrConflict otherwise): first in the checkpoint
// file, replaced atomically, then in the database. A crash between the two
// leaves the file ahead of the database, never behind it. It does not hold
// up the writes of changes while it syncs the file. It implements the
// engine's Store.
func (db *DB) SaveCheckpoint(ctx context.Context, c *audit.Checkpoint) error {
	db.cpmu.Lock()
	defer db.cpmu.Unlock()
	db.wmu.Lock()
	latest := db.latest
	db.wmu.Unlock()
	if latest != nil && c.Seq <= latest.Seq {
		return fmt.Errorf("%w: checkpoint of event %d: not newer than the latest, of event %d", curfew.ErrConflict, c.Seq, latest.Seq)
	}
	data := c.Encode()
	if err := writeFileAtomic(db.checkpointPath, append(data, '\n')); err != nil {
		return fmt.Errorf("writing the checkpoint file: %w", err)
	}
	db.wmu.Lock()
	db.latest = c
	db.wmu.Unlock()
	if _, err := db.sql.ExecContext(ctx, "INSERT INTO audit_checkpoints (seq, data) VALUES (?, ?)", c.Seq, string(data)); err != nil {
		return fmt.Errorf("storing checkpoint of event %d: %w", c.Seq, err)
	}
	return nil
}

// ReadAudit reads the log from one consistent view of the database,
// without holding up writers: it calls line for each event from seq from
// on and each stored checkpoint of those, in log order (a checkpoint right
// after the event it signs; one of an event the database lacks where that
// event would be), and then, if row is not nil, calls it for each
// restriction (d nil) and then each device (r nil) of the same view, one
// at a time, so that holding every row to the log takes no memory for the
// rows. seq is the event's, or the signed event's; data is valid only
// during the call. It implements the engine's Store.
func (db *DB) ReadAudit(ctx context.Context, from int64, line func(seq int64, data []byte, checkpoint bool) error,
	row func(r *curfew.Restriction, d *curfew.Device) error) error {
	v, err := db.readView(ctx)
	if err != nil {
		return err
	}
	defer v.close()
	if err := readLog(ctx, v.conn, from, line); err != nil {
		return err
	}
	if row == nil {
		return nil
	}
	if err := eachRestriction(ctx, v.conn, func(r *curfew.Restriction) error { return row(r, nil) }); err != nil {
		return err
	}
	ds, err := devices(ctx, v.conn, "")
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	for _, d := range ds {
		if err := row(nil, d); err != nil {
			return err
		}
	}
	return nil
}

// view is a connection in a read transaction: one snapshot of the WAL
// database, which holds up no writer.
type view struct {
	conn *sql.Conn
}

// readView returns a connection in a deferred read transaction, whose
// snapshot is taken at its first read (or start).
func (db *DB) readView(ctx context.Context) (*view, error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	// Reading the whole log through a memory map saves a system call per
	// page; the connection keeps the setting, which only makes reads
	// faster.
	for _, q := range []string{"PRAGMA mmap_size = 1073741824", "BEGIN DEFERRED"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
	}
	return &view{conn: conn}, nil
}

func (v *view) close() {
	v.conn.ExecContext(context.Background(), "ROLLBACK")
	v.conn.Close()
}

// readLog calls line for each event from seq from on and each stored
// checkpoint of those, in log order.
func readLog(ctx context.Context, conn *sql.Conn, from int64, line func(seq int64, data []byte, checkpoint bool) error) error {
	type stored struct {
		seq  int64
		data []byte
	}
	var cps []stored
	rows, err := conn.QueryContext(ctx, "SELECT seq, data FROM audit_checkpoints WHERE seq >= ? ORDER BY seq", from)
	if err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	for rows.Next() {
		var c stored
		if err := rows.Scan(&c.seq, &c.data); err != nil {
			rows.Close()
			return fmt.Errorf("reading checkpoints: %w", err)
		}
		cps = append(cps, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	rows.Close()

	rows, err = conn.QueryContext(ctx, "SELECT seq, data FROM audit_events WHERE seq >= ? ORDER BY seq", from)
	if err != nil {
		return fmt.Errorf("reading audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq  int64
			data sql.RawBytes
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return fmt.Errorf("reading audit events: %w", err)
		}
		for len(cps) > 0 && cps[0].seq < seq {
			// Signs an event that is missing: it goes where that event was.
			if err := line(cps[0].seq, cps[0].data, true); err != nil {
				return err
			}
			cps = cps[1:]
		}
		if err := line(seq, data, false); err != nil {
			return err
		}
		for len(cps) > 0 && cps[0].seq == seq {
			if err := line(cps[0].seq, cps[0].data, true); err != nil {
				return err
			}
			cps = cps[1:]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading audit events: %w", err)
	}
	rows.Close()
	for _, c := range cps {
		if err := line(c.seq, c.data, true); err != nil {
			return err
		}
	}
	return nil
}

// readCheckpointFile reads and decodes the checkpoint file at path: nil if
// path is empty or there is no file yet. It does not check the signature,
// which the store cannot: the key is not its to hold.
func readCheckpointFile(path string) (*audit.Checkpoint, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint file: %w", err)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	c, err := audit.ParseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint file %s: %w", path, err)
	}
	return c, nil
}

// loadCheckpoint sets db.latest to the newest of file (the checkpoint
// file's content) and the database's checkpoints, and refuses a database
// whose log is empty while the file signs events: a new or emptied
// database in place of the one the file belongs to.
func (db *DB) loadCheckpoint(ctx context.Context, file *audit.Checkpoint) error {
	stored, err := newestCheckpoint(ctx, db.sql)
	if err != nil {
		return err
	}
	db.latest = file
	if stored != nil && (file == nil || stored.Seq > file.Seq) {
		db.latest = stored
	}
	if file == nil {
		return nil
	}
	head, err := lastEvent(ctx, db.sql)
	if err != nil {
		return err
	}
	if head.Seq == 0 {
		return fmt.Errorf("%w: its audit log is empty, but the checkpoint file %s signs event %d: it is a new or emptied database, not the one the checkpoint belongs to",
			ErrCorrupt, db.checkpointPath, file.Seq)
	}
	return nil
}

// writeFileAtomic replaces the file at path with data, mode 0600: a reader
// sees the old content or the new, never a mix, and the new content is on
// disk when it returns. An empty path writes nothing.
func writeFileAtomic(path string, data []byte) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
