//go:build linux

package shaper

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/enforce"
)

// Names of what the Shaper installs; docs/firewall.md describes them.
const (
	DefaultTable = "curfew_shaper"

	mapNameMAC   = "throttle_mac" // ether_addr : classid, with timeouts
	mapNameV4    = "throttle_v4"  // ipv4_addr intervals : classid, with timeouts
	mapNameV6    = "throttle_v6"  // ipv6_addr intervals : classid, with timeouts
	chainForward = "forward"

	// Major is the handle of the HTB qdiscs (cf:) and the major number
	// of every class, so that a classid, written to a packet's priority
	// and kept in its flow's ct mark, is also curfew's tag on both.
	Major = 0xcf
	// maxMinor bounds the classes: one per throttled subject.
	maxMinor = 0xfffe
)

// classMask and classTag pick out the ct marks that are curfew's classids.
const (
	classMask = 0xffff0000
	classTag  = Major << 16
)

// replaceable are the root qdiscs the kernel or a distribution installs by
// default, which a Shaper may replace with its HTB and which come back
// when it deletes it. Any other root qdisc was chosen by an operator (an
// SQM cake on the uplink, say) and is left alone: Apply refuses.
var replaceable = []string{"noqueue", "mq", "fq_codel", "pfifo_fast", "fq", "pfifo"}

// Config configures a Shaper.
type Config struct {
	// Logger is used for all logging. It must not be nil.
	Logger *slog.Logger
	// NetNS is the network namespace to work in, as a file descriptor;
	// zero or less for the daemon's own.
	NetNS int
	// Table is the nftables table to own; DefaultTable if empty.
	Table string
	// LANInterfaces face the clients: their egress carries downloads.
	LANInterfaces []string
	// WANInterfaces face the internet: their egress carries uploads.
	WANInterfaces []string
}

// A Shaper installs and updates the kernel's throttles. It is the single
// writer of its table and of the root qdiscs of its interfaces; its
// methods may be called from several goroutines.
type Shaper struct {
	logger *slog.Logger
	netns  int
	ifaces []string
	table  *nftables.Table
	maps   [3]*nftables.Set // MAC, v4, v6
	chain  *nftables.Chain

	mu      sync.Mutex // guards the fields below
	conn    *nftables.Conn
	tc      *netlink.Handle
	built   bool // the table and the qdiscs are in place
	cleaned bool // what an earlier run left was removed
	have    map[string]class
	spans   []span // the routed subjects' runs in the interval maps
	free    []uint16
	next    uint16              // the lowest minor never handed out
	noFQ    bool                // the kernel cannot make fq_codel leaves
	links   []netlink.Link      // the interfaces as the last build found them
	last    map[string]Throttle // what the last Set asked for, for Verify's repairs
}

var (
	_ enforce.Backend  = (*Shaper)(nil)
	_ enforce.Verifier = (*Shaper)(nil)
)

// Verify implements [enforce.Verifier]: if the table, its chain or rules,
// or an interface's HTB qdisc is gone or changed (another firewall
// manager flushed the ruleset, an interface was deleted and made again),
// it removes what is left and installs everything the last Set asked for
// again, with the time left to each throttle, and reports 1.
func (s *Shaper) Verify(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.built {
		return 0, nil
	}
	ok, err := s.intactLocked()
	if err != nil || ok {
		return 0, err
	}
	now := time.Now()
	want := make(map[string]Throttle, len(s.last))
	for k, t := range s.last {
		if t.Until.After(now) {
			want[k] = t
		}
	}
	s.logger.WarnContext(ctx, "throttles changed behind curfew's back; installing them again", "table", s.table.Name)
	if len(want) == 0 {
		return 1, s.removeLocked()
	}
	if err := s.buildLocked(ctx, now, want); err != nil {
		s.built = false
		return 0, err
	}
	return 1, nil
}

