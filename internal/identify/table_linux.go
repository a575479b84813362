//go:build linux

package identify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
)

// Defaults for Config.
const (
	DefaultProbeWait = 200 * time.Millisecond
	DefaultMaxWaits  = 64
	// failedTTL is how long an address that did not answer a probe is
	// answered Unknown at once by Wait, without a new probe.
	failedTTL = 2 * time.Second
	// maxFailed bounds the remembered failures; past it they are
	// forgotten, which costs at most one more probe each.
	maxFailed = 8192
	// leaseInterval is how often lease files are checked for changes.
	leaseInterval = time.Second
	// resyncInterval is how often the whole state is re-read from the
	// kernel, in case an event was lost.
	resyncInterval = time.Minute
	// DefaultMaxSightings bounds the MACs a Table remembers between two
	// Sightings calls; past it, sightings of further new MACs are
	// dropped (and counted) until the next call.
	DefaultMaxSightings = 16384
)

// Config configures a Table.
type Config struct {
	// Logger receives changes of the LAN interfaces at Info and Error,
	// and read failures at Warn. Nil discards.
	Logger *slog.Logger
	// Interfaces are the LAN interfaces. Each must exist when New is
	// called. Empty means every interface.
	Interfaces []string
	// Routed are prefixes routed behind the LAN whose clients are served
	// too, though no MAC can be learned for them.
	Routed []netip.Prefix
	// NetNS is a namespace file descriptor; 0 or -1 means the process's.
	NetNS int
	// Leases are DHCP lease files (see ParseLeases), re-read when they
	// change. The neighbour table wins where the two disagree.
	Leases []string
	// ProbeWait is the longest a Wait lasts (DefaultProbeWait if 0), and
	// MaxWaits how many addresses may be waited for at once
	// (DefaultMaxWaits if 0); beyond that, Wait returns at once.
	ProbeWait time.Duration
	MaxWaits  int
	// MaxSightings bounds the sightings kept between two Sightings calls
	// (DefaultMaxSightings if 0).
	MaxSightings int
}

// A Table is the gateway's view of its LAN, kept up to date by netlink
// events. It implements Identifier. Close stops it.
type Table struct {
	logger *slog.Logger
	ns     netns.NsHandle
	handle *netlink.Handle
	names  []string // the LAN interfaces; empty means all
	routed []netip.Prefix
	leases []string
	wait   time.Duration
	max    int
	probe4 int // UDP sockets in the table's namespace; -1 if unavailable
	probe6 int

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu        sync.RWMutex // guards the fields below
	neigh     map[netip.Addr]net.HardwareAddr
	leased    map[netip.Addr]net.HardwareAddr
	hostnames map[string]string // DHCP hostname by MAC (net.HardwareAddr.String), from the lease files
	local     map[netip.Addr]bool
	onLink    []netip.Prefix      // prefixes of the LAN interfaces' addresses
	lanOwn    map[netip.Addr]bool // the gateway's own addresses on LAN interfaces
	lan       map[int]string      // LAN interfaces present, by index
	missing   []string            // LAN interfaces that do not exist now
	linksRead bool                // the links have been read once
	waiters   map[netip.Addr]chan struct{}
	failed    map[netip.Addr]time.Time // until when a failed probe is trusted

	leaseMod map[string]time.Time // modification time of each lease file as last read; used by New, then by run alone
	leaseErr map[string]string    // the last error logged for each lease file; as leaseMod

	smu          sync.Mutex // guards the fields below; never held with mu
	sightings    map[string]*curfew.Sighting
	dropped      int // sightings of new MACs dropped since the last Sightings call
	maxSightings int
	leaseInfo    map[string]Lease // the latest lease of each MAC, by string(MAC); used by readLeases alone
}

var _ Identifier = (*Table)(nil)

