//go:build linux

package netfilter

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
)

// Names of the windows table's objects; docs/firewall.md describes them.
const (
	DefaultWindowsTable = "curfew_windows"

	chainWForward = "forward"
	chainWRefuse  = "refuse"

	// metaTimeNS is NFT_META_TIME_NS (Linux 5.4): the packet's time, in
	// nanoseconds since the epoch, in host byte order.
	metaTimeNS = 30
)

// The dispatch maps of the windows table: a client's MAC, or a routed
// source, to the chain of the schedules that apply to it; and the
// addresses of both, as destinations of replies, to the chain that holds
// what is sent to them.
const (
	winMapMAC = iota
	winMapSrc4
	winMapSrc6
	winMapDst4
	winMapDst6
	numWinMaps
)

var winMapNames = [numWinMaps]string{"window_mac", "window_src4", "window_src6", "window_dst4", "window_dst6"}

// WindowsConfig configures a Windows. Its fields mean what those of Config
// of the same names mean.
type WindowsConfig struct {
	Logger        *slog.Logger
	NetNS         int
	Table         string // DefaultWindowsTable if empty
	LANInterfaces []string
}

// Windows keeps the schedules' windows in the kernel, in a table of its own
// (inet curfew_windows), so that each window opens and closes on time with
// no process in user space: nftables compares each packet's time (`meta
// time`) with the schedule's windows. It enforces what a window leaves
// when curfew's resolver and notice server are gone with the daemon:
// cutoff refuses everything both ways, allowlist everything but the
// allowed prefixes; blocklist needs the resolver, so it is left alone.
//
// Its forward chain runs before the restrictions' and quarantine's, and
// before any `ct state established accept`, so established flows are cut
// at a window's start too. A client's MAC or routed source leads, through
// one map lookup, to the chain of exactly the schedules that apply to it
// (shared by every client with the same schedules); there, one rule per
// schedule matches the packet's time against a small interval set of that
// schedule's windows.
//
// Apply sends only what changed since the last Apply, in one batch (one
// transaction): a change to one schedule's windows refills its one set,
// whatever the number of schedules. The table outlives the daemon;
// Close deletes it.
type Windows struct {
	logger *slog.Logger
	netns  int
	lan    []string
	table  *nftables.Table
	maps   [numWinMaps]*nftables.Set
	chains []*nftables.Chain // forward and refuse
	rules  []*nftables.Rule

	mu    sync.Mutex // guards the fields below
	conn  *nftables.Conn
	built bool
	last  *curfew.KernelWindows // what have was built from
	have  *winState
	// sent counts what the last Apply changed in the kernel.
	sent WindowsChange
	// checks counts Verify calls: the chains and sets are compared every
	// windowsFullCheck-th, the table's presence every time.
	checks int
}

// windowsFullCheck is how many Verify calls (one a second) pass between
// two comparisons of the table's chains and sets, which with 10,000
// schedules is a dump of tens of thousands of objects.
const windowsFullCheck = 30

// WindowsChange counts what one Apply sent to the kernel.
type WindowsChange struct {
	Rebuilt  bool // the whole table was built again
	Sets     int  // sets added, refilled or deleted
	Chains   int  // chains added, refilled or deleted
	Elements int  // map elements added or deleted
}

var (
	_ enforce.Backend  = (*Windows)(nil)
	_ enforce.Verifier = (*Windows)(nil)
)

// NewWindows validates c and returns a Windows. It does not touch the
// kernel until the first Apply.
func NewWindows(c *WindowsConfig) (*Windows, error) {
	if c == nil || c.Logger == nil {
		return nil, errors.New("netfilter: nil logger")
	}
	netns := c.NetNS
	if netns <= 0 {
		netns = -1
	}
	w := &Windows{logger: c.Logger, netns: netns, lan: slices.Clone(c.LANInterfaces)}
	w.build(cmp.Or(c.Table, DefaultWindowsTable))
	return w, nil
}