// intactLocked reports whether the kernel holds the table's chain and
// rules, and an HTB qdisc of curfew's at the root of each interface as
// the last build found it.
func (s *Shaper) intactLocked() (bool, error) {
	c, err := s.connLocked()
	if err != nil {
		return false, err
	}
	chains, err := c.ListChainsOfTableFamily(s.table.Family)
	if err != nil {
		s.dropConnLocked()
		return false, fmt.Errorf("shaper: listing chains: %w", err)
	}
	if !slices.ContainsFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name == s.table.Name && ch.Name == s.chain.Name }) {
		return false, nil
	}
	if rules, err := c.GetRules(s.table, s.chain); err != nil || len(rules) != len(s.rules()) {
		return false, nil
	}
	h, err := s.tcLocked()
	if err != nil {
		return false, err
	}
	for _, name := range s.ifaces {
		if !slices.ContainsFunc(s.links, func(l netlink.Link) bool { return l.Attrs().Name == name }) {
			// Left out of the build: missing, or an operator's qdisc at
			// its root. Built again once it exists and is free.
			if l, err := h.LinkByName(name); err == nil && checkRoot(h, l) == nil {
				return false, nil
			}
		}
	}
	for _, l := range s.links {
		got, err := h.LinkByName(l.Attrs().Name)
		if err != nil || got.Attrs().Index != l.Attrs().Index {
			return false, nil
		}
		q, err := root(h, got)
		if err != nil {
			return false, err
		}
		if q == nil || q.Attrs().Handle != netlink.MakeHandle(Major, 0) || q.Type() != "htb" {
			return false, nil
		}
	}
	return true, nil
}

// class is one throttled subject as installed.
type class struct {
	minor uint16
	rate  uint64
	until time.Time
	mac   net.HardwareAddr // nil for a routed subject
}

// New validates c and returns a Shaper. It does not touch the kernel
// until the first Set.
func New(c *Config) (*Shaper, error) {
	if c == nil || c.Logger == nil {
		return nil, errors.New("shaper: nil logger")
	}
	if len(c.LANInterfaces) == 0 {
		return nil, errors.New("shaper: no LAN interface to shape downloads on")
	}
	ifaces := slices.Concat(c.LANInterfaces, c.WANInterfaces)
	for _, name := range ifaces {
		if name == "" || len(name) >= unix.IFNAMSIZ {
			return nil, fmt.Errorf("shaper: interface name %q: want 1 to %d characters", name, unix.IFNAMSIZ-1)
		}
	}
	slices.Sort(ifaces)
	if d := slices.Compact(slices.Clone(ifaces)); len(d) != len(ifaces) {
		return nil, errors.New("shaper: an interface is listed twice")
	}
	netns := c.NetNS
	if netns <= 0 {
		netns = -1
	}
	s := &Shaper{logger: c.Logger, netns: netns, ifaces: ifaces, have: map[string]class{}, next: 1}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: cmp.Or(c.Table, DefaultTable)}
	s.table = t
	s.maps[0] = &nftables.Set{Table: t, Name: mapNameMAC, KeyType: nftables.TypeEtherAddr, DataType: nftables.TypeClassID, IsMap: true, HasTimeout: true}
	s.maps[1] = &nftables.Set{Table: t, Name: mapNameV4, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeClassID, IsMap: true, HasTimeout: true, Interval: true}
	s.maps[2] = &nftables.Set{Table: t, Name: mapNameV6, KeyType: nftables.TypeIP6Addr, DataType: nftables.TypeClassID, IsMap: true, HasTimeout: true, Interval: true}
	accept := nftables.ChainPolicyAccept
	s.chain = &nftables.Chain{Name: chainForward, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityMangle, Policy: &accept}
	return s, nil
}

// Table returns the name of the nftables table s owns.
func (s *Shaper) Table() string { return s.table.Name }

