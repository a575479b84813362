//go:build linux

package netfilter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/nftconn"
)

// Names of the quarantine table's objects; docs/firewall.md describes them.
const (
	DefaultQuarantineTable = "curfew_quarantine"

	setNameRegistered = "registered_mac"
	chainQForward     = "forward"
	chainQInput       = "input"
	chainQGateway     = "gateway"
	chainQRefuse      = "refuse"
	chainQIntercept   = "intercept"
)

// QuarantineConfig configures a Quarantine. Its fields mean what those of
// Config of the same names mean.
type QuarantineConfig struct {
	Logger           *slog.Logger
	NetNS            int
	Table            string // DefaultQuarantineTable if empty
	LANInterfaces    []string
	DNS4, DNS6       netip.AddrPort
	Notice4, Notice6 netip.AddrPort
}

// Quarantine enforces lan.unknown_devices: quarantine in a table of its own
// (inet curfew_quarantine), so that the restrictions' table is the same
// with and without it. Its one set, registered_mac, holds every registered
// MAC; a packet arriving on a LAN interface from any other MAC is refused
// on the forward path, reaches on the gateway only curfew's resolver and
// notice server, DHCP and the ICMP a link needs, and has its plain HTTP
// redirected to the notice server. Its chains run just before those of
// the restrictions' table, so an unregistered device's flows die at once,
// established or not, and need no conntrack flush.
//
// Apply sends only the MACs registered or removed since the last Apply, in
// one batch; Verify rebuilds the table if it is missing, changed, or its
// set does not hold the registered MACs. Close deletes the table.
type Quarantine struct {
	logger *slog.Logger
	netns  int
	table  *nftables.Table
	set    *nftables.Set
	chains []*nftables.Chain
	rules  []*nftables.Rule

	mu    sync.Mutex // guards the fields below
	nft   nftconn.Lasting
	built bool
	have  map[uint64]struct{} // the MACs the kernel was told to hold
	last  *curfew.Registry    // the Registry have was built from
	// checks counts Verify calls: the set's elements are compared every
	// quarantineFullCheck-th, the structure every time.
	checks int
}

// quarantineFullCheck is how many Verify calls (one a second) pass between
// two comparisons of every registered MAC with the kernel's set.
const quarantineFullCheck = 30

var (
	_ enforce.Backend  = (*Quarantine)(nil)
	_ enforce.Verifier = (*Quarantine)(nil)
)

// NewQuarantine validates c and returns a Quarantine. It does not touch the
// kernel until the first Apply.
func NewQuarantine(c *QuarantineConfig) (*Quarantine, error) {
	if c == nil || c.Logger == nil {
		return nil, errors.New("netfilter: nil logger")
	}
	for _, ap := range []struct {
		ap netip.AddrPort
		v6 bool
	}{{c.DNS4, false}, {c.DNS6, true}, {c.Notice4, false}, {c.Notice6, true}} {
		if err := checkAddrPort(ap.ap, ap.v6); err != nil {
			return nil, err
		}
	}
	if !c.Notice4.IsValid() && !c.Notice6.IsValid() {
		return nil, fmt.Errorf("%w: netfilter: quarantine needs a notice server address", curfew.ErrInvalid)
	}
	netns := c.NetNS
	if netns <= 0 {
		netns = -1
	}
	q := &Quarantine{logger: c.Logger, netns: netns, nft: nftconn.New(netns, 64<<20), have: map[uint64]struct{}{}}
	q.build(cmp.Or(c.Table, DefaultQuarantineTable), c)
	return q, nil
}

