-- Appeals: questions restricted persons send the operators from the notice
-- page, and the operators' answers.

CREATE TABLE appeals (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	sender       TEXT NOT NULL,             -- device:MAC, or ip:ADDR for a client known only by address
	addr         TEXT NOT NULL,             -- netip.Addr text form: where it was sent from
	restrictions TEXT NOT NULL DEFAULT '[]', -- JSON array of the restriction ids in force when it was sent
	message      TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	answer       TEXT NOT NULL DEFAULT '',
	answered_at  INTEGER,
	answered_by  TEXT NOT NULL DEFAULT ''
) STRICT;

-- A client's own appeals, for its notice page and its rate limit.
CREATE INDEX appeals_sender ON appeals (sender, created_at);