// Set makes the kernel hold exactly the subjects of want to their rates,
// each until its Until, measured from at. A throttle already over at at
// is left out. It may be called again with the same arguments and then
// changes nothing; with none, it removes everything it installed. Of two
// throttles of the same subject, the lower rate holds.
func (s *Shaper) Set(ctx context.Context, at time.Time, want []Throttle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	byKey := make(map[string]Throttle, len(want))
	for _, t := range want {
		if err := t.validate(); err != nil {
			return err
		}
		if !t.Until.After(at) {
			continue
		}
		k := t.key()
		if t.MAC == nil {
			t.Prefix = t.Prefix.Masked()
		}
		// Two subjects of the same addresses (ip:10.0.0.1/24 and
		// ip:10.0.0.0/24): the stricter holds, as restrictions combine.
		if o, dup := byKey[k]; dup && (o.Rate < t.Rate || (o.Rate == t.Rate && !t.Until.After(o.Until))) {
			continue
		}
		byKey[k] = t
	}
	if len(byKey) > maxMinor {
		return fmt.Errorf("shaper: %d throttled subjects; at most %d", len(byKey), maxMinor)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = byKey
	if len(byKey) == 0 {
		if s.built || !s.cleaned {
			if err := s.removeLocked(); err != nil {
				return err
			}
			s.logger.InfoContext(ctx, "removed throttles", "table", s.table.Name)
		}
		return nil
	}
	if !s.built && !s.cleaned {
		// The first Set since the daemon started: what the last run
		// installed keeps throttling while it is brought up to date.
		ok, err := s.adoptLocked(ctx)
		if err != nil {
			return err
		}
		if ok {
			return s.updateLocked(ctx, at, byKey)
		}
	}
	if !s.built {
		if err := s.buildLocked(ctx, at, byKey); err != nil {
			s.built = false
			return err
		}
		return nil
	}
	return s.updateLocked(ctx, at, byKey)
}

// buildLocked removes what an earlier run left, then installs the qdiscs,
// one class per subject, and the table with its elements.
func (s *Shaper) buildLocked(ctx context.Context, at time.Time, want map[string]Throttle) error {
	if err := s.removeLocked(); err != nil {
		return err
	}
	h, err := s.tcLocked()
	if err != nil {
		return err
	}
	links := make([]netlink.Link, 0, len(s.ifaces))
	for _, name := range s.ifaces {
		l, err := h.LinkByName(name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			// A WAN link that is down (a PPP session, say); Verify
			// builds again when it appears.
			s.logger.WarnContext(ctx, "interface does not exist; throttled traffic through it is not held until it does", "interface", name)
			continue
		}
		if err != nil {
			return fmt.Errorf("shaper: finding interface %s: %w", name, err)
		}
		if err := checkRoot(h, l); err != nil {
			var oq *operatorQdiscError
			if !errors.As(err, &oq) {
				return err
			}
			// Left alone, and the other interfaces shaped: one refused
			// interface must not fail every restriction's apply.
			s.logger.WarnContext(ctx, "not shaping on an interface whose root qdisc curfew did not install; throttled traffic through it is not held",
				"interface", name, "qdisc", oq.kind, "fix", "tc qdisc del dev "+name+" root")
			continue
		}
		links = append(links, l)
	}
	s.links = links
	for _, l := range links {
		qlen := uint32(cmp.Or(l.Attrs().TxQLen, 1000))
		q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(Major, 0), Parent: netlink.HANDLE_ROOT})
		q.DirectQlen = &qlen // the queue of everything unthrottled
		if err := h.QdiscReplace(q); err != nil {
			return fmt.Errorf("shaper: adding HTB qdisc on %s: %w", l.Attrs().Name, err)
		}
	}
	s.built = true // from here on, a failure leaves something to remove
	s.have, s.free, s.next = map[string]class{}, nil, 1
	keys := sortedKeys(want)
	for _, k := range keys {
		t := want[k]
		minor, _ := s.allocLocked() // none is spare after removeLocked
		c := class{minor: minor, rate: t.Rate, until: t.Until, mac: t.MAC}
		if err := s.classLocked(c, false); err != nil {
			return err
		}
		s.have[k] = c
	}
	c, err := s.connLocked()
	if err != nil {
		return err
	}
	c.AddTable(s.table)
	c.DelTable(s.table)
	c.AddTable(s.table)
	for _, m := range s.maps {
		m.ID = 0
		if err := c.AddSet(m, nil); err != nil {
			return fmt.Errorf("shaper: adding map %s: %w", m.Name, err)
		}
	}
	c.AddChain(s.chain)
	for _, r := range s.rules() {
		c.AddRule(r)
	}
	var macs []nftables.SetElement
	for _, k := range keys {
		if cl := s.have[k]; cl.mac != nil {
			macs = append(macs, s.macElem(cl, at))
		}
	}
	if err := addElements(c, s.maps[0], macs); err != nil {
		return err
	}
	s.spans = spans(routed(want))
	if err := s.queueSpansLocked(c, at, s.spans); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		s.dropConnLocked()
		return fmt.Errorf("shaper: building table %s: %w", s.table.Name, err)
	}
	names := make([]string, len(s.links))
	for i, l := range s.links {
		names[i] = l.Attrs().Name
	}
	s.logger.InfoContext(ctx, "applied throttles", "table", s.table.Name, "throttled", len(want), "interfaces", names)
	return nil
}