// build describes the table.
func (q *Quarantine) build(name string, c *QuarantineConfig) {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	q.table = t
	q.set = &nftables.Set{Table: t, Name: setNameRegistered, KeyType: nftables.TypeEtherAddr}
	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	// One below the restrictions' table, which runs at filterPriority and
	// NAT dest priority.
	forward := base(chainQForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityRef(filterPriority-1))
	input := base(chainQInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityRef(filterPriority-1))
	intercept := base(chainQIntercept, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest-1))
	gateway := &nftables.Chain{Name: chainQGateway, Table: t}
	refuse := &nftables.Chain{Name: chainQRefuse, Table: t}
	q.chains = []*nftables.Chain{forward, input, gateway, refuse, intercept}

	add := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		q.rules = append(q.rules, &nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(exprs...)})
	}
	unregistered := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Lookup{SourceRegister: 1, SetName: q.set.Name, Invert: true},
	}
	onLAN := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		if len(c.LANInterfaces) == 0 {
			add(ch, exprs...)
		}
		for _, name := range c.LANInterfaces {
			add(ch, append([][]expr.Any{iifname(name)}, exprs...)...)
		}
	}
	onLAN(forward, unregistered, jump(chainQRefuse))
	onLAN(input, unregistered, jump(chainQGateway))

	add(refuse, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	add(refuse, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}})

	gatewayServices(add, gateway, c.DNS4, c.DNS6, c.Notice4, c.Notice6)
	add(gateway, jump(chainQRefuse))

	// Plain HTTP of unregistered devices, to any address, goes to the
	// notice server. Their DNS is redirected by the restrictions' table,
	// as everyone's is.
	for _, f := range families {
		to := c.Notice4
		if f.proto == unix.NFPROTO_IPV6 {
			to = c.Notice6
		}
		if to.IsValid() {
			onLAN(intercept, nfproto(f.proto), unregistered, l4proto(unix.IPPROTO_TCP), dport(portHTTP), dnat(f, to))
		}
	}
}

// Table returns the name of the table q owns.
func (q *Quarantine) Table() string { return q.table.Name }

// Apply implements [enforce.Backend]: it makes registered_mac hold exactly
// s.Registered. A Snapshot that does not quarantine empties the set, which
// quarantines every device: the daemon builds a Quarantine only when the
// configuration asks for it.
func (q *Quarantine) Apply(ctx context.Context, s *curfew.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var reg *curfew.Registry
	if s != nil {
		reg = s.Registered
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.built && reg == q.last && reg != nil {
		return nil // the same registry: nothing was registered or removed
	}
	want := make(map[uint64]struct{}, reg.Len())
	reg.All(func(mac net.HardwareAddr) bool {
		want[macUint(mac)] = struct{}{}
		return true
	})
	if !q.built {
		if err := q.rebuildLocked(want); err != nil {
			return err
		}
	} else {
		var add, del []nftables.SetElement
		for m := range want {
			if _, ok := q.have[m]; !ok {
				add = append(add, nftables.SetElement{Key: macBytes(m)})
			}
		}
		for m := range q.have {
			if _, ok := want[m]; !ok {
				del = append(del, nftables.SetElement{Key: macBytes(m)})
			}
		}
		if len(add)+len(del) > 0 {
			if err := q.sendLocked(add, del); err != nil {
				q.logger.WarnContext(ctx, "rebuilding quarantine table after failed update", "table", q.table.Name, "err", err)
				if err := q.rebuildLocked(want); err != nil {
					return err
				}
			}
			q.logger.InfoContext(ctx, "applied registered devices", "registered", len(want), "added", len(add), "removed", len(del))
		}
	}
	q.have, q.last = want, reg
	return nil
}

// connLocked returns the lasting connection, dialling it if needed.
func (q *Quarantine) connLocked() (*nftables.Conn, error) {
	c, err := q.nft.Conn()
	if err != nil {
		return nil, fmt.Errorf("netfilter: %w", err)
	}
	return c, nil
}

func (q *Quarantine) dropConnLocked() { q.nft.Drop() }

// rebuildLocked replaces the table with a complete one holding want, in
// one batch.
func (q *Quarantine) rebuildLocked(want map[uint64]struct{}) error {
	c, err := q.connLocked()
	if err != nil {
		return err
	}
	c.AddTable(q.table)
	c.DelTable(q.table)
	c.AddTable(q.table)
	q.set.ID = 0
	if err := c.AddSet(q.set, nil); err != nil {
		return fmt.Errorf("netfilter: adding set %s: %w", q.set.Name, err)
	}
	for _, ch := range q.chains {
		c.AddChain(ch)
	}
	for _, r := range q.rules {
		for _, e := range r.Exprs {
			if l, ok := e.(*expr.Lookup); ok {
				l.SetID = q.set.ID
			}
		}
		c.AddRule(r)
	}
	els := make([]nftables.SetElement, 0, len(want))
	for m := range want {
		els = append(els, nftables.SetElement{Key: macBytes(m)})
	}
	if err := q.queue(c, els, false); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		q.dropConnLocked()
		q.built = false
		return fmt.Errorf("netfilter: building table %s: %w", q.table.Name, err)
	}
	q.built = true
	return nil
}

