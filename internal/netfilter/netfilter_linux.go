//go:build linux

package netfilter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/nftconn"
)

// Config is the configuration for a Backend.
type Config struct {
	// Logger is used for all logging. It must not be nil.
	Logger *slog.Logger

	// NetNS is a file descriptor of the network namespace to work in; 0 or
	// -1 means the namespace of the process. The caller keeps it open for
	// the Backend's lifetime and closes it after Close.
	NetNS int

	// Table is the name of the inet table to own. The default is "curfew".
	Table string

	// LANInterfaces, if not empty, limits matching by MAC address, and
	// the DNS and notice redirects, to packets arriving on these
	// interfaces. Address rules match on every interface. If it is empty,
	// MAC rules and the redirects match packets arriving on any
	// interface, and the DNS redirect leaves alone queries addressed to
	// the gateway's own addresses (so the resolver is not opened to the
	// WAN side).
	LANInterfaces []string

	// DNS4 and DNS6 are the addresses of curfew's resolver that LAN
	// clients use, such as lan.address:53. When one is valid, every DNS
	// query of its family (53/udp and 53/tcp) from the LAN, to any
	// address, is redirected to it; queries already addressed to it are
	// left alone. Each must be an address of the gateway itself (the
	// redirected queries take the input path) and of the right family.
	// Restricted clients may reach it on the gateway; without it they
	// reach no resolver there. The zero value turns the redirect off for
	// that family.
	DNS4, DNS6 netip.AddrPort

	// Notice4 and Notice6 are the addresses of the notice server, such as
	// lan.address:8480, the gateway's own. When one is valid, plain HTTP
	// (80/tcp) of its family is redirected to it: from cut-off devices and
	// prefixes to any address, from allowlist-mode devices to destinations
	// they may not reach, and from every LAN client to the notice
	// server's own address (where the resolver points refused names).
	// Restricted clients may reach it on the gateway, as they may DNS4
	// and DNS6, DHCP and the ICMP a link needs; every other service of
	// the gateway is refused to them. The zero value turns the redirect
	// off for that family.
	Notice4, Notice6 netip.AddrPort

	// DoHFile, if not empty, names a file of DNS-over-HTTPS endpoint
	// addresses in the format of ParseDoH, read by New. Its addresses are
	// added to the shipped list (DefaultDoH), or replace it if DoHReplace
	// is set. Restricted clients are refused 443/tcp and 443/udp to every
	// address on the list.
	DoHFile    string
	DoHReplace bool

	// Unowned builds the table without the kernel's owner and persist
	// flags even where the kernel has them, as on a kernel older than
	// 6.9: another process's `nft flush ruleset` then deletes it, and
	// only the repair after the nftables event (Watch) brings it back.
	// For tests and benchmarks of that fallback; see claim.
	Unowned bool
}

// DefaultTable is the table a Backend owns when Config.Table is empty.
const DefaultTable = "curfew"