// adoptLocked takes over the table and the qdiscs an earlier run left, if
// they are whole: the HTB qdisc on every interface with the same classes,
// and the table with its chain and rules. The throttled devices are read
// back from throttle_mac, with an unknown end so that updateLocked sends
// each again with its timeout; classes no element leads to become spares.
// It reports false, having changed nothing, if there
// is nothing whole to adopt.
func (s *Shaper) adoptLocked(ctx context.Context) (bool, error) {
	h, err := s.tcLocked()
	if err != nil {
		return false, err
	}
	links := make([]netlink.Link, 0, len(s.ifaces))
	var rates map[uint16]uint64
	for _, name := range s.ifaces {
		l, err := h.LinkByName(name)
		if err != nil {
			return false, nil
		}
		q, err := root(h, l)
		if err != nil || q == nil || q.Attrs().Handle != netlink.MakeHandle(Major, 0) || q.Type() != "htb" {
			return false, err
		}
		cs, err := h.ClassList(l, netlink.MakeHandle(Major, 0))
		if err != nil {
			return false, fmt.Errorf("shaper: listing classes of %s: %w", name, err)
		}
		got := map[uint16]uint64{}
		for _, c := range cs {
			// The kernel reports a class under the qdisc itself as a root class.
			if hc, ok := c.(*netlink.HtbClass); ok && hc.Attrs().Handle>>16 == Major && uint16(hc.Attrs().Handle) != 0 {
				got[uint16(hc.Attrs().Handle)] = hc.Rate * 8
			}
		}
		if rates == nil {
			rates = got
		} else if !maps.Equal(rates, got) {
			return false, nil
		}
		links = append(links, l)
	}
	c, err := s.connLocked()
	if err != nil {
		return false, err
	}
	chains, err := c.ListChainsOfTableFamily(s.table.Family)
	if err != nil {
		return false, fmt.Errorf("shaper: listing chains: %w", err)
	}
	if !slices.ContainsFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name == s.table.Name && ch.Name == s.chain.Name }) {
		return false, nil
	}
	rules, err := c.GetRules(s.table, s.chain)
	if err != nil || len(rules) != len(s.rules()) {
		return false, nil
	}
	sets, err := c.GetSets(s.table)
	if err != nil || len(sets) != len(s.maps) {
		return false, nil
	}
	els, err := c.GetSetElements(s.maps[0])
	if err != nil {
		return false, nil
	}
	s.links, s.have, s.free, s.next = links, map[string]class{}, nil, 1
	used := map[uint16]bool{}
	for _, e := range els {
		if len(e.Key) != 6 || len(e.Val) != 4 {
			continue
		}
		id := binary.BigEndian.Uint32(e.Val)
		minor := uint16(id)
		rate, ok := rates[minor]
		if id&classMask != classTag || !ok || used[minor] {
			continue // updateLocked's batch replaces it
		}
		used[minor] = true
		mac := net.HardwareAddr(slices.Clone(e.Key))
		s.have[mac.String()] = class{minor: minor, rate: rate, mac: mac}
	}
	for m := range rates {
		s.next = max(s.next, m+1)
		if !used[m] {
			s.free = append(s.free, m) // a spare, as in updateLocked
		}
	}
	s.spans = []span{{key: "adopted"}} // never equal: the interval maps are written again
	s.built, s.cleaned = true, true
	s.logger.InfoContext(ctx, "adopted throttles of the last run", "table", s.table.Name, "devices", len(s.have), "classes", len(rates))
	return true, nil
}

