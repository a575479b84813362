-- The console's People page names the first devices of every person it
-- shows, sorted by MAC, in one query (FindPersons with Devices): an index
-- on (owner, mac) hands each owner's devices over in that order, so the
-- query reads those rows only and sorts nothing. It serves everything
-- devices_owner served, which it replaces.

CREATE INDEX devices_owner_mac ON devices (owner, mac);
DROP INDEX devices_owner;
