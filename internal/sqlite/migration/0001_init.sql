-- The initial schema. Timestamps are UTC Unix milliseconds in *_at columns;
-- a NULL *_at means "not yet".

CREATE TABLE persons (
	name       TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
	mac        TEXT PRIMARY KEY, -- canonical lowercase aa:bb:cc:dd:ee:ff
	name       TEXT NOT NULL DEFAULT '',
	owner      TEXT REFERENCES persons (name), -- NULL if unowned
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX devices_owner ON devices (owner);

-- Statically known addresses of a device, in the order they were given.
CREATE TABLE device_addrs (
	mac  TEXT NOT NULL REFERENCES devices (mac) ON DELETE CASCADE,
	pos  INTEGER NOT NULL,
	addr TEXT NOT NULL, -- netip.Addr text form
	PRIMARY KEY (mac, pos),
	UNIQUE (mac, addr)
) STRICT;

CREATE TABLE restrictions (
	id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	subject     TEXT NOT NULL,                     -- canonical written form
	mode        TEXT NOT NULL,
	allow       TEXT NOT NULL DEFAULT '[]',        -- JSON array of strings
	block       TEXT NOT NULL DEFAULT '[]',        -- JSON array of strings
	reason      TEXT NOT NULL,
	notice      TEXT NOT NULL DEFAULT '',
	author      TEXT NOT NULL,
	starts_at   INTEGER NOT NULL,
	ends_at     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	lifted_at   INTEGER,
	lifted_by   TEXT NOT NULL DEFAULT '',
	lift_reason TEXT NOT NULL DEFAULT '',
	expired_at  INTEGER
) STRICT;

-- The start-up query: every restriction neither lifted nor expired.
CREATE INDEX restrictions_open ON restrictions (id)
	WHERE lifted_at IS NULL AND expired_at IS NULL;
CREATE INDEX restrictions_subject ON restrictions (subject, id);

CREATE TABLE tokens (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE, -- SHA-256 of the secret
	created_at INTEGER NOT NULL
) STRICT;

-- The audit log. Each entry's hash is an HMAC over its fields and the
-- previous entry's hash; see audit.go.
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY, -- 1, 2, 3, …; assigned by the store
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL,
	reason    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
) STRICT;

-- The audit log is append-only. These triggers stop mistakes, not an
-- attacker: the hash chain is what detects deliberate edits.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit entries are append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit entries are append-only');
END;