// updateLocked sends only what changed since the last Set: new, changed
// and removed classes, and, in one nftables batch, the elements whose
// class or end changed.
func (s *Shaper) updateLocked(ctx context.Context, at time.Time, want map[string]Throttle) error {
	var add, del []nftables.SetElement
	var gone []class
	for k, cl := range s.have {
		if _, ok := want[k]; !ok {
			gone = append(gone, cl)
			if cl.mac != nil {
				del = append(del, nftables.SetElement{Key: cl.mac})
			}
			delete(s.have, k)
		}
	}
	changed := 0
	for k, t := range want {
		cl, ok := s.have[k]
		switch {
		case !ok:
			minor, spare := s.allocLocked()
			cl = class{minor: minor, rate: t.Rate, until: t.Until, mac: t.MAC}
			if err := s.classLocked(cl, spare); err != nil {
				return s.rebuildLocked(ctx, at, want, err)
			}
			if cl.mac != nil {
				add = append(add, s.macElem(cl, at))
			}
		case cl.rate != t.Rate || !cl.until.Equal(t.Until):
			if cl.rate != t.Rate {
				cl.rate = t.Rate
				if err := s.classLocked(cl, true); err != nil {
					return s.rebuildLocked(ctx, at, want, err)
				}
			}
			if !cl.until.Equal(t.Until) && cl.mac != nil {
				// Delete and add in one batch: atomic for packets.
				del = append(del, nftables.SetElement{Key: cl.mac})
				cl.until = t.Until
				add = append(add, s.macElem(cl, at))
			}
			cl.until = t.Until
		default:
			continue
		}
		s.have[k] = cl
		changed++
	}
	sp := spans(routed(want))
	if len(add)+len(del) > 0 || !slices.Equal(sp, s.spans) {
		c, err := s.connLocked()
		if err != nil {
			return err
		}
		if err := delElements(c, s.maps[0], del); err != nil {
			return err
		}
		if err := addElements(c, s.maps[0], add); err != nil {
			return err
		}
		if !slices.Equal(sp, s.spans) {
			c.FlushSet(s.maps[1])
			c.FlushSet(s.maps[2])
			if err := s.queueSpansLocked(c, at, sp); err != nil {
				return err
			}
		}
		if err := c.Flush(); err != nil {
			s.dropConnLocked()
			return s.rebuildLocked(ctx, at, want, fmt.Errorf("updating table %s: %w", s.table.Name, err))
		}
		s.spans = sp
	}
	// The classes of subjects no longer throttled stay, unused, as
	// spares for the next ones: creating an HTB class costs the kernel a
	// walk of every class of the qdisc (tc_bind_class_walker), changing
	// one does not.
	for _, cl := range gone {
		s.free = append(s.free, cl.minor)
	}
	if changed+len(gone) > 0 {
		s.logger.InfoContext(ctx, "applied throttles", "table", s.table.Name, "throttled", len(want), "changed", changed, "removed", len(gone))
	}
	return nil
}

