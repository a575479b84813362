-- Operators become records of their own, and a token belongs to one.
-- Every token of an older database becomes an operator of its name and
-- role, with the token kept as that operator's live token.

CREATE TABLE operators (
	name               TEXT PRIMARY KEY,
	role               TEXT NOT NULL,
	created_at         INTEGER NOT NULL,
	created_by         TEXT NOT NULL DEFAULT '',
	password           TEXT,                       -- argon2id, PHC string form; NULL: no console login
	password_temporary INTEGER NOT NULL DEFAULT 0, -- 1: a one-time password, to be changed at first login
	disabled_at        INTEGER,                    -- NULL while enabled
	disabled_by        TEXT NOT NULL DEFAULT '',
	disable_reason     TEXT NOT NULL DEFAULT ''
) STRICT;

INSERT INTO operators (name, role, created_at) SELECT name, role, created_at FROM tokens;

-- A revoked token stays, for the record; an operator has at most one live
-- token, named after it.
CREATE TABLE tokens_v3 (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL REFERENCES operators (name),
	role       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE, -- SHA-256 of the secret
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	revoked_at INTEGER,              -- NULL while live
	revoked_by TEXT NOT NULL DEFAULT ''
) STRICT;

INSERT INTO tokens_v3 (name, role, hash, created_at)
	SELECT name, role, hash, created_at FROM tokens ORDER BY created_at, name;
DROP TABLE tokens;
ALTER TABLE tokens_v3 RENAME TO tokens;

CREATE UNIQUE INDEX tokens_live ON tokens (name) WHERE revoked_at IS NULL;
