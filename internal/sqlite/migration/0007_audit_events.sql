-- The audit log as typed events (package audit). Each row holds one event's
-- canonical encoding, exactly as the audit package wrote it: the next
-- event's hash link covers these bytes, so they are never rewritten. The
-- store keeps them and knows nothing of hashing.
CREATE TABLE audit_events (
	seq  INTEGER PRIMARY KEY, -- 1, 2, 3, …, as in the event itself
	data TEXT NOT NULL        -- canonical JSON, printable ASCII
) STRICT;

-- Signed checkpoints of the log's head, one per event signed. The newest
-- is also kept in a file beside the database (see audit.go).
CREATE TABLE audit_checkpoints (
	seq  INTEGER PRIMARY KEY, -- the event it signs
	data TEXT NOT NULL        -- canonical JSON
) STRICT;

-- Both are append-only. These triggers stop mistakes, not an attacker: the
-- chain and the signatures are what detect deliberate edits.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

-- The first release's log, the table audit, is carried into audit_events
-- by the Go part of this migration (upgradeLegacy in legacy.go), in this
-- same transaction, and then dropped with its triggers.