// New reads the kernel's state, subscribes to its changes and returns a
// Table. It fails if a LAN interface does not exist.
func New(c *Config) (*Table, error) {
	t := &Table{
		logger: c.Logger, names: c.Interfaces, routed: c.Routed, leases: c.Leases,
		wait: c.ProbeWait, max: c.MaxWaits, ns: netns.None(),
		probe4: -1, probe6: -1,
		done:      make(chan struct{}),
		neigh:     map[netip.Addr]net.HardwareAddr{},
		leased:    map[netip.Addr]net.HardwareAddr{},
		hostnames: map[string]string{},
		waiters:   map[netip.Addr]chan struct{}{},
		failed:    map[netip.Addr]time.Time{},
		leaseMod:  map[string]time.Time{},
		leaseErr:  map[string]string{},

		sightings:    map[string]*curfew.Sighting{},
		maxSightings: c.MaxSightings,
		leaseInfo:    map[string]Lease{},
	}
	if t.maxSightings <= 0 {
		t.maxSightings = DefaultMaxSightings
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	if t.wait <= 0 {
		t.wait = DefaultProbeWait
	}
	if t.max <= 0 {
		t.max = DefaultMaxWaits
	}
	for i, p := range t.routed {
		t.routed[i] = p.Masked()
	}
	if c.NetNS > 0 {
		t.ns = netns.NsHandle(c.NetNS)
	}
	var err error
	if t.ns.IsOpen() {
		t.handle, err = netlink.NewHandleAt(t.ns)
	} else {
		t.handle, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("opening netlink handle: %w", err)
	}
	if err := inNamespace(t.ns, func() {
		t.probe4, _ = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		t.probe6, _ = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	}); err != nil {
		t.closeHandles()
		return nil, err
	}
	subs, err := t.subscribe()
	if err != nil {
		t.closeHandles()
		return nil, err
	}
	if err := t.resync(); err != nil {
		close(subs.stop)
		t.closeHandles()
		return nil, err
	}
	t.mu.RLock()
	missing := slices.Clone(t.missing)
	t.mu.RUnlock()
	if len(missing) > 0 {
		close(subs.stop)
		t.closeHandles()
		return nil, fmt.Errorf("lan interface %q does not exist", missing[0])
	}
	t.readLeases()
	t.wg.Go(func() { t.run(subs) })
	return t, nil
}

// subscriptions are the netlink event channels run reads.
type subscriptions struct {
	stop  chan struct{} // closing it ends all three
	neigh chan netlink.NeighUpdate
	addr  chan netlink.AddrUpdate
	link  chan netlink.LinkUpdate
	err   chan error // receive errors; a subscription that fails closes its channel
}

// subscribe opens the three subscriptions. Events queued before a resync
// are applied after it, which ends in the kernel's state: every change
// after subscribing has its event.
func (t *Table) subscribe() (*subscriptions, error) {
	s := &subscriptions{
		stop:  make(chan struct{}),
		neigh: make(chan netlink.NeighUpdate, 4096),
		addr:  make(chan netlink.AddrUpdate, 64),
		link:  make(chan netlink.LinkUpdate, 64),
		err:   make(chan error, 3),
	}
	onErr := func(err error) {
		select {
		case s.err <- err:
		default:
		}
	}
	ns := t.ns
	var errs []error
	errs = append(errs, netlink.NeighSubscribeWithOptions(s.neigh, s.stop, netlink.NeighSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: 1 << 20}))
	errs = append(errs, netlink.AddrSubscribeWithOptions(s.addr, s.stop, netlink.AddrSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr}))
	errs = append(errs, netlink.LinkSubscribeWithOptions(s.link, s.stop, netlink.LinkSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr}))
	if err := errors.Join(errs...); err != nil {
		close(s.stop)
		return nil, fmt.Errorf("subscribing to neighbour, address and link events: %w", err)
	}
	return s, nil
}

// run applies events until Close. If a subscription fails (the kernel
// dropped events when its buffer overflowed), it subscribes again and
// re-reads everything.
func (t *Table) run(s *subscriptions) {
	leaseTick := time.NewTicker(leaseInterval)
	defer leaseTick.Stop()
	resyncTick := time.NewTicker(resyncInterval)
	defer resyncTick.Stop()
	for {
		ok := true
		select {
		case <-t.done:
			close(s.stop)
			return
		case u, open := <-s.neigh:
			if ok = open; ok {
				t.applyNeigh(u)
			}
		case _, open := <-s.addr:
			if ok = open; ok {
				t.logIfErr("listing addresses", t.refreshAddrs())
			}
		case _, open := <-s.link:
			// Every link event: a LAN interface may have been renamed
			// away, or another one renamed to a LAN name.
			if ok = open; ok {
				t.logIfErr("listing links", t.refreshLinks())
				t.logIfErr("listing addresses", t.refreshAddrs())
			}
		case err := <-s.err:
			t.logger.Warn("netlink events", "err", err)
		case <-leaseTick.C:
			t.readLeases()
		case <-resyncTick.C:
			t.logIfErr("re-reading the neighbour table", t.resync())
		}
		if ok {
			continue
		}
		close(s.stop)
		if s = t.resubscribe(); s == nil {
			return // closed
		}
	}
}