// build describes the table's fixed part: the dispatch maps, the forward
// chain that looks clients up in them, and the refuse chain.
func (w *Windows) build(name string) {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	w.table = t
	keys := [numWinMaps]nftables.SetDatatype{nftables.TypeEtherAddr, nftables.TypeIPAddr, nftables.TypeIP6Addr, nftables.TypeIPAddr, nftables.TypeIP6Addr}
	for i := range w.maps {
		w.maps[i] = &nftables.Set{Table: t, Name: winMapNames[i], KeyType: keys[i], IsMap: true,
			DataType: nftables.TypeVerdict, Interval: i != winMapMAC}
	}
	accept := nftables.ChainPolicyAccept
	// Before quarantine's (filterPriority-1) and the restrictions'
	// (filterPriority) forward chains.
	forward := &nftables.Chain{Name: chainWForward, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityRef(filterPriority - 2), Policy: &accept}
	refuse := &nftables.Chain{Name: chainWRefuse, Table: t}
	w.chains = []*nftables.Chain{forward, refuse}
	add := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		w.rules = append(w.rules, &nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(exprs...)})
	}
	vmap := func(s *nftables.Set) []expr.Any {
		return []expr.Any{&expr.Lookup{SourceRegister: 1, SetName: s.Name, IsDestRegSet: true, DestRegister: 0}}
	}
	macSrc := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
	}
	if len(w.lan) == 0 {
		add(forward, macSrc, vmap(w.maps[winMapMAC]))
	}
	for _, n := range w.lan {
		add(forward, iifname(n), macSrc, vmap(w.maps[winMapMAC]))
	}
	for i, f := range families {
		src, dst := w.maps[winMapSrc4+i], w.maps[winMapDst4+i]
		// A routed source's own flows, and its packets conntrack does not
		// follow; then what is sent back to a scheduled client.
		from := slices.Concat(nfproto(f.proto), addr(f, false, 1))
		add(forward, ctDirection(ctDirOriginal), from, vmap(src))
		add(forward, ctStateAny(ctStateInvalid|ctStateUntracked), from, vmap(src))
		add(forward, ctDirection(ctDirReply), nfproto(f.proto), addr(f, true, 1), vmap(dst))
	}
	add(refuse, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	add(refuse, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}})
}

// Table returns the name of the table w owns.
func (w *Windows) Table() string { return w.table.Name }

// LastChange returns what the last Apply sent to the kernel.
func (w *Windows) LastChange() WindowsChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

// winSet is one per-schedule set: its windows (times_ID) or its allowed
// prefixes (allow4_ID, allow6_ID).
type winSet struct {
	key nftables.SetDatatype
	els []nftables.SetElement
}

// winChain is the chain of one combination of schedules (see chainName).
type winChain struct {
	members []winMember // sorted: cutoff first, then by ID
	out     bool
	sig     string // members' IDs, reaches and sets: equal sig, equal rules
}

// winMember is what a chain needs to know of one of its schedules.
type winMember struct {
	id    string
	reach curfew.Reach
	times string // the set of its windows
}

// winRange is one element of an interval dispatch map: [lo, end) to chain.
type winRange struct {
	end   []byte // nil: to the end of the address space
	chain string
}

// winState is everything the windows table holds beyond its fixed part.
type winState struct {
	sets   map[string]*winSet
	chains map[string]*winChain
	macs   map[string]string               // MAC bytes to chain
	ranges [numWinMaps]map[string]winRange // by start key; winMapMAC unused
}

func newWinState() *winState {
	s := &winState{sets: map[string]*winSet{}, chains: map[string]*winChain{}, macs: map[string]string{}}
	for i := range s.ranges {
		s.ranges[i] = map[string]winRange{}
	}
	return s
}

