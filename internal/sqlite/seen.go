package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// RecordSeen merges sightings into the seen-device table, then ages out and
// caps its unregistered rows by limits as of now, in one transaction. It
// returns the MACs seen for the first time, in the order of sightings. It
// records no audit entry: the table is what the gateway observed, not a
// change anyone made. It implements the engine's Store.
func (db *DB) RecordSeen(ctx context.Context, sightings []curfew.Sighting, limits curfew.SeenLimits, now time.Time) (fresh []net.HardwareAddr, err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback()
	get, err := tx.PrepareContext(ctx, "SELECT addrs, hostname, client_id, last_seen_at FROM seen_devices WHERE mac = ?")
	if err != nil {
		return nil, err
	}
	defer get.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO seen_devices (mac, first_seen_at, last_seen_at, addrs, hostname, client_id, random_mac)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mac) DO NOTHING`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, "UPDATE seen_devices SET last_seen_at = ?, addrs = ?, hostname = ?, client_id = ? WHERE mac = ?")
	if err != nil {
		return nil, err
	}
	defer upd.Close()
	for _, s := range sightings {
		if len(s.MAC) != 6 {
			continue
		}
		mac := s.MAC.String()
		addrs, _ := json.Marshal(mergeAddrs(nil, s.Addrs))
		res, err := ins.ExecContext(ctx, mac, millis(s.At), millis(s.At), string(addrs), s.Hostname, s.ClientID, curfew.RandomMAC(s.MAC))
		if err != nil {
			return nil, fmt.Errorf("recording seen device %s: %w", mac, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			fresh = append(fresh, s.MAC)
			continue
		}
		var (
			addrsJSON, hostname, clientID string
			last                          int64
		)
		if err := get.QueryRowContext(ctx, mac).Scan(&addrsJSON, &hostname, &clientID, &last); err != nil {
			return nil, fmt.Errorf("reading seen device %s: %w", mac, err)
		}
		var old []string
		_ = json.Unmarshal([]byte(addrsJSON), &old)
		var prev []netip.Addr
		for _, a := range old {
			if p, err := netip.ParseAddr(a); err == nil {
				prev = append(prev, p)
			}
		}
		addrs, _ = json.Marshal(mergeAddrs(prev, s.Addrs))
		if s.Hostname != "" {
			hostname = s.Hostname
		}
		if s.ClientID != "" {
			clientID = s.ClientID
		}
		if _, err := upd.ExecContext(ctx, max(last, millis(s.At)), string(addrs), hostname, clientID, mac); err != nil {
			return nil, fmt.Errorf("recording seen device %s: %w", mac, err)
		}
	}
	const unregistered = "mac NOT IN (SELECT mac FROM devices)"
	if limits.MaxAge > 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM seen_devices WHERE last_seen_at < ? AND "+unregistered, millis(now.Add(-limits.MaxAge))); err != nil {
			return nil, fmt.Errorf("ageing out seen devices: %w", err)
		}
	}
	if limits.MaxUnregistered > 0 {
		_, err := tx.ExecContext(ctx, `DELETE FROM seen_devices WHERE mac IN (
			SELECT mac FROM seen_devices WHERE `+unregistered+` ORDER BY last_seen_at DESC, mac LIMIT -1 OFFSET ?)`, limits.MaxUnregistered)
		if err != nil {
			return nil, fmt.Errorf("capping seen devices: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("committing seen devices: %w", err)
	}
	return fresh, nil
}

// mergeAddrs returns the new addresses first, then the previous ones, each
// once, at most curfew.MaxSeenAddrs.
func mergeAddrs(prev, add []netip.Addr) []string {
	var all []netip.Addr
	for _, a := range slices.Concat(add, prev) {
		if a.IsValid() && !slices.Contains(all, a) {
			all = append(all, a)
		}
	}
	if len(all) > curfew.MaxSeenAddrs {
		all = all[:curfew.MaxSeenAddrs]
	}
	out := make([]string, len(all))
	for i, a := range all {
		out[i] = a.String()
	}
	return out
}

// SeenDevices returns every seen device, sorted by MAC, with Registered
// set; Resembles is left to the caller. It implements the engine's Store.
func (db *DB) SeenDevices(ctx context.Context) ([]*curfew.SeenDevice, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT s.mac, s.first_seen_at, s.last_seen_at, s.addrs, s.hostname, s.client_id, d.mac IS NOT NULL
		FROM seen_devices s LEFT JOIN devices d ON d.mac = s.mac ORDER BY s.mac`)
	if err != nil {
		return nil, fmt.Errorf("listing seen devices: %w", err)
	}
	defer rows.Close()
	var out []*curfew.SeenDevice
	for rows.Next() {
		var (
			mac, addrs  string
			first, last int64
			d           curfew.SeenDevice
		)
		if err := rows.Scan(&mac, &first, &last, &addrs, &d.Hostname, &d.ClientID, &d.Registered); err != nil {
			return nil, fmt.Errorf("listing seen devices: %w", err)
		}
		if d.MAC, err = curfew.ParseMAC(mac); err != nil {
			return nil, fmt.Errorf("seen device %q: %w", mac, err)
		}
		d.FirstSeen, d.LastSeen = fromMillis(first), fromMillis(last)
		var as []string
		if err := json.Unmarshal([]byte(addrs), &as); err != nil {
			return nil, fmt.Errorf("seen device %s: addresses: %w", mac, err)
		}
		for _, s := range as {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("seen device %s: %w", mac, err)
			}
			d.Addrs = append(d.Addrs, a)
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}