// Backend enforces snapshots with nftables. Its methods are safe for
// concurrent use. Apply and Close are serialised, and so are Verify's
// structural check and repairs with them; Verify's comparison of set
// elements, the slow part, runs alongside Apply. AllowDestination runs
// alongside all of them and waits only while one of them encodes and
// commits a batch: every batch goes through one socket (see claim).
type Backend struct {
	logger *slog.Logger
	netns  int // -1: the process's namespace
	rs     *ruleset
	doh    []netip.Addr // DNS-over-HTTPS endpoints
	ports  portIDs      // of the sockets that commit batches

	// vmu is held through Verify and Close, and taken before mu. Verify
	// dumps and compares the sets holding vmu alone, so that Apply never
	// waits for a dump.
	vmu sync.Mutex // guards the fields below
	raw *rawConn   // for set dumps; nil until first needed
	// dumped, if not nil, is called by Verify after each dump of a set,
	// before it reads the ruleset generation again, with vmu held and mu
	// not: a test's way in between the dump and the repair.
	dumped func(set string)

	// mu is held through Apply and Close and through Verify's structural
	// check and repairs, and taken before fmu.
	mu      sync.Mutex          // guards the fields below
	conn    nftconn.Lasting     // lasting netlink connection for reads, dialled when first needed
	nl      *netlink.Handle     // rtnetlink and conntrack; nil until first needed
	built   bool                // the table was built and no drift is known since
	macs    [numModes][]macElem // the devices the kernel was told to hold, by mode, sorted; replaced, never changed in place
	ranges  elements            // the other elements the kernel was told to hold; replaced, never changed in place
	last    *curfew.Snapshot    // the Snapshot macs and ranges enforce
	sorted  bool                // last.Devices is sorted by MAC and unique, so update may use it
	applied bool                // Apply succeeded at least once
	checks  int                 // Verify calls since the table was last built
	epoch   uint64              // batches sent to the sets the Snapshot fills; a comparison begun at another epoch is stale
	recheck bool                // a comparison is due whatever the generation says (one was discarded, or the periodic one)
	// late is how long after the time its timeouts count from the last
	// rebuild was committed: the kernel counts from the commit, so the
	// elements it added end up to this much after their Until (seconds,
	// with 100,000 elements on a busy gateway).
	late time.Duration
	// lastCompare is when Verify's last element comparison ended, and
	// compareTook how long it took.
	lastCompare time.Time
	compareTook time.Duration
	closed      bool

	// fmu serialises batches: AllowDestination's and those of Apply,
	// Verify and Close, all sent on one socket, which owns the table
	// where the kernel lets it (see claim).
	fmu     sync.Mutex      // guards the fields below
	gen     uint32          // the ruleset generation after curfew's last batch or check
	genOK   bool            // gen is known
	graw    *rawConn        // for the generation; nil until first needed
	batches int             // batches sent, for tests
	wconn   *nftables.Conn  // the lasting connection every batch is sent on; nil until first needed
	wsock   *mdnetlink.Conn // wconn's socket, for the batches google/nftables cannot encode
	owned   bool            // wsock owns the table (NFT_TABLE_F_OWNER)
	noOwner bool            // build the table without owner flags: Config.Unowned, or the kernel has none
	// tableFlags are the flags claim asks for: ownerFlags (a test adds
	// one the kernel does not know, to play an older kernel).
	tableFlags uint32
	dyn        map[dynKey]time.Time // destinations AllowDestination added, with their ends
	pruned     int                  // len(dyn) after it was last pruned
	allowed    map[uint64]time.Time // allowlist-mode devices of the last Apply, with their Until
	ready      bool                 // the table was built: AllowDestination may add to it
	done       bool                 // Close was called
}

var (
	_ enforce.Backend  = (*Backend)(nil)
	_ enforce.Verifier = (*Backend)(nil)
)

