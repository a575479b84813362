//go:build linux

// Package neighbor maps client addresses to MAC addresses from the
// kernel's neighbour table (ARP for IPv4, NDP for IPv6), for the enforcers
// that see a client only by the source address of its packets: the
// resolver and the notice server.
//
// A Table keeps a copy of the neighbour table and refreshes it on a miss
// (at most every MinRefresh) and in the background, so that a lookup on a
// query's path costs a map read.
package neighbor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config configures a Table.
type Config struct {
	// Logger receives refresh failures. Nil discards.
	Logger *slog.Logger
	// Interfaces limits the table to neighbours on these interfaces (the
	// LAN); empty means every interface.
	Interfaces []string
	// NetNS is a namespace file descriptor; 0 or -1 means the process's.
	NetNS int
	// MinRefresh is the shortest time between two reads of the kernel's
	// table on lookup misses; the default is 250 ms.
	MinRefresh time.Duration
}

// Table is a cached view of the neighbour table. It is safe for concurrent
// use.
type Table struct {
	logger *slog.Logger
	ifaces map[string]bool
	handle *netlink.Handle
	min    time.Duration

	mu      sync.RWMutex // guards the fields below
	byAddr  map[netip.Addr]net.HardwareAddr
	fetched time.Time
}

// New returns a Table; it reads the kernel's table once.
func New(c *Config) (*Table, error) {
	ns := netns.None()
	if c.NetNS > 0 {
		ns = netns.NsHandle(c.NetNS)
	}
	var h *netlink.Handle
	var err error
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("opening netlink handle: %w", err)
	}
	t := &Table{logger: c.Logger, handle: h, min: c.MinRefresh, ifaces: map[string]bool{}}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	if t.min <= 0 {
		t.min = 250 * time.Millisecond
	}
	for _, name := range c.Interfaces {
		t.ifaces[name] = true
	}
	if err := t.Refresh(); err != nil {
		h.Close()
		return nil, err
	}
	return t, nil
}

// Lookup returns the MAC address of the neighbour with address a. On a
// miss it re-reads the kernel's table, at most every MinRefresh.
func (t *Table) Lookup(a netip.Addr) (net.HardwareAddr, bool) {
	a = a.Unmap().WithZone("")
	t.mu.RLock()
	mac, ok := t.byAddr[a]
	stale := time.Since(t.fetched) >= t.min
	t.mu.RUnlock()
	if ok || !stale {
		return mac, ok
	}
	if err := t.Refresh(); err != nil {
		t.logger.Warn("reading the neighbour table", "err", err)
		return nil, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	mac, ok = t.byAddr[a]
	return mac, ok
}

// Refresh re-reads the kernel's neighbour table.
func (t *Table) Refresh() error {
	links, err := t.handle.LinkList()
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	m := map[netip.Addr]net.HardwareAddr{}
	var errs []error
	for _, l := range links {
		if len(t.ifaces) > 0 && !t.ifaces[l.Attrs().Name] {
			continue
		}
		neighs, err := t.handle.NeighList(l.Attrs().Index, netlink.FAMILY_ALL)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing neighbours of %s: %w", l.Attrs().Name, err))
			continue
		}
		for _, n := range neighs {
			if len(n.HardwareAddr) != 6 || n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
				continue
			}
			a, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			m[a.Unmap()] = n.HardwareAddr
		}
	}
	t.mu.Lock()
	t.byAddr, t.fetched = m, time.Now()
	t.mu.Unlock()
	return errors.Join(errs...)
}

// Close releases the netlink handle.
func (t *Table) Close() { t.handle.Close() }
