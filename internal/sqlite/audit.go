package sqlite

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/curfew/curfew/internal/curfew"
)

// GenerateKey returns a new random audit key of MinKeySize bytes. The
// daemon creates one at init, stores it in its state directory (mode 0600)
// and passes it to Open as Config.AuditKey ever after: entries hashed with
// another key do not verify.
func GenerateKey() ([]byte, error) {
	k := make([]byte, MinKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generating audit key: %w", err)
	}
	return k, nil
}

// entryHash returns the hex HMAC-SHA256, under key, of the fields of an
// audit entry and the previous entry's hash. Each field is encoded with
// its length first, so no two different entries encode alike.
func entryHash(key []byte, seq, atMillis int64, actor, action, target, reason, detail, prevHash string) string {
	m := hmac.New(sha256.New, key)
	putString(m, "curfew audit v1")
	putInt(m, seq)
	putInt(m, atMillis)
	for _, s := range []string{actor, action, target, reason, detail, prevHash} {
		putString(m, s)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func putInt(h hash.Hash, v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	h.Write(b[:])
}

func putString(h hash.Hash, s string) {
	putInt(h, int64(len(s)))
	h.Write([]byte(s))
}

// appendAudit fills in e's Seq, At (if zero), PrevHash and Hash and inserts
// it in tx. head is what the head file records: if the database's newest
// entry is older than the head, entries were deleted from its end, and the
// new entry is chained to the head instead, so that the deletion stays
// visible as a gap rather than being papered over.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, e *curfew.AuditEntry, head auditHead) error {
	var last auditHead
	err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last.Seq, &last.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reading the last audit entry: %w", err)
	}
	if head.Seq > last.Seq {
		last = head
	}
	if e.At.IsZero() {
		e.At = db.now()
	}
	at := e.At.UnixMilli()
	e.At = fromMillis(at)
	e.Seq = last.Seq + 1
	e.PrevHash = last.Hash
	e.Hash = entryHash(db.key, e.Seq, at, e.Actor, string(e.Action), e.Target, e.Reason, e.Detail, e.PrevHash)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit (seq, at, actor, action, target, reason, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, at, e.Actor, string(e.Action), e.Target, e.Reason, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("recording audit entry: %w", err)
	}
	return nil
}

const auditColumns = "seq, at, actor, action, target, reason, detail, prev_hash, hash"

func scanAudit(rows *sql.Rows) (*curfew.AuditEntry, int64, error) {
	var (
		e      curfew.AuditEntry
		at     int64
		action string
	)
	if err := rows.Scan(&e.Seq, &at, &e.Actor, &action, &e.Target, &e.Reason, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, 0, fmt.Errorf("reading audit entry: %w", err)
	}
	e.Action = curfew.Action(action)
	e.At = fromMillis(at)
	return &e, at, nil
}

// Audit returns the audit log, by ascending Seq. It implements the engine's
// Store.
func (db *DB) Audit(ctx context.Context) ([]*curfew.AuditEntry, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	defer rows.Close()
	var es []*curfew.AuditEntry
	for rows.Next() {
		e, _, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return es, nil
}

// VerifyAudit walks the whole audit chain and reports the first break: an
// entry whose hash does not match its fields (it was edited, or the key is
// wrong), one whose PrevHash is not its predecessor's hash, a gap in the
// sequence numbers, or, against the head file, entries missing from the
// end or a different newest entry. Entries in the report counts the entries
// found intact before the first break. A database ahead of the head file
// (a crash between a commit and the file rewrite) is intact, and the file
// is brought up to date. It implements the engine's Store.
//
// The error is for failures to read; a broken chain is a report with OK
// false.
func (db *DB) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()

	head, err := db.readHead()
	if err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("reading audit entries: %w", err)
	}
	defer rows.Close()

	rep := &curfew.AuditReport{}
	var (
		prev    auditHead // the last entry checked
		atHead  string    // hash of the entry at head.Seq, if seen
		problem string
	)
	for rows.Next() && problem == "" {
		e, at, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		want := entryHash(db.key, e.Seq, at, e.Actor, string(e.Action), e.Target, e.Reason, e.Detail, e.PrevHash)
		switch {
		case e.Seq > prev.Seq+1:
			problem = fmt.Sprintf("entry %d: missing (gap in sequence: entry %d follows entry %d)", prev.Seq+1, e.Seq, prev.Seq)
		case e.Seq != prev.Seq+1:
			problem = fmt.Sprintf("entry %d: unexpected sequence number after entry %d", e.Seq, prev.Seq)
		case !hmac.Equal([]byte(want), []byte(e.Hash)):
			problem = fmt.Sprintf("entry %d: hash does not match its contents (the entry was edited, or the audit key is wrong)", e.Seq)
		case e.PrevHash != prev.Hash:
			problem = fmt.Sprintf("entry %d: broken link: its previous hash is not the hash of entry %d", e.Seq, prev.Seq)
		default:
			rep.Entries++
			prev = auditHead{Seq: e.Seq, Hash: e.Hash}
			if e.Seq == head.Seq {
				atHead = e.Hash
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading audit entries: %w", err)
	}
	switch {
	case problem != "":
	case head.Seq > prev.Seq:
		problem = fmt.Sprintf("entry %d: missing (truncated: the log ends at entry %d but the head file records entry %d)", prev.Seq+1, prev.Seq, head.Seq)
	case head.Seq > 0 && atHead != head.Hash:
		problem = fmt.Sprintf("entry %d: hash differs from the one the head file records", head.Seq)
		rep.Entries = head.Seq - 1
	}
	if problem != "" {
		rep.Problem = problem
		return rep, nil
	}
	rep.OK = true
	if prev.Seq > head.Seq {
		if err := db.writeHead(prev); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// auditHead is the newest audit entry, as recorded in the head file.
type auditHead struct {
	Seq  int64
	Hash string
}

// readHead reads the head file. A missing file (no HeadPath, no entry
// yet, or a crash before the first rewrite) is the zero head.
func (db *DB) readHead() (auditHead, error) {
	return readHeadFile(db.headPath)
}

// readHeadFile reads the head file at path, as readHead does; an empty
// path is the zero head.
func readHeadFile(path string) (auditHead, error) {
	if path == "" {
		return auditHead{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return auditHead{}, nil
	}
	if err != nil {
		return auditHead{}, fmt.Errorf("reading audit head: %w", err)
	}
	f := strings.Fields(string(b))
	var h auditHead
	if len(f) == 2 {
		h.Seq, err = strconv.ParseInt(f[0], 10, 64)
		h.Hash = f[1]
	}
	if len(f) != 2 || err != nil || h.Seq < 1 || len(h.Hash) != 2*sha256.Size {
		return auditHead{}, fmt.Errorf("reading audit head %s: malformed content %q", path, b)
	}
	if _, err := hex.DecodeString(h.Hash); err != nil {
		return auditHead{}, fmt.Errorf("reading audit head %s: malformed content %q", path, b)
	}
	return h, nil
}

// writeHead replaces the head file with h atomically: a reader sees the old
// content or the new, never a mix.
func (db *DB) writeHead(h auditHead) error {
	if db.headPath == "" {
		return nil
	}
	dir := filepath.Dir(db.headPath)
	f, err := os.CreateTemp(dir, "."+filepath.Base(db.headPath)+".*")
	if err != nil {
		return fmt.Errorf("writing audit head: %w", err)
	}
	tmp := f.Name()
	_, err = fmt.Fprintf(f, "%d %s\n", h.Seq, h.Hash)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, db.headPath)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing audit head: %w", err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