// New validates c and returns a Backend. It does not touch the kernel until
// the first Apply.
func New(c *Config) (*Backend, error) {
	if c == nil || c.Logger == nil {
		return nil, errors.New("netfilter: nil logger")
	}
	table := cmp.Or(c.Table, DefaultTable)
	if len(table) > 255 || strings.ContainsRune(table, 0) {
		return nil, fmt.Errorf("%w: netfilter: table name %q: want at most 255 bytes and no NUL", curfew.ErrInvalid, table)
	}
	seen := map[string]bool{}
	for _, name := range c.LANInterfaces {
		if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/ \x00") {
			return nil, fmt.Errorf("%w: netfilter: LAN interface name %q is not a valid interface name", curfew.ErrInvalid, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: netfilter: LAN interface %q given twice", curfew.ErrInvalid, name)
		}
		seen[name] = true
	}
	ns := c.NetNS
	if ns == 0 {
		ns = -1
	}
	if ns < -1 {
		return nil, fmt.Errorf("%w: netfilter: network namespace descriptor %d", curfew.ErrInvalid, c.NetNS)
	}
	rd := redirects{dns4: c.DNS4, dns6: c.DNS6, notice4: c.Notice4, notice6: c.Notice6}
	for _, a := range []struct {
		name string
		ap   netip.AddrPort
		v6   bool
	}{{"DNS4", c.DNS4, false}, {"DNS6", c.DNS6, true}, {"Notice4", c.Notice4, false}, {"Notice6", c.Notice6, true}} {
		if err := checkAddrPort(a.ap, a.v6); err != nil {
			return nil, fmt.Errorf("%w: netfilter: %s %s: %v", curfew.ErrInvalid, a.name, a.ap, err)
		}
	}
	doh, err := dohList(c.DoHFile, c.DoHReplace)
	if err != nil {
		return nil, err
	}
	return &Backend{
		logger:     c.Logger,
		netns:      ns,
		conn:       nftconn.New(ns, readBuffer),
		rs:         newRuleset(table, slices.Clone(c.LANInterfaces), rd),
		doh:        doh,
		dyn:        map[dynKey]time.Time{},
		noOwner:    c.Unowned,
		tableFlags: ownerFlags,
	}, nil
}

// checkAddrPort checks a redirect target: unset, or an address of the
// right family without a zone, with a port.
func checkAddrPort(ap netip.AddrPort, v6 bool) error {
	switch {
	case ap == netip.AddrPort{}:
		return nil
	case !ap.Addr().IsValid() || ap.Port() == 0:
		return errors.New("want an address and a port")
	case v6 && (!ap.Addr().Is6() || ap.Addr().Is4In6()):
		return errors.New("want an IPv6 address")
	case !v6 && !ap.Addr().Is4():
		return errors.New("want an IPv4 address")
	case ap.Addr().Zone() != "":
		return errors.New("want an address without a zone")
	}
	return nil
}

// dohList returns the DoH endpoints: the shipped list, extended or replaced
// by the file path if not empty.
func dohList(path string, replace bool) ([]netip.Addr, error) {
	var list []netip.Addr
	if !replace {
		list = DefaultDoH()
	}
	if path == "" {
		return list, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netfilter: reading DoH endpoint list: %w", err)
	}
	defer f.Close()
	more, err := ParseDoH(f)
	if err != nil {
		return nil, fmt.Errorf("%w: netfilter: DoH endpoint list %s: %v", curfew.ErrInvalid, path, err)
	}
	list = append(list, more...)
	slices.SortFunc(list, netip.Addr.Compare)
	return slices.Compact(list), nil
}

// Table returns the name of the table the Backend owns.
func (b *Backend) Table() string { return b.rs.table.Name }

