//go:build linux

// Package neighbor maps client addresses to MAC addresses from the
// kernel's neighbour table (ARP for IPv4, NDP for IPv6), for the enforcers
// that see a client only by the source address of its packets: the
// resolver and the notice server.
//
// A Table keeps a copy of the neighbour table, so that a lookup on a
// query's path costs a map read. On a miss it re-reads the kernel's table;
// if the address is still unknown (a client's first packet from a new
// address can arrive before the gateway has resolved it) it makes the
// kernel resolve the address by sending it one UDP datagram, and waits a
// few milliseconds for the answer. A restricted client is recognised from
// its first query, whatever address it uses.
package neighbor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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
	// Leases are DHCP lease files (dnsmasq's format, see ParseLeases),
	// re-read when they change; an address the neighbour table does not
	// know is looked up there before it is probed.
	Leases []string

	// ProbeWait is how long a lookup of an unknown address waits for the
	// kernel to resolve it after the probe; the default is 100 ms. A
	// failed probe is remembered for NegativeTTL (default one second), so
	// a flood of queries from unused addresses costs one probe each.
	ProbeWait   time.Duration
	NegativeTTL time.Duration
}

// maxProbes bounds the probes in flight, so that spoofed source addresses
// cannot make the table probe without limit.
const maxProbes = 64

// Table is a cached view of the neighbour table. It is safe for concurrent
// use.
type Table struct {
	logger *slog.Logger
	ifaces map[string]bool
	handle *netlink.Handle
	wait   time.Duration
	negTTL time.Duration
	probe4 int // UDP sockets in the table's namespace; -1 if unavailable
	probe6 int
	slots  chan struct{} // one token per probe in flight

	refreshMu  sync.Mutex // serialises reads of the kernel's table and the lease files
	leaseFiles []string
	leaseMod   map[string]time.Time // modification time of each lease file as last read
	leases     map[string]map[netip.Addr]net.HardwareAddr

	mu       sync.RWMutex // guards the fields below
	byAddr   map[netip.Addr]net.HardwareAddr
	local    map[netip.Addr]bool // the gateway's own addresses: never neighbours
	fetched  time.Time
	negative map[netip.Addr]time.Time // failed probes, until when they are trusted
	inflight map[netip.Addr]chan struct{}
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
	t := &Table{
		logger: c.Logger, handle: h, wait: c.ProbeWait, negTTL: c.NegativeTTL,
		ifaces:   map[string]bool{},
		slots:    make(chan struct{}, maxProbes),
		negative: map[netip.Addr]time.Time{},
		inflight: map[netip.Addr]chan struct{}{},

		leaseFiles: c.Leases,
		leaseMod:   map[string]time.Time{},
		leases:     map[string]map[netip.Addr]net.HardwareAddr{},
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	if t.wait <= 0 {
		t.wait = 100 * time.Millisecond
	}
	if t.negTTL <= 0 {
		t.negTTL = time.Second
	}
	t.probe4, t.probe6 = -1, -1
	if err := inNamespace(ns, func() {
		t.probe4, _ = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		t.probe6, _ = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	}); err != nil {
		h.Close()
		return nil, err
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

// Lookup returns the MAC address of the neighbour with address a. It
// answers from the cache when it can; otherwise it re-reads the kernel's
// table and, if a is still unknown, probes it (see the package doc).
// Concurrent lookups of one unknown address share one probe.
func (t *Table) Lookup(a netip.Addr) (net.HardwareAddr, bool) {
	a = a.Unmap().WithZone("")
	start := time.Now()
	t.mu.RLock()
	mac, ok := t.byAddr[a]
	negUntil := t.negative[a]
	t.mu.RUnlock()
	if ok {
		return mac, true
	}
	if start.Before(negUntil) || a.IsLoopback() || t.isLocal(a) {
		return nil, false
	}

	t.mu.Lock()
	if wait, busy := t.inflight[a]; busy {
		t.mu.Unlock()
		<-wait
		return t.cached(a)
	}
	done := make(chan struct{})
	t.inflight[a] = done
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.inflight, a)
		t.mu.Unlock()
		close(done)
	}()

	if mac, ok := t.refreshed(a, start); ok {
		return mac, true
	}
	select {
	case t.slots <- struct{}{}:
		defer func() { <-t.slots }()
	default:
		return nil, false // too many probes in flight
	}
	t.probe(a)
	for deadline := time.Now().Add(t.wait); time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		if mac, ok := t.refreshed(a, time.Now()); ok {
			return mac, true
		}
	}
	t.mu.Lock()
	t.negative[a] = time.Now().Add(t.negTTL)
	if len(t.negative) > 4096 {
		now := time.Now()
		for k, until := range t.negative {
			if now.After(until) {
				delete(t.negative, k)
			}
		}
	}
	t.mu.Unlock()
	return nil, false
}