// resubscribe subscribes again and re-reads everything, retrying every
// second until it succeeds; it returns nil if the table is closed first.
func (t *Table) resubscribe() *subscriptions {
	for {
		s, err := t.subscribe()
		if err == nil {
			if err = t.resync(); err == nil {
				return s
			}
			close(s.stop)
		}
		t.logger.Warn("subscribing to netlink events again", "err", err)
		select {
		case <-t.done:
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (t *Table) logIfErr(doing string, err error) {
	if err != nil {
		t.logger.Warn(doing, "err", err)
	}
}

func (t *Table) isLAN(name string) bool {
	return len(t.names) == 0 || slices.Contains(t.names, name)
}

// resync re-reads links, addresses and the neighbour table.
func (t *Table) resync() error {
	if err := t.refreshLinks(); err != nil {
		return err
	}
	if err := t.refreshAddrs(); err != nil {
		return err
	}
	neighs, err := t.handle.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing neighbours: %w", err)
	}
	m := map[netip.Addr]net.HardwareAddr{}
	t.mu.Lock()
	for _, n := range neighs {
		if a, mac, ok := t.usable(&n); ok {
			m[a] = mac
		}
	}
	t.neigh = m
	for a := range m {
		t.wakeLocked(a)
	}
	t.mu.Unlock()
	now := time.Now()
	for a, mac := range m {
		t.saw(mac, a, now, nil)
	}
	return nil
}

// refreshLinks re-reads which LAN interfaces exist, logging those that
// appeared or disappeared.
func (t *Table) refreshLinks() error {
	links, err := t.handle.LinkList()
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	lan := map[int]string{}
	present := map[string]bool{}
	for _, l := range links {
		if name := l.Attrs().Name; t.isLAN(name) {
			lan[l.Attrs().Index] = name
			present[name] = true
		}
	}
	var missing []string
	for _, name := range t.names {
		if !present[name] {
			missing = append(missing, name)
		}
	}
	t.mu.Lock()
	before, first := t.missing, !t.linksRead
	t.lan, t.missing, t.linksRead = lan, missing, true
	t.mu.Unlock()
	if first {
		return nil
	}
	for _, name := range missing {
		if !slices.Contains(before, name) {
			t.logger.Error("lan interface disappeared: device restrictions on it match nothing until it is back", "interface", name)
		}
	}
	for _, name := range before {
		if !slices.Contains(missing, name) {
			t.logger.Info("lan interface is back", "interface", name)
		}
	}
	return nil
}

// Missing returns the LAN interfaces that do not exist now.
func (t *Table) Missing() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.missing)
}

// refreshAddrs re-reads the gateway's own addresses and the on-link
// prefixes of the LAN interfaces.
func (t *Table) refreshAddrs() error {
	addrs, err := t.handle.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	local, lanOwn := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	var onLink []netip.Prefix
	t.mu.RLock()
	lan := t.lan
	t.mu.RUnlock()
	for _, ad := range addrs {
		a, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		local[a] = true
		if _, ok := lan[ad.LinkIndex]; !ok || ad.IPNet == nil {
			continue
		}
		lanOwn[a] = true
		bits, _ := ad.IPNet.Mask.Size()
		if p, err := a.Prefix(bits); err == nil && !slices.Contains(onLink, p) {
			onLink = append(onLink, p)
		}
	}
	t.mu.Lock()
	t.local, t.onLink, t.lanOwn = local, onLink, lanOwn
	t.mu.Unlock()
	return nil
}