// Apply implements [enforce.Backend]: it makes the table hold exactly the
// windows of s.Windows (none if nil). The same KernelWindows as the last
// Apply sends nothing; another sends only what differs; one that says
// Keep leaves the table, built by this Windows or an earlier run's, as it
// is.
func (w *Windows) Apply(ctx context.Context, s *curfew.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var kw *curfew.KernelWindows
	if s != nil {
		kw = s.Windows
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if kw != nil && kw.Keep {
		w.sent = WindowsChange{}
		return nil // whatever the kernel holds, as the last run left it
	}
	if w.built && kw == w.last && kw != nil {
		w.sent = WindowsChange{}
		return nil
	}
	want, err := desiredWindows(kw)
	if err != nil {
		return err
	}
	if w.built {
		var ch WindowsChange
		err := w.sendLocked(want, &ch)
		if err == nil {
			w.sent = ch
			w.have, w.last = want, kw
			if ch != (WindowsChange{}) {
				w.logger.InfoContext(ctx, "applied kernel windows", "schedules", countSchedules(kw),
					"sets", ch.Sets, "chains", ch.Chains, "elements", ch.Elements)
			}
			return nil
		}
		w.logger.WarnContext(ctx, "rebuilding windows table after failed update", "table", w.table.Name, "err", err)
	}
	if err := w.rebuildLocked(want); err != nil {
		return err
	}
	w.have, w.last = want, kw
	w.logger.InfoContext(ctx, "built kernel windows table", "schedules", countSchedules(kw), "sets", len(want.sets), "chains", len(want.chains))
	return nil
}

// desiredWindows returns what the table must hold for kw.
func desiredWindows(kw *curfew.KernelWindows) (*winState, error) {
	st := newWinState()
	if kw == nil {
		return st, nil
	}
	macIDs := map[string][]int{} // MAC to the schedules (indexes) on it
	var entries [numWinMaps][]rangeEntry
	scheds := kw.Schedules
	members := make([]winMember, len(scheds))
	for i, s := range scheds {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("netfilter: %w", err)
		}
		if s.Reach != curfew.ReachCutoff && s.Reach != curfew.ReachAllowlist {
			// Blocklist needs the resolver. A window's Rate is not
			// kept by the kernel alone yet: this is where its rule
			// would set the packet mark the shaper's tc classes match.
			continue
		}
		times := &winSet{key: nftables.TypeTimeDate}
		for _, r := range s.Windows {
			times.els = append(times.els,
				nftables.SetElement{Key: timeKey(r.Start.UnixNano())},
				nftables.SetElement{Key: timeKey(r.End.UnixNano()), IntervalEnd: true})
		}
		// Schedules with the same windows share one set: the kernel's
		// cost of a transaction grows with the number of sets in the
		// table, not with the number of chains.
		tname := timesSet(times.els)
		st.sets[tname] = times
		members[i] = winMember{id: s.ID, reach: s.Reach, times: tname}
		if s.Reach == curfew.ReachAllowlist {
			for j, f := range families {
				var es []rangeEntry
				for _, p := range s.AllowPrefixes {
					if p.Addr().Is4() == (f.proto == unix.NFPROTO_IPV4) {
						es = append(es, rangeEntry{lo: p.Addr(), hi: prefixLast(p), id: i})
					}
				}
				allow := &winSet{key: []nftables.SetDatatype{nftables.TypeIPAddr, nftables.TypeIP6Addr}[j]}
				for _, seg := range sweep(es) {
					allow.els = append(allow.els, seg.elements("")...)
				}
				st.sets[allowSet(f, s.ID)] = allow
			}
		}
		for _, d := range s.Devices {
			k := string(d.MAC)
			if ids := macIDs[k]; len(ids) == 0 || ids[len(ids)-1] != i {
				macIDs[k] = append(ids, i)
			}
			for _, a := range d.Addrs {
				a = a.Unmap()
				entries[winMapDst4+fam(a)] = append(entries[winMapDst4+fam(a)], rangeEntry{lo: a, hi: a, id: i})
			}
		}
		for _, p := range s.Prefixes {
			e := rangeEntry{lo: p.Addr(), hi: prefixLast(p), id: i}
			entries[winMapSrc4+fam(p.Addr())] = append(entries[winMapSrc4+fam(p.Addr())], e)
			entries[winMapDst4+fam(p.Addr())] = append(entries[winMapDst4+fam(p.Addr())], e)
		}
	}
	chainOf := func(ids []int, out bool) string {
		ms := make([]winMember, len(ids))
		cutoff := true
		for j, i := range ids {
			ms[j] = members[i]
			cutoff = cutoff && ms[j].reach == curfew.ReachCutoff
		}
		slices.SortFunc(ms, func(a, b winMember) int {
			if (a.reach == curfew.ReachCutoff) != (b.reach == curfew.ReachCutoff) {
				if a.reach == curfew.ReachCutoff {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.id, b.id)
		})
		var sig strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&sig, "%s:%s:%s,", m.id, m.reach, m.times)
		}
		// Cutoff refuses both ways alike: one chain for both.
		name := chainName(ms, out, cutoff)
		if _, ok := st.chains[name]; !ok {
			st.chains[name] = &winChain{members: ms, out: out, sig: sig.String()}
		}
		return name
	}
	for mac, ids := range macIDs {
		slices.Sort(ids)
		st.macs[mac] = chainOf(ids, true)
	}
	for m := winMapSrc4; m < numWinMaps; m++ {
		out := m == winMapSrc4 || m == winMapSrc6
		for _, seg := range sweep(entries[m]) {
			st.ranges[m][string(seg.lo.AsSlice())] = winRange{end: seg.endKey(), chain: chainOf(seg.ids, out)}
		}
	}
	return st, nil
}