// Apply implements [enforce.Backend]. The first call builds the whole table;
// later calls send only the elements that differ from the last applied
// Snapshot (an element whose end changes is deleted and added again), in
// one atomic batch, and send nothing for an identical Snapshot. Each element
// times out in the kernel after Until minus s.At. The same batch deletes
// the destinations AllowDestination added for devices no longer in
// allowlist mode. After the batch is committed, the conntrack entries of
// newly cut-off and newly allowlist-mode devices are deleted (blocklist
// mode leaves flows alone: its filtering is the resolver's). Those of
// prefixes are kept: the rules refuse every packet of the flows a cut-off
// prefix opened, and tell them apart by conntrack's direction.
//
// Devices and ip: subjects are enforced by mode: cutoff refuses all the
// forwarded traffic of a device, and the flows an ip: subject opens (both
// ways), never those others open to it; allowlist (devices only) lets through only
// destinations allowed by AllowDestination or listed in Enforcement.AllowPrefixes
// as addresses or prefixes; every mode refuses DNS that bypasses curfew's
// resolver, and every service of the gateway itself but the resolver, the
// notice server and DHCP. ip: subjects in allowlist mode get only the anti-bypass rules:
// the resolver cannot name the client's address to AllowDestination, so
// their walled garden is the resolver's alone.
//
// If the batch fails (the table was changed behind its back), Apply rebuilds
// the whole table. If only the conntrack flush fails, the sets are updated
// and the error is returned.
func (b *Backend) Apply(ctx context.Context, s *curfew.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		s = &curfew.Snapshot{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("netfilter: backend is closed")
	}
	start := time.Now()
	macs, ranges, sorted, delta := b.elementsFor(s)
	fresh := &targets{}
	var del []elemKey
	var add []element
	for mode := range numModes {
		have, want := b.macs[mode], macs[mode]
		if delta != nil {
			have, want = delta.was[mode], delta.now[mode]
		}
		d, a, f := diffMACs(macMode(mode), b.rs.notices(), have, want, start)
		del, add = append(del, d...), append(add, a...)
		if macMode(mode) == modeBlocklist {
			continue // the resolver's business: no flow needs cutting
		}
		for _, m := range f {
			fresh.addMAC(m.bytes(), m.addrs)
		}
	}
	delR, addR := diff(b.ranges, ranges, start)
	del, add = append(del, delR...), append(add, addR...)
	// Destinations the resolver allowed to devices no longer in
	// allowlist mode go in the same batch.
	delDyn := b.setAllowlist(macs[modeAllowlist], start)
	del = append(del, delDyn...)

	var added, deleted int
	if !b.built {
		all := allElements(macs, ranges, b.rs.notices())
		if err := b.rebuild(all, s.At); err != nil {
			return err
		}
		added = len(all)
	} else if len(del)+len(add) > 0 {
		if err := b.sendDiff(del, add, s.At); err != nil {
			b.logger.WarnContext(ctx, "rebuilding table after failed update", "table", b.rs.table.Name, "err", err)
			b.built = false
			if err := b.rebuild(allElements(macs, ranges, b.rs.notices()), s.At); err != nil {
				return err
			}
		}
		added, deleted = len(add), len(del)
	}
	b.macs, b.ranges = macs, ranges
	b.last, b.sorted = s, sorted
	b.applied = true

	flushed, err := b.flushConntrack(fresh)
	if added+deleted > 0 || flushed > 0 {
		b.logger.InfoContext(ctx, "applied snapshot",
			"restricted_devices", len(s.Devices), "restricted_prefixes", len(s.Prefixes),
			"elements_added", added, "elements_deleted", deleted,
			"conntrack_deleted", flushed, "duration", time.Since(start), "next_change", s.NextChange)
	}
	if err != nil {
		return fmt.Errorf("netfilter: flushing conntrack entries: %w", err)
	}
	return nil
}

// allElements lists every element of macs and ranges.
// notice is whether the table has setNoticeMAC.
func allElements(macs [numModes][]macElem, ranges elements, notice bool) []element {
	all := make([]element, 0, len(macs[0])+len(macs[1])+len(macs[2])+len(ranges))
	for mode, l := range macs {
		for _, m := range l {
			for _, k := range m.keys(macMode(mode), notice) {
				all = append(all, element{k, m.until})
			}
		}
	}
	for k, u := range ranges {
		all = append(all, element{k, u})
	}
	return all
}

// readBuffer is the socket buffer of the structural check's connection:
// room for the whole table's listing.
const readBuffer = 8 << 20

// connLocked returns the lasting nftables connection for the structural
// check's reads, dialling it if needed. Batches go through writerLocked.
func (b *Backend) connLocked() (*nftables.Conn, error) {
	c, err := b.conn.Conn()
	if err != nil {
		return nil, fmt.Errorf("netfilter: %w", err)
	}
	return c, nil
}