// OnLAN reports whether a is one of the gateway's addresses on a LAN
// interface or on a LAN interface's subnet: an address LAN clients reach
// directly.
func (t *Table) OnLAN(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.lanOwn[a] {
		return true
	}
	for _, p := range t.onLink {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// usable returns the address and MAC of n if it is a resolved neighbour
// on a LAN interface. t.mu must be held.
func (t *Table) usable(n *netlink.Neigh) (netip.Addr, net.HardwareAddr, bool) {
	if n.Family != netlink.FAMILY_V4 && n.Family != netlink.FAMILY_V6 {
		return netip.Addr{}, nil, false // bridge forwarding entries
	}
	if _, ok := t.lan[n.LinkIndex]; !ok {
		return netip.Addr{}, nil, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok || len(n.HardwareAddr) != 6 || n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 || n.State == netlink.NUD_NONE {
		return a.Unmap(), nil, false
	}
	return a.Unmap(), slices.Clone(n.HardwareAddr), true
}

// applyNeigh applies one neighbour event.
func (t *Table) applyNeigh(u netlink.NeighUpdate) {
	t.mu.Lock()
	a, mac, ok := t.usable(&u.Neigh)
	if !a.IsValid() {
		t.mu.Unlock()
		return
	}
	if u.Type == unix.RTM_DELNEIGH || !ok {
		if _, lan := t.lan[u.Neigh.LinkIndex]; lan {
			delete(t.neigh, a)
		}
		t.mu.Unlock()
		return
	}
	t.neigh[a] = mac
	delete(t.failed, a)
	t.wakeLocked(a)
	t.mu.Unlock()
	t.saw(mac, a, time.Now(), nil)
}

// saw records that mac was seen at a (if valid) at time at, with its
// lease if l is not nil.
func (t *Table) saw(mac net.HardwareAddr, a netip.Addr, at time.Time, l *Lease) {
	if len(mac) != 6 || mac[0]&1 != 0 || string(mac) == "\x00\x00\x00\x00\x00\x00" {
		return // multicast neighbours (33:33:…, 01:00:5e:…) are not devices
	}
	if a.IsMulticast() {
		a = netip.Addr{}
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	s := t.sightings[string(mac)]
	if s == nil {
		if len(t.sightings) >= t.maxSightings {
			t.dropped++
			return
		}
		s = &curfew.Sighting{MAC: slices.Clone(mac)}
		t.sightings[string(mac)] = s
	}
	if at.After(s.At) {
		s.At = at
	}
	if a.IsValid() && !slices.Contains(s.Addrs, a) {
		s.Addrs = append(s.Addrs, a)
		if len(s.Addrs) > curfew.MaxSeenAddrs {
			s.Addrs = s.Addrs[len(s.Addrs)-curfew.MaxSeenAddrs:]
		}
	}
	if l != nil {
		s.Hostname, s.ClientID = l.Hostname, l.ClientID
	}
}

// Saw records that the client c, as Identify placed it, has just asked the
// gateway something (the resolver calls it for the clients that ask it):
// a device that does nothing but ask for names is still a device seen,
// and its last seen time moves with its queries, though the kernel
// reports no change of its neighbour entry. Clients not placed by MAC
// are ignored. It takes a lock and a map lookup, so callers on a packet
// path call it at most about once a second per client.
func (t *Table) Saw(c Client) {
	if c.Kind == Known {
		t.saw(c.MAC, c.Addr, time.Now(), nil)
	}
}

// Sightings returns what the table observed of each MAC on the LAN (the
// neighbour table, changes of it, and DHCP leases) since the last call,
// and how many sightings of further MACs it dropped because it held
// MaxSightings already; it then forgets them. The caller records them
// (engine.RecordSeen); calling it about every second keeps the drops to
// floods.
func (t *Table) Sightings() (out []curfew.Sighting, dropped int) {
	t.smu.Lock()
	defer t.smu.Unlock()
	out = make([]curfew.Sighting, 0, len(t.sightings))
	for _, s := range t.sightings {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b curfew.Sighting) int { return slices.Compare(a.MAC, b.MAC) })
	dropped = t.dropped
	clear(t.sightings)
	t.dropped = 0
	return out, dropped
}

// wakeLocked ends the waits for a. t.mu must be held for writing.
func (t *Table) wakeLocked(a netip.Addr) {
	if ch, ok := t.waiters[a]; ok {
		close(ch)
		delete(t.waiters, a)
	}
}

// readLeases re-reads the lease files that changed.
func (t *Table) readLeases() {
	if len(t.leases) == 0 {
		return
	}
	changed := false
	all := map[netip.Addr]net.HardwareAddr{}
	names := map[string]string{}
	for _, path := range t.leases {
		fi, err := os.Stat(path)
		if err != nil {
			// Once, not every second: a DHCP server writes its lease
			// file only when it gives the first lease.
			if t.leaseErr[path] != err.Error() {
				t.leaseErr[path] = err.Error()
				t.logger.Warn("reading leases", "err", err)
			}
			continue
		}
		delete(t.leaseErr, path)
		if fi.ModTime().Equal(t.leaseMod[path]) {
			continue
		}
		changed = true
		t.leaseMod[path] = fi.ModTime()
	}
	if !changed {
		return
	}
	var leases []Lease
	for _, path := range t.leases {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		ls, err := ReadLeases(f)
		f.Close()
		if err != nil {
			t.logger.Warn("reading leases", "file", path, "err", err)
			continue
		}
		for _, l := range ls {
			all[l.Addr] = l.MAC
			if l.Hostname != "" {
				names[l.MAC.String()] = l.Hostname
			}
		}
		leases = append(leases, ls...)
	}
	// A lease that is new or changed is a sighting; one read again
	// unchanged is not, so a MAC that has gone is not kept fresh by its
	// lease file alone.
	now := time.Now()
	next := make(map[string]Lease, len(leases))
	for _, l := range leases {
		k := string(l.MAC)
		next[k] = l
		if old, ok := t.leaseInfo[k]; ok && old.Addr == l.Addr && old.Hostname == l.Hostname && old.ClientID == l.ClientID {
			continue
		}
		t.saw(l.MAC, l.Addr, now, &l)
	}
	t.leaseInfo = next
	t.mu.Lock()
	t.leased, t.hostnames = all, names
	for a := range all {
		t.wakeLocked(a)
	}
	t.mu.Unlock()
}

// Learned returns what the table knows of the LAN's devices, by MAC
// (net.HardwareAddr.String): the addresses the neighbour table and the
// lease files give for each, sorted, and its DHCP hostname.
func (t *Table) Learned() map[string]curfew.Learned {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]curfew.Learned{}
	add := func(a netip.Addr, mac net.HardwareAddr) {
		k := mac.String()
		l := out[k]
		if !slices.Contains(l.Addrs, a) {
			l.Addrs = append(l.Addrs, a)
		}
		out[k] = l
	}
	for a, mac := range t.neigh {
		add(a, mac)
	}
	for a, mac := range t.leased {
		add(a, mac)
	}
	for k, name := range t.hostnames {
		l := out[k]
		l.Hostname = name
		out[k] = l
	}
	for k, l := range out {
		slices.SortFunc(l.Addrs, netip.Addr.Compare)
		out[k] = l
	}
	return out
}

// Identify implements [Identifier].
func (t *Table) Identify(a netip.Addr) Client {
	a = a.Unmap().WithZone("")
	if a.IsLoopback() {
		return Client{Addr: a, Kind: Local}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.local[a] {
		return Client{Addr: a, Kind: Local}
	}
	if mac, ok := t.neigh[a]; ok {
		return Client{Addr: a, MAC: mac, Kind: Known}
	}
	if mac, ok := t.leased[a]; ok {
		return Client{Addr: a, MAC: mac, Kind: Known}
	}
	for _, p := range t.onLink {
		if p.Contains(a) {
			return Client{Addr: a, Kind: Unknown}
		}
	}
	for _, p := range t.routed {
		if p.Contains(a) {
			return Client{Addr: a, Kind: Routed}
		}
	}
	return Client{Addr: a, Kind: Foreign}
}

// Wait implements [Identifier]. The first Wait for an address probes it:
// it sends one empty UDP datagram to its discard port, which makes the
// kernel resolve its link-layer address, and the neighbour event that
// follows ends the wait. An address that did not answer is not probed
// again for a while.
func (t *Table) Wait(ctx context.Context, a netip.Addr) Client {
	c := t.Identify(a)
	if c.Kind != Unknown {
		return c
	}
	now := time.Now()
	t.mu.Lock()
	if until, ok := t.failed[c.Addr]; ok && now.Before(until) {
		t.mu.Unlock()
		return c
	}
	ch, waiting := t.waiters[c.Addr]
	if !waiting {
		if len(t.waiters) >= t.max {
			t.mu.Unlock()
			return c
		}
		ch = make(chan struct{})
		t.waiters[c.Addr] = ch
	}
	t.mu.Unlock()
	if !waiting {
		t.probe(c.Addr)
	}
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	select {
	case <-ch:
		return t.Identify(a)
	case <-timer.C:
	case <-ctx.Done():
	case <-t.done:
	}
	c = t.Identify(a)
	if !waiting {
		t.mu.Lock()
		if t.waiters[c.Addr] == ch {
			close(ch)
			delete(t.waiters, c.Addr)
		}
		if c.Kind == Unknown && ctx.Err() == nil {
			if len(t.failed) >= maxFailed {
				for k, until := range t.failed {
					if !now.Before(until) {
						delete(t.failed, k)
					}
				}
				if len(t.failed) >= maxFailed {
					clear(t.failed)
				}
			}
			t.failed[c.Addr] = time.Now().Add(failedTTL)
		}
		t.mu.Unlock()
	}
	return c
}

// probe sends one empty UDP datagram to the discard port of a.
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

// Close stops following the kernel and releases the table's sockets.
// Waits in progress return. Calling it twice is harmless.
func (t *Table) Close() {
	select {
	case <-t.done:
		return
	default:
	}
	close(t.done)
	t.wg.Wait()
	t.closeHandles()
}

func (t *Table) closeHandles() {
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