// fam is 0 for IPv4, 1 for IPv6: the index into families.
func fam(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// timesSet names the set of windows els after a hash of them.
func timesSet(els []nftables.SetElement) string {
	h := sha256.New()
	for _, e := range els {
		h.Write(e.Key)
	}
	return "times_" + hex.EncodeToString(h.Sum(nil)[:8])
}

func allowSet(f family, id string) string {
	if f.proto == unix.NFPROTO_IPV4 {
		return "allow4_" + id
	}
	return "allow6_" + id
}

// chainName names the chain of a combination of schedules after a hash of
// their IDs, so that every client with the same schedules shares it and
// its name stays when one of them changes its windows: g_ for schedules
// that all cut off (both ways alike), else o_ for what the clients send
// and i_ for what is sent to them.
func chainName(members []winMember, out, cutoff bool) string {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	p := "i_"
	switch {
	case cutoff:
		p = "g_"
	case out:
		p = "o_"
	}
	return p + hex.EncodeToString(sum[:8])
}

// rules returns the rules of the chain: for each schedule, a match of the
// packet's time against its windows, then what its reach refuses.
func (c *winChain) rules() [][]expr.Any {
	var rs [][]expr.Any
	for _, m := range c.members {
		open := []expr.Any{
			&expr.Meta{Key: metaTimeNS, Register: 1},
			// The set's keys are big-endian, as interval sets compare
			// bytes: nft does the same for `meta time`.
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 8, Size: 8},
			&expr.Lookup{SourceRegister: 1, SetName: m.times},
		}
		switch m.reach {
		case curfew.ReachCutoff:
			rs = append(rs, slices.Concat(open, jump(chainWRefuse)))
		case curfew.ReachAllowlist:
			// The other end of the flow: the destination of what the
			// client sends, the source of what it is sent.
			for _, f := range families {
				rs = append(rs, slices.Concat(open, nfproto(f.proto), addr(f, c.out, 1),
					[]expr.Any{&expr.Lookup{SourceRegister: 1, SetName: allowSet(f, m.id), Invert: true}}, jump(chainWRefuse)))
			}
		}
	}
	return rs
}

// rangeEntry is a range of addresses [lo, hi] of schedule id (an index).
type rangeEntry struct {
	lo, hi netip.Addr
	id     int
}

// segment is a range [lo, hi] covered by exactly the schedules ids.
type segment struct {
	lo, hi netip.Addr
	ids    []int
}

// endKey returns the key of the segment's end element: the address after
// hi, or nil if hi is the last address.
func (s segment) endKey() []byte {
	if n := s.hi.Next(); n.IsValid() {
		return n.AsSlice()
	}
	return nil
}

// elements returns the start and end elements of s in an interval set, or
// map if chain is not empty.
func (s segment) elements(chain string) []nftables.SetElement {
	start := nftables.SetElement{Key: s.lo.AsSlice()}
	if chain != "" {
		start.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
	}
	els := []nftables.SetElement{start}
	if end := s.endKey(); end != nil {
		els = append(els, nftables.SetElement{Key: end, IntervalEnd: true})
	}
	return els
}

