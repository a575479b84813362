package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Request returns the record of the change actor made with the
// idempotency key key, or an error wrapping curfew.ErrNotFound. It
// implements the engine's and the access component's Store.
func (db *DB) Request(ctx context.Context, actor, key string) (*curfew.KeyedRequest, error) {
	kr := &curfew.KeyedRequest{Actor: actor, Key: key}
	var (
		action  string
		created int64
	)
	err := db.sql.QueryRowContext(ctx, "SELECT action, target, fingerprint, created_at FROM request_keys WHERE actor = ? AND key = ?",
		actor, key).Scan(&action, &kr.Target, &kr.Fingerprint, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no request by %s with idempotency key %q", curfew.ErrNotFound, actor, key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading request key: %w", err)
	}
	kr.Action, kr.Created = curfew.Action(action), fromMillis(created)
	return kr, nil
}

// recordRequestKey records, in tx, the request key ctx carries (if any)
// as that of the change e records. A key its actor already used is
// curfew.ErrConflict.
func recordRequestKey(ctx context.Context, tx *sql.Tx, e *audit.Event) error {
	k, ok := curfew.RequestKeyFrom(ctx)
	if !ok {
		return nil
	}
	if err := curfew.CheckRequestKey(k.Key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO request_keys (actor, key, action, target, fingerprint, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, e.Actor, k.Key, string(e.Kind), requestTarget(e), k.Fingerprint, millis(e.At))
	if err != nil {
		return classify(err, fmt.Sprintf("request of %s with idempotency key %q", e.Actor, k.Key))
	}
	return nil
}

// requestTarget names what the change e records acted on, as a
// KeyedRequest's Target: the restriction's ID, the appeal's number, a
// device's MAC, a person's name, group:NAME, an operator's or a token's
// name.
func requestTarget(e *audit.Event) string {
	after, before := e.After, e.Before
	if after == nil {
		after = &audit.Fields{}
	}
	if before == nil {
		before = &audit.Fields{}
	}
	switch {
	case after.Appeal != 0: // an appeal posted or answered
		return strconv.FormatInt(after.Appeal, 10)
	case e.Restriction != 0:
		return strconv.FormatInt(int64(e.Restriction), 10)
	case e.Subject != "":
		subj, err := curfew.ParseSubject(e.Subject)
		switch {
		case err != nil:
			return e.Subject
		case subj.Kind == curfew.SubjectDevice:
			return subj.MAC.String()
		case subj.Kind == curfew.SubjectPerson:
			return subj.Name
		}
		return e.Subject
	}
	for _, s := range []string{after.Name, after.Token, before.Name, before.Token} {
		if s != "" {
			return s
		}
	}
	return ""
}
