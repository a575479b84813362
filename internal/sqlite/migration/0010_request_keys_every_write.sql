-- Every state-changing request may carry an Idempotency-Key, not only a
-- restrict: the key is recorded, in the transaction of the change, with
-- what the change did (its audit entry's action and target) and a
-- fingerprint of what the request asked for, so that a retry finds the
-- change it made and a key reused for another request is refused.
-- Restrict keys from before keep their restriction as their target and
-- have no fingerprint: their reuse is refused like any other.
CREATE TABLE request_keys_0010 (
	actor       TEXT NOT NULL, -- the operator who sent the request
	key         TEXT NOT NULL,
	action      TEXT NOT NULL, -- the audit action of the change
	target      TEXT NOT NULL, -- what it acted on, as its audit entry names it
	fingerprint TEXT NOT NULL, -- of the request; '' for a key from before 0010
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (actor, key)
) STRICT;

INSERT INTO request_keys_0010 (actor, key, action, target, fingerprint, created_at)
	SELECT author, key, 'restriction.create', CAST(restriction_id AS TEXT), '', created_at FROM request_keys;
DROP TABLE request_keys;
ALTER TABLE request_keys_0010 RENAME TO request_keys;