// sweep cuts overlapping ranges of one family into disjoint segments, each
// with the sorted schedules covering it; touching segments with the same
// schedules are merged, so that an interval set takes them.
func sweep(es []rangeEntry) []segment {
	if len(es) == 0 {
		return nil
	}
	type event struct {
		at   netip.Addr
		id   int
		open bool
	}
	evs := make([]event, 0, 2*len(es))
	for _, e := range es {
		evs = append(evs, event{e.lo, e.id, true})
		if n := e.hi.Next(); n.IsValid() {
			evs = append(evs, event{n, e.id, false})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	active := map[int]int{}
	var segs []segment
	for i := 0; i < len(evs); {
		at := evs[i].at
		for ; i < len(evs) && evs[i].at == at; i++ {
			if evs[i].open {
				active[evs[i].id]++
			} else if active[evs[i].id]--; active[evs[i].id] == 0 {
				delete(active, evs[i].id)
			}
		}
		if len(active) == 0 {
			continue
		}
		hi := lastAddr(at.BitLen())
		if i < len(evs) {
			hi = evs[i].at.Prev()
		}
		ids := slices.Sorted(maps.Keys(active))
		if n := len(segs); n > 0 && slices.Equal(segs[n-1].ids, ids) && segs[n-1].hi.Next() == at {
			segs[n-1].hi = hi
			continue
		}
		segs = append(segs, segment{lo: at, hi: hi, ids: ids})
	}
	return segs
}

// connLocked returns the lasting connection, dialling it if needed.
func (w *Windows) connLocked() (*nftables.Conn, error) {
	if w.conn != nil {
		return w.conn, nil
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
		// A build of 10,000 schedules is tens of thousands of messages
		// in one sendmsg, each acknowledged.
		if err := c.SetWriteBuffer(64 << 20); err != nil {
			return err
		}
		return c.SetReadBuffer(64 << 20)
	})}
	if w.netns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(w.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("netfilter: opening nftables connection: %w", err)
	}
	w.conn = c
	return c, nil
}

func (w *Windows) dropConnLocked() {
	if w.conn != nil {
		w.conn.CloseLasting()
		w.conn = nil
	}
}

// batch is one transaction being queued: the sets it adds, so that rules
// added after them name them by ID as well.
type batch struct {
	c     *nftables.Conn
	table *nftables.Table
	added map[string]*nftables.Set
	err   error
}

func (b *batch) set(name string, key nftables.SetDatatype, interval bool) *nftables.Set {
	return &nftables.Set{Table: b.table, Name: name, KeyType: key, Interval: interval}
}

func (b *batch) addSet(s *nftables.Set, els []nftables.SetElement) {
	if b.err != nil {
		return
	}
	if err := b.c.AddSet(s, nil); err != nil {
		b.err = fmt.Errorf("netfilter: adding set %s: %w", s.Name, err)
		return
	}
	b.added[s.Name] = s
	b.elements(s, els, false)
}

// elements queues els, in messages of at most maxElemsPerMessage.
func (b *batch) elements(s *nftables.Set, els []nftables.SetElement, del bool) {
	for len(els) > 0 && b.err == nil {
		n := min(len(els), maxElemsPerMessage)
		if n < len(els) && els[n].IntervalEnd {
			n++ // an interval's two elements in one message
		}
		var err error
		if del {
			err = b.c.SetDeleteElements(s, els[:n])
		} else {
			err = b.c.SetAddElements(s, els[:n])
		}
		if err != nil {
			b.err = fmt.Errorf("netfilter: encoding elements of set %s: %w", s.Name, err)
		}
		els = els[n:]
	}
}

// addRules queues the rules of ch, naming the sets added in this batch by
// their IDs too.
func (b *batch) addRules(ch *nftables.Chain, rules [][]expr.Any) {
	for _, exprs := range rules {
		for _, e := range exprs {
			if l, ok := e.(*expr.Lookup); ok {
				if s := b.added[l.SetName]; s != nil {
					l.SetID = s.ID
				}
			}
		}
		b.c.AddRule(&nftables.Rule{Table: b.table, Chain: ch, Exprs: exprs})
	}
}

func (w *Windows) newBatch() (*batch, error) {
	c, err := w.connLocked()
	if err != nil {
		return nil, err
	}
	return &batch{c: c, table: w.table, added: map[string]*nftables.Set{}}, nil
}

