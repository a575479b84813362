-- Groups of persons and devices, and the devices the gateway has seen on
-- the LAN, registered or not.

CREATE TABLE groups (
	name       TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL
) STRICT;

-- A member is a subject in its canonical written form: person:NAME or
-- device:MAC. A device member need not be registered.
CREATE TABLE group_members (
	group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	member     TEXT NOT NULL,
	added_at   INTEGER NOT NULL,
	PRIMARY KEY (group_name, member)
) STRICT;

CREATE INDEX group_members_member ON group_members (member);

-- Every MAC the gateway has seen on a LAN interface (neighbour table, DHCP
-- leases). Bounded by the daemon: unregistered entries age out and their
-- number is capped; see docs/operation.md.
CREATE TABLE seen_devices (
	mac           TEXT PRIMARY KEY, -- canonical lowercase aa:bb:cc:dd:ee:ff
	first_seen_at INTEGER NOT NULL,
	last_seen_at  INTEGER NOT NULL,
	addrs         TEXT NOT NULL DEFAULT '[]', -- JSON array of netip.Addr text forms
	hostname      TEXT NOT NULL DEFAULT '',   -- from its DHCP lease
	client_id     TEXT NOT NULL DEFAULT '',   -- DHCP client identifier
	random_mac    INTEGER NOT NULL            -- 1 if locally administered
) STRICT;

CREATE INDEX seen_devices_last ON seen_devices (last_seen_at);
