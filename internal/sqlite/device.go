package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Devices returns every device, sorted by MAC. It implements the engine's
// Store.
func (db *DB) Devices(ctx context.Context) ([]*curfew.Device, error) {
	ds, err := devices(ctx, db.sql, "")
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	return ds, nil
}

// Device returns one device or an error wrapping curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) Device(ctx context.Context, mac net.HardwareAddr) (*curfew.Device, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("%w: MAC address %q: want six octets", curfew.ErrInvalid, mac)
	}
	ds, err := devices(ctx, db.sql, mac.String())
	if err != nil {
		return nil, fmt.Errorf("reading device %s: %w", mac, err)
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: device %s", curfew.ErrNotFound, mac)
	}
	return ds[0], nil
}

// FindDevices returns the page of devices q selects, sorted by MAC, and
// how many it matches, from one consistent view. It reads the page's rows
// only: the MAC's primary key orders them, devices_owner finds an owner's
// and the trigram index of device_search (migration 0013) a search's. It
// implements the engine's Store.
func (db *DB) FindDevices(ctx context.Context, q curfew.DeviceQuery) (*curfew.DevicePage, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var (
		conds []string
		args  []any
	)
	if q.Owner != "" {
		conds = append(conds, "d.owner = ?")
		args = append(args, q.Owner)
	}
	if q.Search != "" {
		// device_search holds each device's MAC, name, owner and
		// addresses; its trigram index
		// answers the LIKE; with an ESCAPE clause it reads every row, so
		// it has one only when the search holds a wildcard character.
		pat, escaped := likePattern(q.Search)
		like := "text LIKE ?"
		if escaped {
			like += ` ESCAPE '\'`
		}
		conds = append(conds, "d.mac IN (SELECT mac FROM device_search WHERE "+like+")")
		args = append(args, pat)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("finding devices: %w", err)
	}
	defer tx.Rollback()
	page := &curfew.DevicePage{}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices d"+where, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("counting devices: %w", err)
	}
	if q.Offset < page.Total {
		from := "(SELECT * FROM devices d" + where + " ORDER BY d.mac LIMIT ? OFFSET ?)"
		if page.Devices, err = devicesFrom(ctx, tx, from, append(args, q.Limit, q.Offset)...); err != nil {
			return nil, fmt.Errorf("finding devices: %w", err)
		}
	}
	return page, nil
}

// likePattern returns the LIKE pattern that matches any text holding s,
// and whether it escapes a wildcard of s (with a backslash), which the LIKE must
// then say.
func likePattern(s string) (string, bool) {
	if !strings.ContainsAny(s, `%_\`) {
		return "%" + s + "%", false
	}
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%", true
}

// devices reads the device with MAC mac, or every device if mac is empty,
// with their addresses in one query, so the result is one consistent view.
func devices(ctx context.Context, qr querier, mac string) ([]*curfew.Device, error) {
	if mac != "" {
		return devicesFrom(ctx, qr, "(SELECT * FROM devices WHERE mac = ?)", mac)
	}
	return devicesFrom(ctx, qr, "devices")
}

// devicesFrom reads the devices of from, a table or a subquery taking
// args, with their addresses in one query, sorted by MAC.
func devicesFrom(ctx context.Context, qr querier, from string, args ...any) ([]*curfew.Device, error) {
	q := `SELECT d.mac, d.name, d.owner, d.created_at, a.addr
		FROM ` + from + ` d LEFT JOIN device_addrs a ON a.mac = d.mac
		ORDER BY d.mac, a.pos`
	rows, err := qr.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		ds   []*curfew.Device
		last string
	)
	for rows.Next() {
		var (
			m, name string
			owner   sql.NullString
			created int64
			addr    sql.NullString
		)
		if err := rows.Scan(&m, &name, &owner, &created, &addr); err != nil {
			return nil, err
		}
		if m != last || len(ds) == 0 {
			hw, err := curfew.ParseMAC(m)
			if err != nil {
				return nil, err
			}
			ds = append(ds, &curfew.Device{MAC: hw, Name: name, Owner: owner.String, Created: fromMillis(created)})
			last = m
		}
		if addr.Valid {
			a, err := netip.ParseAddr(addr.String)
			if err != nil {
				return nil, fmt.Errorf("device %s: %w", m, err)
			}
			d := ds[len(ds)-1]
			d.Addrs = append(d.Addrs, a)
		}
	}
	return ds, rows.Err()
}

// CreateDevice stores d and records ev, in one transaction. A duplicate MAC
// is curfew.ErrConflict, an unknown owner curfew.ErrNotFound. It implements
// the engine's Store.
func (db *DB) CreateDevice(ctx context.Context, d *curfew.Device, ev *audit.Event) error {
	if d == nil || len(d.MAC) != 6 {
		return fmt.Errorf("%w: device without a six-octet MAC address", curfew.ErrInvalid)
	}
	mac := d.MAC.String()
	owner := sql.NullString{String: d.Owner, Valid: d.Owner != ""}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if owner.Valid {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM persons WHERE name = ?", d.Owner).Scan(&n); err != nil {
				return fmt.Errorf("looking up owner of device %s: %w", mac, err)
			}
			if n == 0 {
				return fmt.Errorf("%w: owner %q of device %s: no such person", curfew.ErrNotFound, d.Owner, mac)
			}
		}
		return insertDevice(ctx, tx, d)
	})
}

// insertDevice inserts d and its addresses in tx.
func insertDevice(ctx context.Context, tx *sql.Tx, d *curfew.Device) error {
	mac := d.MAC.String()
	owner := sql.NullString{String: d.Owner, Valid: d.Owner != ""}
	_, err := tx.ExecContext(ctx, "INSERT INTO devices (mac, name, owner, created_at) VALUES (?, ?, ?, ?)",
		mac, d.Name, owner, millis(d.Created))
	if err != nil {
		return classify(err, "device "+mac)
	}
	for i, addr := range d.Addrs {
		if !addr.IsValid() {
			return fmt.Errorf("%w: device %s: invalid address", curfew.ErrInvalid, mac)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO device_addrs (mac, pos, addr) VALUES (?, ?, ?)", mac, i, addr.String())
		if err != nil {
			return classify(err, "address "+addr.String()+" of device "+mac)
		}
	}
	return nil
}

// RepairDevice makes the row of the device with mac what the log says, d,
// and records ev, in one transaction: it replaces the row, adds it if it
// was deleted, or, if d is nil (the log never recorded it), removes it. It
// implements the engine's Store.
func (db *DB) RepairDevice(ctx context.Context, mac net.HardwareAddr, d *curfew.Device, ev *audit.Event) error {
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE mac = ?", mac.String()); err != nil {
			return fmt.Errorf("repairing device %s: %w", mac, err)
		}
		if d == nil {
			return nil
		}
		return insertDevice(ctx, tx, d)
	})
}

// Persons returns every person, sorted by name. It implements the engine's
// Store.
func (db *DB) Persons(ctx context.Context) ([]*curfew.Person, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT name, created_at FROM persons ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing persons: %w", err)
	}
	defer rows.Close()
	var ps []*curfew.Person
	for rows.Next() {
		var (
			p       curfew.Person
			created int64
		)
		if err := rows.Scan(&p.Name, &created); err != nil {
			return nil, fmt.Errorf("listing persons: %w", err)
		}
		p.Created = fromMillis(created)
		ps = append(ps, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing persons: %w", err)
	}
	return ps, nil
}

// FindPersons returns the page of persons q selects, sorted by name, and
// how many it matches, from one consistent view; the name's primary key
// orders them. It implements the engine's Store.
func (db *DB) FindPersons(ctx context.Context, q curfew.PersonQuery) (*curfew.PersonPage, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	where := ""
	var args []any
	if q.Search != "" {
		pat, escaped := likePattern(q.Search)
		where = " WHERE name LIKE ?"
		if escaped {
			where += ` ESCAPE '\'`
		}
		args = append(args, pat)
	}
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("finding persons: %w", err)
	}
	defer tx.Rollback()
	page := &curfew.PersonPage{}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM persons"+where, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("counting persons: %w", err)
	}
	if q.Offset >= page.Total {
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT name, created_at FROM persons"+where+" ORDER BY name LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("finding persons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p       curfew.Person
			created int64
		)
		if err := rows.Scan(&p.Name, &created); err != nil {
			return nil, fmt.Errorf("finding persons: %w", err)
		}
		p.Created = fromMillis(created)
		page.Persons = append(page.Persons, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding persons: %w", err)
	}
	return page, nil
}