// flush sends the batch; on failure the connection is dropped, as it may
// hold unread answers.
func (w *Windows) flush(b *batch, what string) error {
	if b.err != nil {
		return b.err
	}
	if err := b.c.Flush(); err != nil {
		w.dropConnLocked()
		return fmt.Errorf("netfilter: %s table %s: %w", what, w.table.Name, err)
	}
	return nil
}

// rebuildLocked replaces the table with a complete one holding want, in
// one batch.
func (w *Windows) rebuildLocked(want *winState) error {
	w.built = false
	b, err := w.newBatch()
	if err != nil {
		return err
	}
	b.c.AddTable(w.table)
	b.c.DelTable(w.table)
	b.c.AddTable(w.table)
	for _, name := range slices.Sorted(maps.Keys(want.sets)) {
		s := want.sets[name]
		b.addSet(b.set(name, s.key, true), s.els)
	}
	for _, ch := range w.chains {
		b.c.AddChain(ch)
	}
	for _, name := range slices.Sorted(maps.Keys(want.chains)) {
		ch := &nftables.Chain{Name: name, Table: w.table}
		b.c.AddChain(ch)
		b.addRules(ch, want.chains[name].rules())
	}
	for i, m := range w.maps {
		m.ID = 0
		b.addSet(m, mapElements(i, want))
	}
	for _, r := range w.rules {
		b.addRules(r.Chain, [][]expr.Any{r.Exprs})
	}
	if err := w.flush(b, "building"); err != nil {
		return err
	}
	w.built = true
	w.sent = WindowsChange{Rebuilt: true, Sets: len(want.sets), Chains: len(want.chains)}
	for i := range w.maps {
		w.sent.Elements += len(mapElements(i, want))
	}
	return nil
}

// mapElements returns every element of dispatch map i in st.
func mapElements(i int, st *winState) []nftables.SetElement {
	var els []nftables.SetElement
	if i == winMapMAC {
		for _, mac := range slices.Sorted(maps.Keys(st.macs)) {
			els = append(els, nftables.SetElement{Key: []byte(mac), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: st.macs[mac]}})
		}
		return els
	}
	for _, lo := range slices.Sorted(maps.Keys(st.ranges[i])) {
		els = append(els, rangeElements(lo, st.ranges[i][lo], true)...)
	}
	return els
}

// rangeElements returns the elements of one range of an interval map;
// without data, those that delete it.
func rangeElements(lo string, r winRange, data bool) []nftables.SetElement {
	start := nftables.SetElement{Key: []byte(lo)}
	if data {
		start.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: r.chain}
	}
	els := []nftables.SetElement{start}
	if r.end != nil {
		els = append(els, nftables.SetElement{Key: r.end, IntervalEnd: true})
	}
	return els
}

// sendLocked sends, in one batch, what turns w.have into want: map
// elements that go or change are deleted first, so that the chains they
// jump to can go; then chains and sets that go; then what is new.
func (w *Windows) sendLocked(want *winState, ch *WindowsChange) error {
	have := w.have
	b, err := w.newBatch()
	if err != nil {
		return err
	}
	var adds [numWinMaps][]nftables.SetElement
	for i, m := range w.maps {
		var del []nftables.SetElement
		if i == winMapMAC {
			for mac, chain := range have.macs {
				if want.macs[mac] != chain {
					del = append(del, nftables.SetElement{Key: []byte(mac)})
				}
			}
			for mac, chain := range want.macs {
				if have.macs[mac] != chain {
					adds[i] = append(adds[i], nftables.SetElement{Key: []byte(mac), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}})
				}
			}
		} else {
			for lo, r := range have.ranges[i] {
				if nr, ok := want.ranges[i][lo]; !ok || nr.chain != r.chain || string(nr.end) != string(r.end) {
					del = append(del, rangeElements(lo, r, false)...)
				}
			}
			for lo, r := range want.ranges[i] {
				if or, ok := have.ranges[i][lo]; !ok || or.chain != r.chain || string(or.end) != string(r.end) {
					adds[i] = append(adds[i], rangeElements(lo, r, true)...)
				}
			}
		}
		ch.Elements += len(del) + len(adds[i])
		b.elements(m, del, true)
	}
	var refill []string
	for name, c := range have.chains {
		nc, ok := want.chains[name]
		switch {
		case !ok:
			chain := &nftables.Chain{Name: name, Table: w.table}
			b.c.FlushChain(chain)
			b.c.DelChain(chain)
			ch.Chains++
		case nc.sig != c.sig:
			b.c.FlushChain(&nftables.Chain{Name: name, Table: w.table})
			refill = append(refill, name)
			ch.Chains++
		}
	}
	for name, s := range have.sets {
		ns, ok := want.sets[name]
		switch {
		case !ok:
			b.c.DelSet(b.set(name, s.key, true))
			ch.Sets++
		case !sameElements(s.els, ns.els):
			set := b.set(name, s.key, true)
			b.c.FlushSet(set)
			b.elements(set, ns.els, false)
			ch.Sets++
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.sets)) {
		if _, ok := have.sets[name]; !ok {
			s := want.sets[name]
			b.addSet(b.set(name, s.key, true), s.els)
			ch.Sets++
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.chains)) {
		if _, ok := have.chains[name]; !ok {
			chain := &nftables.Chain{Name: name, Table: w.table}
			b.c.AddChain(chain)
			b.addRules(chain, want.chains[name].rules())
			ch.Chains++
		}
	}
	for _, name := range refill {
		b.addRules(&nftables.Chain{Name: name, Table: w.table}, want.chains[name].rules())
	}
	for i, m := range w.maps {
		b.elements(m, adds[i], false)
	}
	if *ch == (WindowsChange{}) {
		return nil
	}
	return w.flush(b, "updating")
}