func (t *Table) isLocal(a netip.Addr) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.local[a]
}

// cached returns what the cache holds for a.
func (t *Table) cached(a netip.Addr) (net.HardwareAddr, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	mac, ok := t.byAddr[a]
	return mac, ok
}

// refreshed re-reads the kernel's table unless a read that began after
// since has already happened, and looks a up.
func (t *Table) refreshed(a netip.Addr, since time.Time) (net.HardwareAddr, bool) {
	t.refreshMu.Lock()
	t.mu.RLock()
	fresh := t.fetched.After(since)
	t.mu.RUnlock()
	if !fresh {
		if err := t.refreshLocked(); err != nil {
			t.logger.Warn("reading the neighbour table", "err", err)
		}
	}
	t.refreshMu.Unlock()
	return t.cached(a)
}

// probe sends one empty UDP datagram to the discard port of a, which makes
// the kernel resolve a's link-layer address.
func (t *Table) probe(a netip.Addr) {
	var err error
	if a.Is4() && t.probe4 >= 0 {
		err = unix.Sendto(t.probe4, nil, 0, &unix.SockaddrInet4{Port: 9, Addr: a.As4()})
	} else if a.Is6() && t.probe6 >= 0 {
		err = unix.Sendto(t.probe6, nil, 0, &unix.SockaddrInet6{Port: 9, Addr: a.As16()})
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		t.logger.Debug("probing a neighbour", "addr", a, "err", err)
	}
}

// Refresh re-reads the kernel's neighbour table.
func (t *Table) Refresh() error {
	t.refreshMu.Lock()
	defer t.refreshMu.Unlock()
	return t.refreshLocked()
}

// refreshLocked is Refresh with t.refreshMu held.
func (t *Table) refreshLocked() error {
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
	// Leases first: the neighbour table, which is what the kernel sees
	// now, wins where the two disagree.
	leased := t.readLeases(&errs)
	for a, mac := range m {
		leased[a] = mac
	}
	m = leased
	local := map[netip.Addr]bool{}
	addrs, err := t.handle.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing addresses: %w", err))
	}
	for _, ad := range addrs {
		if a, ok := netip.AddrFromSlice(ad.IP); ok {
			local[a.Unmap()] = true
		}
	}
	t.mu.Lock()
	t.byAddr, t.local, t.fetched = m, local, time.Now()
	t.mu.Unlock()
	return errors.Join(errs...)
}

// readLeases returns the union of the lease files, re-reading those that
// changed. t.refreshMu must be held.
func (t *Table) readLeases(errs *[]error) map[netip.Addr]net.HardwareAddr {
	all := map[netip.Addr]net.HardwareAddr{}
	for _, path := range t.leaseFiles {
		fi, err := os.Stat(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("reading leases: %w", err))
		} else if !fi.ModTime().Equal(t.leaseMod[path]) {
			f, err := os.Open(path)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("reading leases: %w", err))
			} else {
				m, err := ParseLeases(f)
				f.Close()
				if err != nil {
					*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
				} else {
					t.leases[path], t.leaseMod[path] = m, fi.ModTime()
				}
			}
		}
		for a, mac := range t.leases[path] {
			all[a] = mac
		}
	}
	return all
}

// Close releases the netlink handle and the probe sockets.
func (t *Table) Close() {
	t.handle.Close()
	for _, fd := range []int{t.probe4, t.probe6} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// inNamespace runs f on a thread inside ns (or the current namespace if ns
// is not open). The thread is thrown away afterwards rather than moved back.
func inNamespace(ns netns.NsHandle, f func()) error {
	if !ns.IsOpen() {
		f()
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Not unlocked: the runtime discards the thread when this
		// goroutine ends, so it never runs other code in ns.
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}