// rebuildLocked builds everything again after an update failed with err.
func (s *Shaper) rebuildLocked(ctx context.Context, at time.Time, want map[string]Throttle, err error) error {
	s.logger.WarnContext(ctx, "rebuilding throttles after a failed update", "table", s.table.Name, "err", err)
	s.built = false
	if err := s.buildLocked(ctx, at, want); err != nil {
		s.built = false
		return err
	}
	return nil
}

// Close removes the table and the qdiscs, whether this Shaper installed
// them or an earlier run did, and releases its connections.
func (s *Shaper) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.removeLocked()
	s.dropConnLocked()
	if s.tc != nil {
		s.tc.Close()
		s.tc = nil
	}
	return err
}

// removeLocked deletes the table and every root qdisc with curfew's
// handle; the kernel puts its default qdiscs back.
func (s *Shaper) removeLocked() error {
	c, err := s.connLocked()
	if err != nil {
		return err
	}
	c.AddTable(s.table) // so that the delete cannot fail if it is gone
	c.DelTable(s.table)
	if err := c.Flush(); err != nil {
		s.dropConnLocked()
		return fmt.Errorf("shaper: deleting table %s: %w", s.table.Name, err)
	}
	h, err := s.tcLocked()
	if err != nil {
		return err
	}
	for _, name := range s.ifaces {
		l, err := h.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				continue // nothing of curfew's can be on it
			}
			return fmt.Errorf("shaper: finding interface %s: %w", name, err)
		}
		q, err := root(h, l)
		if err != nil {
			return err
		}
		if q != nil && q.Attrs().Handle == netlink.MakeHandle(Major, 0) {
			if err := h.QdiscDel(q); err != nil {
				return fmt.Errorf("shaper: deleting HTB qdisc on %s: %w", name, err)
			}
		}
	}
	s.built, s.cleaned = false, true
	s.have, s.spans, s.free, s.next = map[string]class{}, nil, nil, 1
	return nil
}

// An operatorQdiscError is an interface whose root qdisc an operator
// chose, which a Shaper leaves alone.
type operatorQdiscError struct{ iface, kind string }

func (e *operatorQdiscError) Error() string {
	return fmt.Sprintf("shaper: interface %s has a %s qdisc at its root, which curfew did not install", e.iface, e.kind)
}

// checkRoot returns an *operatorQdiscError for an interface whose root
// qdisc an operator chose.
func checkRoot(h *netlink.Handle, l netlink.Link) error {
	q, err := root(h, l)
	if err != nil || q == nil {
		return err
	}
	if q.Attrs().Handle == netlink.MakeHandle(Major, 0) || slices.Contains(replaceable, q.Type()) {
		return nil
	}
	return &operatorQdiscError{iface: l.Attrs().Name, kind: q.Type()}
}

// root returns the root qdisc of l, nil if it has none.
func root(h *netlink.Handle, l netlink.Link) (netlink.Qdisc, error) {
	qs, err := h.QdiscList(l)
	if err != nil {
		return nil, fmt.Errorf("shaper: listing qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q, nil
		}
	}
	return nil, nil
}

