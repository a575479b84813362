-- The index the console's device search reads (FindDevices): one row per
-- device with the text a search may match, its MAC, name, owner and
-- static addresses, separated by char(30), which a search cannot hold.
-- The trigram tokenizer answers LIKE '%...%' from the index for three
-- characters or more, whatever their case, so a search costs about the
-- same with a hundred devices or a hundred thousand. Triggers keep it equal
-- to devices and device_addrs; rows are found by their MAC through the
-- index too, never by rowid, which VACUUM may renumber.

CREATE VIRTUAL TABLE device_search USING fts5 (mac, text, tokenize = 'trigram');

INSERT INTO device_search (mac, text)
	SELECT d.mac, d.mac || char(30) || d.name || char(30) || coalesce(d.owner, '') || char(30) ||
		coalesce((SELECT group_concat(a.addr, char(30)) FROM device_addrs a WHERE a.mac = d.mac), '')
	FROM devices d;

CREATE TRIGGER device_search_insert AFTER INSERT ON devices BEGIN
	INSERT INTO device_search (mac, text)
		VALUES (new.mac, new.mac || char(30) || new.name || char(30) || coalesce(new.owner, '') || char(30));
END;

CREATE TRIGGER device_search_delete AFTER DELETE ON devices BEGIN
	DELETE FROM device_search WHERE rowid IN
		(SELECT rowid FROM device_search WHERE device_search MATCH 'mac : "' || old.mac || '"' AND mac = old.mac);
END;

CREATE TRIGGER device_search_update AFTER UPDATE ON devices BEGIN
	DELETE FROM device_search WHERE rowid IN
		(SELECT rowid FROM device_search WHERE device_search MATCH 'mac : "' || old.mac || '"' AND mac = old.mac);
	INSERT INTO device_search (mac, text)
		SELECT d.mac, d.mac || char(30) || d.name || char(30) || coalesce(d.owner, '') || char(30) ||
			coalesce((SELECT group_concat(a.addr, char(30)) FROM device_addrs a WHERE a.mac = d.mac), '')
		FROM devices d WHERE d.mac = new.mac;
END;

CREATE TRIGGER device_search_addr_insert AFTER INSERT ON device_addrs BEGIN
	DELETE FROM device_search WHERE rowid IN
		(SELECT rowid FROM device_search WHERE device_search MATCH 'mac : "' || new.mac || '"' AND mac = new.mac);
	INSERT INTO device_search (mac, text)
		SELECT d.mac, d.mac || char(30) || d.name || char(30) || coalesce(d.owner, '') || char(30) ||
			coalesce((SELECT group_concat(a.addr, char(30)) FROM device_addrs a WHERE a.mac = d.mac), '')
		FROM devices d WHERE d.mac = new.mac;
END;

CREATE TRIGGER device_search_addr_delete AFTER DELETE ON device_addrs BEGIN
	DELETE FROM device_search WHERE rowid IN
		(SELECT rowid FROM device_search WHERE device_search MATCH 'mac : "' || old.mac || '"' AND mac = old.mac);
	INSERT INTO device_search (mac, text)
		SELECT d.mac, d.mac || char(30) || d.name || char(30) || coalesce(d.owner, '') || char(30) ||
			coalesce((SELECT group_concat(a.addr, char(30)) FROM device_addrs a WHERE a.mac = d.mac), '')
		FROM devices d WHERE d.mac = old.mac;
END;