// flush sends c's batch; b.fmu must be held. The caller drops the
// connection after a failure: it may hold unread replies.
//
// It then reads the ruleset generation. If the table was just built
// (fresh), that generation is taken as curfew's; otherwise only if it is
// the one before the batch or the next, since one committed batch moves it
// by one. Anything else means someone else committed too, and the next
// Verify compares every element. A commit by someone else between a
// rebuild and this read goes unnoticed until Verify's periodic full
// comparison.
func (b *Backend) flush(c *nftables.Conn, fresh bool) error {
	b.batches++
	if err := c.Flush(); err != nil {
		b.genOK = false
		return err
	}
	gen, ok := b.generation()
	switch {
	case !ok:
		b.genOK = false
	case fresh || b.genOK && (gen == b.gen || gen == b.gen+1):
		b.gen, b.genOK = gen, true
	default:
		b.genOK = false
	}
	return nil
}

// generation returns the namespace's ruleset generation; ok is false if it
// could not be read. b.fmu must be held.
func (b *Backend) generation() (gen uint32, ok bool) {
	if b.graw == nil {
		r, err := dialRaw(b.netns)
		if err != nil {
			return 0, false
		}
		b.graw = r
	}
	gen, err := b.graw.generation()
	if err != nil {
		b.graw.close()
		b.graw = nil
		return 0, false
	}
	return gen, true
}

// dumpConn returns the socket for set dumps, opening it if needed. b.vmu
// must be held.
func (b *Backend) dumpConn() (*rawConn, error) {
	if b.raw != nil {
		return b.raw, nil
	}
	r, err := dialRaw(b.netns)
	if err != nil {
		return nil, fmt.Errorf("netfilter: %w", err)
	}
	b.raw = r
	return r, nil
}

func (b *Backend) dropConn() { b.conn.Drop() }

// rebuild replaces the table with a complete one holding els, in one
// batch. Timeouts count from ref; elements ending at or before ref are left
// out. b.mu must be held.
func (b *Backend) rebuild(els []element, ref time.Time) error {
	b.epoch++
	b.fmu.Lock()
	defer b.fmu.Unlock()
	c, err := b.writerLocked()
	if err != nil {
		return err
	}
	old, err := b.claim(c)
	if err != nil {
		b.dropWriter()
		return fmt.Errorf("netfilter: %w", err)
	}
	if err := b.rs.queueBuild(c, old); err != nil {
		b.dropWriter()
		return fmt.Errorf("netfilter: %w", err)
	}
	live := make([]element, 0, len(els)+len(b.dyn))
	for _, e := range els {
		if e.key.live(e.until, ref) {
			live = append(live, e)
		}
	}
	// The destinations the resolver allowed are not in the Snapshot:
	// keep them across a rebuild.
	for k, u := range b.dyn {
		if u.After(ref) {
			live = append(live, element{k.elemKey(), u})
		} else {
			delete(b.dyn, k)
		}
	}
	if err := b.queueElems(c, live, ref, false); err != nil {
		b.dropWriter()
		return err
	}
	b.ready = false
	if err := b.flush(c, true); err != nil {
		b.dropWriter()
		return fmt.Errorf("netfilter: building table %s: %w", b.rs.table.Name, err)
	}
	b.ready = true
	b.built = true
	b.checks = 0
	b.late = max(time.Since(ref), 0)
	return nil
}

// sendDiff deletes del and adds add (with timeouts counted from ref) in one
// batch. b.mu must be held.
func (b *Backend) sendDiff(del []elemKey, add []element, ref time.Time) error {
	b.epoch++
	dels := make([]element, len(del))
	for i, k := range del {
		dels[i] = element{key: k}
	}
	b.fmu.Lock()
	defer b.fmu.Unlock()
	c, err := b.writerLocked()
	if err != nil {
		return err
	}
	// Deletions go first: a new interval may overlap one being removed.
	if err := b.queueElems(c, dels, ref, true); err != nil {
		b.dropWriter()
		return err
	}
	if err := b.queueElems(c, add, ref, false); err != nil {
		b.dropWriter()
		return err
	}
	if err := b.flush(c, false); err != nil {
		b.dropWriter()
		return fmt.Errorf("netfilter: updating set elements: %w", err)
	}
	return nil
}

