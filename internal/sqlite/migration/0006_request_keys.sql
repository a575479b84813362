-- The Idempotency-Key a restriction's author sent with it: a retry of the
-- same request with the same key finds the restriction instead of
-- creating another. Written in the transaction that creates the
-- restriction, so a request that was committed before a crash is found by
-- its retry.
CREATE TABLE request_keys (
	author         TEXT NOT NULL,
	key            TEXT NOT NULL,
	restriction_id INTEGER NOT NULL REFERENCES restrictions (id),
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (author, key)
) STRICT;