func sameElements(a, b []nftables.SetElement) bool {
	return slices.EqualFunc(a, b, func(x, y nftables.SetElement) bool {
		return x.IntervalEnd == y.IntervalEnd && string(x.Key) == string(y.Key)
	})
}

// Verify implements [enforce.Verifier]: if the table is missing (a reload
// of the host's firewall that begins with `flush ruleset` deletes it), or
// holds other chains or sets than the last Apply left, it rebuilds the
// table and reports 1. The table's presence is checked at every call, its
// chains and sets at one call in windowsFullCheck (and at the first). It
// holds the Windows' lock, as Quarantine's does.
func (w *Windows) Verify(ctx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.built {
		return 0, nil
	}
	ok, err := w.intactLocked()
	if err != nil || ok {
		return 0, err
	}
	w.logger.WarnContext(ctx, "windows table changed behind curfew's back; rebuilding", "table", w.table.Name)
	if err := w.rebuildLocked(w.have); err != nil {
		return 0, err
	}
	return 1, nil
}

// intactLocked reports whether the kernel holds the table with the chains
// and sets w put in it.
func (w *Windows) intactLocked() (bool, error) {
	c, err := w.connLocked()
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		w.dropConnLocked()
		return false, fmt.Errorf("netfilter: listing tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == w.table.Name }) {
		return false, nil
	}
	w.checks++
	if w.checks%windowsFullCheck != 1 {
		return true, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		w.dropConnLocked()
		return false, fmt.Errorf("netfilter: listing chains: %w", err)
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name == w.table.Name {
			if _, ok := w.have.chains[ch.Name]; !ok && !slices.ContainsFunc(w.chains, func(b *nftables.Chain) bool { return b.Name == ch.Name }) {
				return false, nil
			}
			n++
		}
	}
	if n != len(w.chains)+len(w.have.chains) {
		return false, nil
	}
	sets, err := c.GetSets(w.table)
	if err != nil {
		return false, nil
	}
	return len(sets) == len(w.maps)+len(w.have.sets), nil
}

// Close implements [enforce.Backend]: it deletes the table, whether this
// Windows built it or an earlier run of the daemon did. The daemon calls
// it only when no schedule is left to keep.
func (w *Windows) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := w.newBatch()
	if err != nil {
		return err
	}
	b.c.AddTable(w.table)
	b.c.DelTable(w.table)
	err = w.flush(b, "deleting")
	w.dropConnLocked()
	w.built, w.have, w.last = false, nil, nil
	return err
}

// timeKey is the key of instant ns in a times_ set.
func timeKey(ns int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ns)) }

func countSchedules(kw *curfew.KernelWindows) int {
	if kw == nil {
		return 0
	}
	return len(kw.Schedules)
}

// prefixLast returns the last address of p.
func prefixLast(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