// maxElemsPerMessage keeps each element list well under the 64 KiB limit
// of a netlink attribute; maxVerdictsPerMessage likewise for the elements
// of a verdict map, which carry a chain name each (about 70 bytes an
// element with a timeout: a thousand would overflow the attribute's
// length).
const (
	maxElemsPerMessage    = 1000
	maxVerdictsPerMessage = 400
)

// queueElems adds to c's batch the messages that add (or delete) els.
// Added elements of sets with timeouts time out after their until minus
// ref, at least one millisecond: an element without a timeout would never
// expire.
func (b *Backend) queueElems(c *nftables.Conn, els []element, ref time.Time, del bool) error {
	var lists [numSets][]nftables.SetElement
	// Sorted, so that batches are reproducible.
	slices.SortFunc(els, func(a, b element) int { return compareKeys(a.key, b.key) })
	for _, el := range els {
		k := el.key
		e := nftables.SetElement{Key: []byte(k.start)}
		if !del && k.set.timeout() {
			e.Timeout = max(el.until.Sub(ref), time.Millisecond).Round(time.Millisecond)
		}
		if k.set.ranged() {
			e.KeyEnd = []byte(k.end)
		}
		if !del && k.set.verdicts() {
			e.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: k.to}
		}
		lists[k.set] = append(lists[k.set], e)
		if k.set.interval() && k.end != "" {
			// An interval's end element must not carry a timeout (EINVAL);
			// it goes when its start does.
			lists[k.set] = append(lists[k.set], nftables.SetElement{Key: []byte(k.end), IntervalEnd: true})
		}
	}
	for kind, l := range lists {
		set := b.rs.sets[kind]
		for len(l) > 0 {
			n := min(len(l), maxElemsPerMessage)
			if setKind(kind).verdicts() {
				n = min(len(l), maxVerdictsPerMessage)
			}
			if n < len(l) && l[n].IntervalEnd {
				n++ // keep an interval's two elements in one message
			}
			var err error
			if del {
				err = c.SetDeleteElements(set, l[:n])
			} else {
				err = c.SetAddElements(set, l[:n])
			}
			if err != nil {
				return fmt.Errorf("netfilter: encoding elements of set %s: %w", set.Name, err)
			}
			l = l[n:]
		}
	}
	return nil
}

func compareKeys(a, b elemKey) int {
	return cmp.Or(cmp.Compare(a.set, b.set), strings.Compare(a.start, b.start), strings.Compare(a.end, b.end), strings.Compare(a.to, b.to))
}

// Close implements [enforce.Backend]. It deletes the table, if it was ever
// built, and closes the netlink connections. The Backend cannot be used
// afterwards. It waits for a Verify under way.
func (b *Backend) Close() error {
	b.vmu.Lock()
	defer b.vmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.done, b.ready = true, false
	if b.graw != nil {
		b.graw.close()
		b.graw = nil
	}
	var err error
	if b.applied {
		if err = b.deleteTable(); err != nil {
			err = fmt.Errorf("netfilter: deleting table %s: %w", b.rs.table.Name, err)
		}
	}
	b.dropWriter()
	b.dropConn()
	if b.raw != nil {
		b.raw.close()
		b.raw = nil
	}
	if b.nl != nil {
		b.nl.Close()
		b.nl = nil
	}
	return err
}

// handleLocked returns the rtnetlink/conntrack handle, opening it if needed.
func (b *Backend) handleLocked() (*netlink.Handle, error) {
	if b.nl != nil {
		return b.nl, nil
	}
	families := []int{unix.NETLINK_NETFILTER, unix.NETLINK_ROUTE}
	var h *netlink.Handle
	var err error
	if b.netns >= 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(b.netns), families...)
	} else {
		h, err = netlink.NewHandle(families...)
	}
	if err != nil {
		return nil, fmt.Errorf("opening netlink handle: %w", err)
	}
	b.nl = h
	return h, nil
}
