-- A throttle holds its subject's traffic to a rate, in bits per second
-- each way; 0 for every other mode and for every restriction from before.
ALTER TABLE restrictions ADD COLUMN rate INTEGER NOT NULL DEFAULT 0 CHECK (rate >= 0);
