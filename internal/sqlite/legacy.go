package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// legacyMigration is the migration that carries the first release's audit
// log into the new one.
const legacyMigration = 7

// upgradeLegacy carries the first release's audit log (table audit: an
// HMAC chain over prose) into audit_events, in tx, the transaction of
// migration 7, and drops the old table. It verifies the old chain once,
// with its key and head file, and records:
//
//   - each old entry as an event of kind legacy, its fields as they were;
//   - an audit.upgraded event saying how many entries there were and how
//     many verified, so that a log already broken stays broken;
//   - each restriction and device as restriction.imported and
//     device.imported events, so that the state, which the old log
//     described only in prose, can be held to the log from then on.
//
// A new database has no old entries and gets no event.
func (db *DB) upgradeLegacy(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT seq, at, actor, action, target, reason, detail, prev_hash, hash FROM audit ORDER BY seq")
	if err != nil {
		return fmt.Errorf("reading the first release's audit log: %w", err)
	}
	var es []audit.LegacyEntry
	for rows.Next() {
		var (
			e  audit.LegacyEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Reason, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			rows.Close()
			return fmt.Errorf("reading the first release's audit log: %w", err)
		}
		e.At = fromMillis(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the first release's audit log: %w", err)
	}
	rows.Close()
	head, err := readLegacyHead(db.legacyHeadPath)
	if err != nil {
		return err
	}
	if len(es) > 0 || head.Seq > 0 {
		if len(db.legacyKey) == 0 {
			return fmt.Errorf("%w: the database holds the audit log of curfew's first release (%d entries): its key (audit.key) is needed to carry it over",
				curfew.ErrInvalid, len(es))
		}
		total, intact := audit.VerifyLegacy(db.legacyKey, es, head)
		now := db.now()
		var evs []*audit.Event
		for i := range es {
			evs = append(evs, audit.LegacyEvent(&es[i]))
		}
		evs = append(evs, &audit.Event{At: now, Kind: audit.KindAuditUpgraded, Actor: audit.System,
			After: &audit.Fields{LegacyEntries: total, LegacyIntact: intact}})
		rs, err := restrictions(ctx, tx, curfew.RestrictionFilter{All: true})
		if err != nil {
			return err
		}
		for _, r := range rs {
			evs = append(evs, &audit.Event{At: now, Kind: audit.KindRestrictionImported, Actor: audit.System,
				Subject: r.Subject.String(), Restriction: r.ID, After: audit.RestrictionFields(r)})
		}
		ds, err := devices(ctx, tx, "")
		if err != nil {
			return fmt.Errorf("listing devices: %w", err)
		}
		for _, d := range ds {
			evs = append(evs, &audit.Event{At: now, Kind: audit.KindDeviceImported, Actor: audit.System,
				Subject: audit.DeviceSubject(d), After: audit.DeviceFields(d)})
		}
		if err := db.appendEvents(ctx, tx, evs); err != nil {
			return err
		}
		db.logger.InfoContext(ctx, "carried the first release's audit log into the new one",
			"entries", total, "verified", intact, "restrictions", len(rs), "devices", len(ds))
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE audit"); err != nil {
		return fmt.Errorf("dropping the first release's audit table: %w", err)
	}
	return nil
}

// readLegacyHead reads the first release's head file, "SEQ HASH". A
// missing file (or path) records no entry.
func readLegacyHead(path string) (audit.LegacyHead, error) {
	if path == "" {
		return audit.LegacyHead{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return audit.LegacyHead{}, nil
	}
	if err != nil {
		return audit.LegacyHead{}, fmt.Errorf("reading the first release's audit head: %w", err)
	}
	f := strings.Fields(string(b))
	var h audit.LegacyHead
	if len(f) == 2 {
		h.Seq, err = strconv.ParseInt(f[0], 10, 64)
		h.Hash = f[1]
	}
	if _, herr := hex.DecodeString(h.Hash); len(f) != 2 || err != nil || herr != nil || h.Seq < 1 || len(h.Hash) != 2*sha256.Size {
		return audit.LegacyHead{}, fmt.Errorf("reading the first release's audit head %s: malformed content %q", path, b)
	}
	return h, nil
}