// classLocked adds (or, if replace, changes) cl's HTB class and its leaf
// on every interface.
func (s *Shaper) classLocked(cl class, replace bool) error {
	h, err := s.tcLocked()
	if err != nil {
		return err
	}
	burst := Burst(cl.rate)
	quantum := uint32(min(max(cl.rate/8/10, 1514), 200_000))
	for _, l := range s.links {
		name := l.Attrs().Name
		hc := netlink.NewHtbClass(netlink.ClassAttrs{
			LinkIndex: l.Attrs().Index,
			Parent:    netlink.MakeHandle(Major, 0),
			Handle:    netlink.MakeHandle(Major, cl.minor),
		}, netlink.HtbClassAttrs{Rate: cl.rate, Ceil: cl.rate, Buffer: burst, Cbuffer: burst, Quantum: quantum})
		if replace {
			err = h.ClassReplace(hc)
		} else {
			err = h.ClassAdd(hc)
		}
		if err != nil {
			return fmt.Errorf("shaper: setting class %x:%x on %s: %w", Major, cl.minor, name, err)
		}
		if s.noFQ {
			continue
		}
		if replace {
			err = h.QdiscReplace(leaf(l, cl)) // CoDel's target follows the rate
		} else {
			err = h.QdiscAdd(leaf(l, cl))
		}
		if errors.Is(err, unix.ENOENT) {
			// The kernel has no fq_codel (CONFIG_NET_SCH_FQ_CODEL).
			s.noFQ = true
			s.logger.Warn("the kernel has no fq_codel qdisc; throttled clients' queues are plain FIFOs, and their latency grows with their downloads",
				"interface", name)
			continue
		}
		if err != nil {
			return fmt.Errorf("shaper: adding fq_codel under class %x:%x on %s: %w", Major, cl.minor, name, err)
		}
	}
	return nil
}

// leaf returns the qdisc under cl's class on l: fq_codel, so that a
// throttled client's queue stays short (without it, HTB's default pfifo
// holds seconds of traffic at a low rate, and every page the client loads
// waits behind its own downloads) and its flows share the rate fairly.
// Few flow buckets keep it small: there is one per class and interface.
// CoDel's target is at least the time one full frame takes at the rate.
func leaf(l netlink.Link, cl class) *netlink.FqCodel {
	q := netlink.NewFqCodel(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.MakeHandle(Major, cl.minor)})
	frame := time.Duration(1514*8*uint64(time.Second)/cl.rate) * 3 / 2
	q.Target = uint32(max(5*time.Millisecond, frame).Microseconds())
	q.Interval = uint32((100*time.Millisecond + time.Duration(q.Target)*time.Microsecond).Microseconds())
	q.Flows = 64
	q.Limit = 1000
	q.MemoryLimit = 4 << 20
	return q
}

// allocLocked returns the minor for a new subject's class: a spare's,
// whose class exists (spare is true), or one never used.
func (s *Shaper) allocLocked() (minor uint16, spare bool) {
	if n := len(s.free); n > 0 {
		m := s.free[n-1]
		s.free = s.free[:n-1]
		return m, true
	}
	s.next++
	return s.next - 1, false
}

// classid is a map's value for minor: the classid in network byte order,
// so that `nft list` shows it as tc does (cf:1); the rules turn it to the
// host's order, which the packet's priority and ct mark are in.
func classid(minor uint16) []byte {
	return binaryutil.BigEndian.PutUint32(classTag | uint32(minor))
}

func timeout(until, at time.Time) time.Duration {
	return max(until.Sub(at), time.Millisecond).Round(time.Millisecond)
}

func (s *Shaper) macElem(cl class, at time.Time) nftables.SetElement {
	return nftables.SetElement{Key: cl.mac, Val: classid(cl.minor), Timeout: timeout(cl.until, at)}
}

// queueSpansLocked adds the routed subjects' runs to the interval maps: a
// start element with the class and the timeout, and an end element
// without a timeout (the kernel refuses one there).
func (s *Shaper) queueSpansLocked(c *nftables.Conn, at time.Time, sp []span) error {
	var v4, v6 []nftables.SetElement
	for _, x := range sp {
		cl := s.have[x.key]
		els := []nftables.SetElement{{Key: x.start.AsSlice(), Val: classid(cl.minor), Timeout: timeout(cl.until, at)}}
		if x.end.IsValid() {
			els = append(els, nftables.SetElement{Key: x.end.AsSlice(), IntervalEnd: true})
		}
		if x.start.Is4() {
			v4 = append(v4, els...)
		} else {
			v6 = append(v6, els...)
		}
	}
	if err := addElements(c, s.maps[1], v4); err != nil {
		return err
	}
	return addElements(c, s.maps[2], v6)
}