// Person returns one person or an error wrapping curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) Person(ctx context.Context, name string) (*curfew.Person, error) {
	var created int64
	err := db.sql.QueryRowContext(ctx, "SELECT created_at FROM persons WHERE name = ?", name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: person %q", curfew.ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading person %q: %w", name, err)
	}
	return &curfew.Person{Name: name, Created: fromMillis(created)}, nil
}

// CreatePerson stores p and records ev, in one transaction. A duplicate name
// is curfew.ErrConflict. It implements the engine's Store.
func (db *DB) CreatePerson(ctx context.Context, p *curfew.Person, ev *audit.Event) error {
	if p == nil || p.Name == "" {
		return fmt.Errorf("%w: person without a name", curfew.ErrInvalid)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO persons (name, created_at) VALUES (?, ?)", p.Name, millis(p.Created))
		if err != nil {
			return classify(err, fmt.Sprintf("person %q", p.Name))
		}
		return nil
	})
}

// DeleteDevice removes the device with mac, its addresses and its group
// memberships and records ev, in one transaction. An unknown MAC is curfew.ErrNotFound. It
// implements the engine's Store.
func (db *DB) DeleteDevice(ctx context.Context, mac net.HardwareAddr, ev *audit.Event) error {
	if len(mac) != 6 {
		return fmt.Errorf("%w: MAC address %q: want six octets", curfew.ErrInvalid, mac)
	}
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE mac = ?", mac.String())
		if err != nil {
			return fmt.Errorf("deleting device %s: %w", mac, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: device %s", curfew.ErrNotFound, mac)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE member = ?", "device:"+mac.String()); err != nil {
			return fmt.Errorf("removing device %s from its groups: %w", mac, err)
		}
		return nil
	})
}

// DeletePerson removes person name and its group memberships and records
// ev, in one transaction. The person's devices stay, without owner. An unknown name is
// curfew.ErrNotFound. It implements the engine's Store.
func (db *DB) DeletePerson(ctx context.Context, name string, ev *audit.Event) error {
	return db.write(ctx, []*audit.Event{ev}, func(tx *sql.Tx, _ []*audit.Event) error {
		if _, err := tx.ExecContext(ctx, "UPDATE devices SET owner = NULL WHERE owner = ?", name); err != nil {
			return fmt.Errorf("disowning the devices of person %q: %w", name, err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM persons WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("deleting person %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: person %q", curfew.ErrNotFound, name)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE member = ?", "person:"+name); err != nil {
			return fmt.Errorf("removing person %q from its groups: %w", name, err)
		}
		return nil
	})
}