// sendLocked adds and deletes elements in one batch.
func (q *Quarantine) sendLocked(add, del []nftables.SetElement) error {
	c, err := q.connLocked()
	if err != nil {
		return err
	}
	if err := q.queue(c, del, true); err != nil {
		return err
	}
	if err := q.queue(c, add, false); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		q.dropConnLocked()
		return fmt.Errorf("netfilter: updating set %s: %w", q.set.Name, err)
	}
	return nil
}

func (q *Quarantine) queue(c *nftables.Conn, els []nftables.SetElement, del bool) error {
	slices.SortFunc(els, func(a, b nftables.SetElement) int { return slices.Compare(a.Key, b.Key) })
	for len(els) > 0 {
		n := min(len(els), maxElemsPerMessage)
		var err error
		if del {
			err = c.SetDeleteElements(q.set, els[:n])
		} else {
			err = c.SetAddElements(q.set, els[:n])
		}
		if err != nil {
			return fmt.Errorf("netfilter: encoding elements of set %s: %w", q.set.Name, err)
		}
		els = els[n:]
	}
	return nil
}

// Verify implements [enforce.Verifier]: if the table is missing, its
// chains or rules were changed, or registered_mac does not hold exactly the
// registered MACs, it rebuilds the table and reports 1. The elements are
// compared one call in quarantineFullCheck, the structure at every call.
func (q *Quarantine) Verify(ctx context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.built {
		return 0, nil
	}
	ok, err := q.intactLocked()
	if err != nil || ok {
		return 0, err
	}
	q.logger.WarnContext(ctx, "quarantine table changed behind curfew's back; rebuilding", "table", q.table.Name)
	if err := q.rebuildLocked(q.have); err != nil {
		return 0, err
	}
	return 1, nil
}

// intactLocked reports whether the kernel holds the table as q built it.
func (q *Quarantine) intactLocked() (bool, error) {
	c, err := q.connLocked()
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		q.dropConnLocked()
		return false, fmt.Errorf("netfilter: listing tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == q.table.Name }) {
		return false, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		q.dropConnLocked()
		return false, fmt.Errorf("netfilter: listing chains: %w", err)
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name == q.table.Name {
			n++
		}
	}
	if n != len(q.chains) {
		return false, nil
	}
	rules := 0
	for _, ch := range q.chains {
		rs, err := c.GetRules(q.table, ch)
		if err != nil {
			return false, nil // a chain that cannot be read was changed
		}
		rules += len(rs)
	}
	if rules != len(q.rules) {
		return false, nil
	}
	q.checks++
	if q.checks%quarantineFullCheck != 1 {
		return true, nil
	}
	els, err := c.GetSetElements(q.set)
	if err != nil {
		return false, nil
	}
	if len(els) != len(q.have) {
		return false, nil
	}
	for _, e := range els {
		if _, ok := q.have[macUint(e.Key)]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// Close implements [enforce.Backend]: it deletes the table, whether this
// Quarantine built it or an earlier run of the daemon did.
func (q *Quarantine) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, err := q.connLocked()
	if err != nil {
		return err
	}
	c.AddTable(q.table)
	c.DelTable(q.table)
	err = c.Flush()
	q.dropConnLocked()
	q.built = false
	if err != nil {
		return fmt.Errorf("netfilter: deleting table %s: %w", q.table.Name, err)
	}
	return nil
}