// maxElems bounds the elements of one netlink message.
const maxElems = 1000

func addElements(c *nftables.Conn, m *nftables.Set, els []nftables.SetElement) error {
	for len(els) > 0 {
		n := min(len(els), maxElems)
		if m.Interval && n < len(els) && els[n].IntervalEnd {
			n++ // a start and its end go together
		}
		if err := c.SetAddElements(m, els[:n]); err != nil {
			return fmt.Errorf("shaper: encoding elements of map %s: %w", m.Name, err)
		}
		els = els[n:]
	}
	return nil
}

func delElements(c *nftables.Conn, m *nftables.Set, els []nftables.SetElement) error {
	for len(els) > 0 {
		n := min(len(els), maxElems)
		if err := c.SetDeleteElements(m, els[:n]); err != nil {
			return fmt.Errorf("shaper: encoding elements of map %s: %w", m.Name, err)
		}
		els = els[n:]
	}
	return nil
}

// rules are the forward chain's, in order:
//
//	ct direction original ct mark & 0xffff0000 == cf:0 ct mark set 0
//	ether saddr map @throttle_mac → meta priority, ct mark
//	ip saddr map @throttle_v4 → meta priority, ct mark
//	ip6 saddr map @throttle_v6 → meta priority, ct mark
//	ct direction reply ct mark & 0xffff0000 == cf:0 meta priority set ct mark
//
// The first forgets a flow's class on every packet its client sends, so
// that a class whose element has timed out stops applying to the flow's
// downloads within one round trip; the next three give it back while the
// element lives.
func (s *Shaper) rules() []*nftables.Rule {
	ne := binaryutil.NativeEndian.PutUint32
	ours := func(dst uint32) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: dst, Len: 4, Mask: ne(classMask), Xor: ne(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: dst, Data: ne(classTag)},
		}
	}
	direction := func(d byte) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{d}},
		}
	}
	classify := func(m *nftables.Set) []expr.Any {
		return []expr.Any{
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderNtoh, Len: 4, Size: 4},
			&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		}
	}
	nfproto := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		}
	}
	rule := func(exprs ...[]expr.Any) *nftables.Rule {
		return &nftables.Rule{Table: s.table, Chain: s.chain, Exprs: slices.Concat(exprs...)}
	}
	return []*nftables.Rule{
		rule(direction(0), ours(1), []expr.Any{
			&expr.Immediate{Register: 1, Data: ne(0)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		}),
		rule([]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		}, classify(s.maps[0])),
		rule(nfproto(unix.NFPROTO_IPV4), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		}, classify(s.maps[1])),
		rule(nfproto(unix.NFPROTO_IPV6), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
		}, classify(s.maps[2])),
		rule(direction(1), ours(2), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1},
		}),
	}
}

func (s *Shaper) connLocked() (*nftables.Conn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
		// Installing 10,000 throttles is one batch of about a megabyte.
		return c.SetWriteBuffer(16 << 20)
	})}
	if s.netns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(s.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("shaper: opening nftables connection: %w", err)
	}
	s.conn = c
	return c, nil
}

func (s *Shaper) dropConnLocked() {
	if s.conn != nil {
		s.conn.CloseLasting()
		s.conn = nil
	}
}

func (s *Shaper) tcLocked() (*netlink.Handle, error) {
	if s.tc != nil {
		return s.tc, nil
	}
	var h *netlink.Handle
	var err error
	if s.netns >= 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(s.netns), unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("shaper: opening rtnetlink connection: %w", err)
	}
	s.tc = h
	return h, nil
}

// routed returns the routed subjects of want, sorted by prefix.
func routed(want map[string]Throttle) []Throttle {
	var out []Throttle
	for _, t := range want {
		if t.MAC == nil {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Throttle) int { return strings.Compare(a.key(), b.key()) })
	return out
}

func sortedKeys(m map[string]Throttle) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
