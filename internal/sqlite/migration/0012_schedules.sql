-- Schedules: a window that recurs on some days, from and to a local time
-- in a zone, until a date. Each window, once open, is a restriction whose
-- schedule_id names its schedule; a window is stored once (the unique
-- index), however often the gateway restarts during it.
CREATE TABLE schedules (
	id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	subject       TEXT NOT NULL,                     -- canonical written form
	days          TEXT NOT NULL,                     -- curfew.Days written form: daily, mon-thu,sun, …
	from_clock    TEXT NOT NULL,                     -- HH:MM local
	to_clock      TEXT NOT NULL,                     -- HH:MM local; not after from_clock: the next day
	zone          TEXT NOT NULL,                     -- IANA name
	until_at      INTEGER NOT NULL,
	mode          TEXT NOT NULL,
	allow         TEXT NOT NULL DEFAULT '[]',        -- JSON array of strings
	block         TEXT NOT NULL DEFAULT '[]',        -- JSON array of strings
	rate          INTEGER NOT NULL DEFAULT 0,        -- throttle: bits per second each way
	reason        TEXT NOT NULL,
	notice        TEXT NOT NULL DEFAULT '',
	author        TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	removed_at    INTEGER,
	removed_by    TEXT NOT NULL DEFAULT '',
	remove_reason TEXT NOT NULL DEFAULT ''
) STRICT;

ALTER TABLE restrictions ADD COLUMN schedule_id INTEGER REFERENCES schedules (id);

CREATE UNIQUE INDEX restrictions_window ON restrictions (schedule_id, starts_at)
	WHERE schedule_id IS NOT NULL;
