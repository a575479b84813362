//go:build linux

package netfilter

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of the objects in the table. They are part of what an operator sees
// in `nft list ruleset`; changing them is a migration.
const (
	chainForward = "forward" // base chain on the forward hook
	chainRefuse  = "refuse"  // rejects what the forward chain sends to it

	setNameMAC = "cutoff_mac"
	setNameV4  = "cutoff_v4"
	setNameV6  = "cutoff_v6"
)

// forwardPriority runs the forward chain before the usual filter chains,
// and so before any `ct state established accept` in them.
const forwardPriority = -10

// ruleset is the table's structure: everything but the set elements.
type ruleset struct {
	table  *nftables.Table
	sets   [3]*nftables.Set // indexed by setKind
	chains []*nftables.Chain
	rules  []*nftables.Rule // in chain order, each with its Chain set
}

// newRuleset describes the table named table; lan, if not empty, limits MAC
// matching to packets arriving on those interfaces.
func newRuleset(table string, lan []string) *ruleset {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	rs := &ruleset{table: t}
	rs.sets[setMAC] = &nftables.Set{Table: t, Name: setNameMAC, KeyType: nftables.TypeEtherAddr, HasTimeout: true}
	rs.sets[setV4] = &nftables.Set{Table: t, Name: setNameV4, KeyType: nftables.TypeIPAddr, HasTimeout: true, Interval: true}
	rs.sets[setV6] = &nftables.Set{Table: t, Name: setNameV6, KeyType: nftables.TypeIP6Addr, HasTimeout: true, Interval: true}

	policy := nftables.ChainPolicyAccept
	forward := &nftables.Chain{
		Name:     chainForward,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityRef(forwardPriority),
		Policy:   &policy,
	}
	refuse := &nftables.Chain{Name: chainRefuse, Table: t}
	rs.chains = []*nftables.Chain{forward, refuse}

	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: chainRefuse}
	add := func(c *nftables.Chain, exprs ...expr.Any) {
		rs.rules = append(rs.rules, &nftables.Rule{Table: t, Chain: c, Exprs: exprs})
	}

	// ether saddr @cutoff_mac: nft adds the meta iiftype dependency itself;
	// without it the link-layer header might not be Ethernet.
	macMatch := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		lookup(rs.sets[setMAC]),
		jump,
	}
	if len(lan) == 0 {
		add(forward, macMatch...)
	}
	for _, name := range lan {
		add(forward, append([]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
		}, macMatch...)...)
	}
	for _, f := range []struct {
		proto      byte
		set        setKind
		saddr, len uint32
	}{
		{unix.NFPROTO_IPV4, setV4, 12, 4}, // ip saddr at 12, daddr at 16
		{unix.NFPROTO_IPV6, setV6, 8, 16}, // ip6 saddr at 8, daddr at 24
	} {
		for _, off := range []uint32{f.saddr, f.saddr + f.len} {
			add(forward,
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: f.len},
				lookup(rs.sets[f.set]),
				jump,
			)
		}
	}

	// TCP gets a reset so that applications fail at once; everything else
	// an ICMP(v6) administratively-prohibited error.
	add(refuse,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
	)
	add(refuse, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	return rs
}

func lookup(s *nftables.Set) *expr.Lookup {
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name}
}

// ifname encodes an interface name as nft compares it: NUL-padded to
// IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// queueBuild adds to c's batch the messages that replace the table, if it
// exists, with an empty one of rs's structure. The table is added before it
// is deleted so that the delete cannot fail: the batch is all or nothing.
func (rs *ruleset) queueBuild(c *nftables.Conn) error {
	c.AddTable(rs.table)
	c.DelTable(rs.table)
	c.AddTable(rs.table)
	for _, s := range rs.sets {
		s.ID = 0 // a fresh ID for this batch, which the lookups refer to
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("adding set %s: %w", s.Name, err)
		}
	}
	for _, ch := range rs.chains {
		c.AddChain(ch)
	}
	for _, r := range rs.rules {
		for _, e := range r.Exprs {
			if l, ok := e.(*expr.Lookup); ok {
				l.SetID = rs.setByName(l.SetName).ID
			}
		}
		c.AddRule(r)
	}
	return nil
}

func (rs *ruleset) setByName(name string) *nftables.Set {
	for _, s := range rs.sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// rulesOf returns the rules of the chain named name, in order.
func (rs *ruleset) rulesOf(name string) []*nftables.Rule {
	var out []*nftables.Rule
	for _, r := range rs.rules {
		if r.Chain.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// sameExprs reports whether two rules' expressions are the same, ignoring
// what only matters while a batch is built (set IDs).
func sameExprs(a, b []expr.Any) bool {
	return slices.EqualFunc(a, b, func(x, y expr.Any) bool {
		return exprString(x) == exprString(y)
	})
}

func exprString(e expr.Any) string {
	if l, ok := e.(*expr.Lookup); ok {
		c := *l
		c.SetID = 0
		return fmt.Sprintf("%T%+v", &c, c)
	}
	return fmt.Sprintf("%T%+v", e, e)
}
