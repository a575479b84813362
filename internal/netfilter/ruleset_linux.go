//go:build linux

package netfilter

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of the objects in the table. They are part of what an operator sees
// in `nft list ruleset` (docs/firewall.md describes them); changing them is
// a migration.
const (
	chainForward     = "forward"          // base chain on the forward hook
	chainRefuse      = "refuse"           // rejects what the other chains send to it
	chainAllowlist   = "allowlist"        // forwarded traffic of allowlist-mode devices
	chainBypass      = "bypass"           // refuses DNS around curfew's resolver for restricted clients
	chainRedirect    = "intercept"        // base chain on the prerouting hook: DNS and notice DNAT ("redirect" is an nft keyword)
	chainNoticeAL    = "allowlist_notice" // HTTP of allowlist-mode devices to destinations not allowed
	chainNoticeCut   = "cutoff_notice"    // HTTP of cut-off devices: all of it to the notice server
	chainInput       = "input"            // base chain on the input hook: restricted clients to the gateway itself
	chainGateway     = "gateway"          // what restricted clients may reach on the gateway; refuses the rest
	chainPrefix4     = "prefixes_v4"      // forwarded IPv4 packets, while there are IPv4 ip: subjects: their rules
	chainPrefix6     = "prefixes_v6"      // likewise for IPv6
	chainInputPrefix = "input_prefixes"   // packets to the gateway itself, while there are ip: subjects: their rules

	setNameReachMAC   = "reach_mac"
	setNameNoticeMAC  = "notice_mac"
	setNameV4         = "cutoff_v4"
	setNameV6         = "cutoff_v6"
	setNameRestrictV4 = "restricted_v4"
	setNameRestrictV6 = "restricted_v6"
	setNameNetV4      = "allow_net_v4"
	setNameNetV6      = "allow_net_v6"
	setNameDoHV4      = "doh_v4"
	setNameDoHV6      = "doh_v6"
	setNameDynV4      = "allow_v4"
	setNameDynV6      = "allow_v6"
	setNamePrefixFam  = "prefix_families"
)

// filterPriority runs the forward and input chains before the usual filter
// chains, and so before any `ct state established accept` in them.
const filterPriority = -10

// Well-known ports.
const (
	portDNS     = 53
	portDHCP    = 67
	portHTTP    = 80
	portHTTPS   = 443
	portDHCPv6  = 547
	portDoT     = 853
	icmpUnreach = 3 // ICMP types restricted clients may send the gateway: errors
	icmpTimeExc = 11
	icmpParam   = 12
)

// icmp6Gateway are the ICMPv6 types restricted clients may send the gateway:
// errors (path MTU discovery needs Packet Too Big), multicast listener
// reports (MLD) and neighbour discovery. Echo requests are refused.
var icmp6Gateway = []byte{
	1,   // destination unreachable
	2,   // packet too big
	3,   // time exceeded
	4,   // parameter problem
	131, // MLD listener report
	132, // MLD listener done
	133, // router solicitation
	135, // neighbour solicitation
	136, // neighbour advertisement
	143, // MLDv2 listener report
}

// redirects are the DNAT targets of the redirect chain; an invalid one
// turns its part off.
type redirects struct {
	dns4, dns6       netip.AddrPort
	notice4, notice6 netip.AddrPort
}

func (r redirects) any() bool {
	return r.dns4.IsValid() || r.dns6.IsValid() || r.notice4.IsValid() || r.notice6.IsValid()
}

// ruleset is the table's structure: everything but the set elements.
type ruleset struct {
	table  *nftables.Table
	sets   [numSets]*nftables.Set // indexed by setKind
	chains []*nftables.Chain
	rules  []*nftables.Rule // in chain order, each with its Chain set
}

var (
	typeMACv4 = nftables.MustConcatSetType(nftables.TypeEtherAddr, nftables.TypeIPAddr)
	typeMACv6 = nftables.MustConcatSetType(nftables.TypeEtherAddr, nftables.TypeIP6Addr)
)

// newRuleset describes the table named table; lan, if not empty, limits MAC
// matching and the redirects to packets arriving on those interfaces.
func newRuleset(table string, lan []string, rd redirects) *ruleset {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	rs := &ruleset{table: t}
	set := func(k setKind, name string, key nftables.SetDatatype) {
		rs.sets[k] = &nftables.Set{Table: t, Name: name, KeyType: key,
			HasTimeout: k.timeout(), Interval: k.interval() || k.ranged(), Concatenation: k.concat()}
		if k.verdicts() {
			rs.sets[k].IsMap, rs.sets[k].DataType = true, nftables.TypeVerdict
		}
	}
	set(setReachMAC, setNameReachMAC, nftables.TypeEtherAddr)
	if rd.notice4.IsValid() || rd.notice6.IsValid() {
		set(setNoticeMAC, setNameNoticeMAC, nftables.TypeEtherAddr)
	}
	set(setV4, setNameV4, nftables.TypeIPAddr)
	set(setV6, setNameV6, nftables.TypeIP6Addr)
	set(setRestrictV4, setNameRestrictV4, nftables.TypeIPAddr)
	set(setRestrictV6, setNameRestrictV6, nftables.TypeIP6Addr)
	set(setNetV4, setNameNetV4, typeMACv4)
	set(setNetV6, setNameNetV6, typeMACv6)
	set(setDoHV4, setNameDoHV4, nftables.TypeIPAddr)
	set(setDoHV6, setNameDoHV6, nftables.TypeIP6Addr)
	set(setDynV4, setNameDynV4, typeMACv4)
	set(setDynV6, setNameDynV6, typeMACv6)
	set(setPrefixFam, setNamePrefixFam, nftables.TypeNFProto)

	accept := nftables.ChainPolicyAccept
	forward := &nftables.Chain{
		Name:     chainForward,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityRef(filterPriority),
		Policy:   &accept,
	}
	refuse := &nftables.Chain{Name: chainRefuse, Table: t}
	allowlist := &nftables.Chain{Name: chainAllowlist, Table: t}
	bypass := &nftables.Chain{Name: chainBypass, Table: t}
	input := &nftables.Chain{
		Name:     chainInput,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityRef(filterPriority),
		Policy:   &accept,
	}
	gateway := &nftables.Chain{Name: chainGateway, Table: t}
	prefix4 := &nftables.Chain{Name: chainPrefix4, Table: t}
	prefix6 := &nftables.Chain{Name: chainPrefix6, Table: t}
	inputPrefix := &nftables.Chain{Name: chainInputPrefix, Table: t}
	rs.chains = []*nftables.Chain{forward, prefix4, prefix6, refuse, allowlist, bypass, input, inputPrefix, gateway}
	var redirect, noticeAL, noticeCut *nftables.Chain
	if rd.any() {
		redirect = &nftables.Chain{
			Name:     chainRedirect,
			Table:    t,
			Type:     nftables.ChainTypeNAT,
			Hooknum:  nftables.ChainHookPrerouting,
			Priority: nftables.ChainPriorityNATDest,
			Policy:   &accept,
		}
		rs.chains = append(rs.chains, redirect)
		if rd.notice4.IsValid() || rd.notice6.IsValid() {
			noticeAL = &nftables.Chain{Name: chainNoticeAL, Table: t}
			noticeCut = &nftables.Chain{Name: chainNoticeCut, Table: t}
			rs.chains = append(rs.chains, noticeAL, noticeCut)
		}
	}

	add := func(c *nftables.Chain, exprs ...[]expr.Any) {
		rs.rules = append(rs.rules, &nftables.Rule{Table: t, Chain: c, Exprs: slices.Concat(exprs...)})
	}
	// onLAN adds the rule once for each LAN interface, or once for every
	// interface if there are none.
	onLAN := func(c *nftables.Chain, exprs ...[]expr.Any) {
		if len(lan) == 0 {
			add(c, exprs...)
		}
		for _, name := range lan {
			add(c, append([][]expr.Any{iifname(name)}, exprs...)...)
		}
	}

	// forward: one lookup of the source MAC sends a restricted device to
	// the chain of its reach: cut-off devices are refused outright, the
	// others go through their mode's chain and, if it returns, on to the
	// prefix rules. The flows cut-off prefixes open are refused, both
	// ways; those of prefixes in the other modes go through the bypass
	// chain. A prefix is a source: flows others open to it are none of its
	// restriction's business.
	onLAN(forward, etherVmap(rs.sets[setReachMAC]))
	// The prefix rules cost a packet as much as all the rest of the
	// table (docs/benchmarks.md): a family with ip: subjects is in
	// setPrefixFam, which jumps to that family's rules; the packets of a
	// family without any skip them with one lookup.
	l := lookup(rs.sets[setPrefixFam])
	l.DestRegister, l.IsDestRegSet = 0, true // NFT_REG_VERDICT
	add(forward, []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, l})
	for _, f := range families {
		c := prefix4
		if f.proto == unix.NFPROTO_IPV6 {
			c = prefix6
		}
		for _, m := range fromPrefix(f, rs.sets[f.cutoff]) {
			add(c, m, jump(chainRefuse))
		}
		add(c, ctDirection(ctDirReply), nfproto(f.proto), addr(f, true, 1), in(rs.sets[f.cutoff]), jump(chainRefuse))
		for _, m := range fromPrefix(f, rs.sets[f.restricted]) {
			add(c, m, jump(chainBypass))
		}
	}

	// refuse: TCP gets a reset so that applications fail at once;
	// everything else an ICMP(v6) administratively-prohibited error.
	add(refuse, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	add(refuse, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}})

	// allowlist: the anti-bypass rules, then the destinations the resolver
	// answered and the prefixes the restriction names; nothing else.
	add(allowlist, jump(chainBypass))
	for _, f := range families {
		add(allowlist, nfproto(f.proto), macDaddr(f), in(rs.sets[f.dyn]), verdict(expr.VerdictReturn))
		add(allowlist, nfproto(f.proto), macDaddr(f), in(rs.sets[f.net]), verdict(expr.VerdictReturn))
	}
	add(allowlist, jump(chainRefuse))

	// bypass: DNS that reached the forward path was not redirected to
	// curfew's resolver; DNS over TLS; DNS over HTTPS and QUIC to known
	// endpoints.
	for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		add(bypass, l4proto(proto), dport(portDNS), jump(chainRefuse))
		add(bypass, l4proto(proto), dport(portDoT), jump(chainRefuse))
	}
	for _, f := range families {
		for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			add(bypass, nfproto(f.proto), addr(f, true, 1), in(rs.sets[f.doh]), l4proto(proto), dport(portHTTPS), jump(chainRefuse))
		}
	}

	// input: restricted clients, in every mode, to the gateway itself. A
	// service of the gateway (SSH, a proxy, a VPN endpoint) would be a
	// way out; they reach only what the gateway chain lets through. As in
	// forward, ip: subjects are sources: the gateway's own connections to
	// them are left alone.
	onLAN(input, etherSaddr(rs.sets[setReachMAC]), jump(chainGateway))
	// As in forward, a family without ip: subjects skips their rules.
	add(input, []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}}, in(rs.sets[setPrefixFam]), jump(chainInputPrefix))
	for _, f := range families {
		for _, k := range []setKind{f.cutoff, f.restricted} {
			for _, m := range fromPrefix(f, rs.sets[k]) {
				add(inputPrefix, m, jump(chainGateway))
			}
		}
	}

	// gateway: DHCP, curfew's resolver and notice server where the
	// redirects send restricted clients, the ICMP(v6) errors and the
	// neighbour discovery a link needs; everything else is refused.
	// Returning lets the packet go on to the host's own input chains,
	// which may still drop it.
	gatewayServices(add, gateway, rd.dns4, rd.dns6, rd.notice4, rd.notice6)
	add(gateway, jump(chainRefuse))

	if redirect == nil {
		return rs
	}
	// redirect: all DNS from the LAN to curfew's resolver, whatever
	// resolver the client asked; then plain HTTP to the notice server.
	for _, f := range families {
		to := rd.dns4
		if f.proto == unix.NFPROTO_IPV6 {
			to = rd.dns6
		}
		if !to.IsValid() {
			continue
		}
		var notTo []expr.Any
		if to.Port() == portDNS {
			// Queries already addressed to the resolver need nothing.
			notTo = slices.Concat(addr(f, true, 1), cmpReg(expr.CmpOpNeq, to.Addr().AsSlice()))
		}
		var notLocal []expr.Any
		if len(lan) == 0 {
			// Without LAN interfaces, leave queries to the gateway's own
			// addresses alone, so that the resolver is not opened to
			// the WAN side.
			notLocal = []expr.Any{
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			}
		}
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			onLAN(redirect, nfproto(f.proto), notTo, notLocal, l4proto(proto), dport(portDNS), dnat(f, to))
		}
	}
	for _, f := range families {
		to := rd.notice4
		if f.proto == unix.NFPROTO_IPV6 {
			to = rd.notice6
		}
		if !to.IsValid() {
			continue
		}
		http := slices.Concat(l4proto(unix.IPPROTO_TCP), dport(portHTTP))
		// The address refused names resolve to, from any client: the
		// notice page tells the unrestricted that they are not.
		onLAN(redirect, nfproto(f.proto), addr(f, true, 1), cmpReg(expr.CmpOpEq, to.Addr().AsSlice()), http, dnat(f, to))
		add(redirect, nfproto(f.proto), addr(f, false, 1), in(rs.sets[f.cutoff]), http, dnat(f, to))
		add(noticeAL, nfproto(f.proto), dnat(f, to))
		add(noticeCut, nfproto(f.proto), dnat(f, to))
	}
	if noticeAL != nil {
		// The HTTP of cut-off and allowlist-mode devices: one lookup of
		// the source MAC sends it to its mode's notice chain.
		onLAN(redirect, l4proto(unix.IPPROTO_TCP), dport(portHTTP), etherVmap(rs.sets[setNoticeMAC]))
		// Allowed destinations keep their HTTP; the DNAT rules that
		// follow were added above.
		var allowed []*nftables.Rule
		for _, f := range families {
			for _, s := range []setKind{f.dyn, f.net} {
				allowed = append(allowed, &nftables.Rule{Table: t, Chain: noticeAL,
					Exprs: slices.Concat(nfproto(f.proto), macDaddr(f), in(rs.sets[s]), verdict(expr.VerdictReturn))})
			}
		}
		i := slices.IndexFunc(rs.rules, func(r *nftables.Rule) bool { return r.Chain == noticeAL })
		rs.rules = slices.Insert(rs.rules, i, allowed...)
	}
	return rs
}

// family is what the rules need to know about one IP family.
type family struct {
	proto                        byte // NFPROTO_IPV4 or NFPROTO_IPV6
	saddr, len                   uint32
	cutoff, restricted, doh, dyn setKind
	net                          setKind
	natFamily                    uint32
	prefixChain                  string // the chain of its ip: subjects' rules, which setPrefixFam jumps to
}

var families = []family{
	// ip saddr at 12, daddr at 16; ip6 saddr at 8, daddr at 24.
	{proto: unix.NFPROTO_IPV4, saddr: 12, len: 4, cutoff: setV4, restricted: setRestrictV4, doh: setDoHV4, dyn: setDynV4, net: setNetV4, natFamily: unix.NFPROTO_IPV4, prefixChain: chainPrefix4},
	{proto: unix.NFPROTO_IPV6, saddr: 8, len: 16, cutoff: setV6, restricted: setRestrictV6, doh: setDoHV6, dyn: setDynV6, net: setNetV6, natFamily: unix.NFPROTO_IPV6, prefixChain: chainPrefix6},
}

// fromPrefix returns the matches of packets from a source in s: those
// that conntrack counts in the original direction of their flow (the
// source opened it), and those it does not follow at all (invalid or
// untracked), which have no flow to go by. Packets a source in s sends in
// a flow that someone else opened are not matched.
func fromPrefix(f family, s *nftables.Set) [][]expr.Any {
	src := slices.Concat(nfproto(f.proto), addr(f, false, 1), in(s))
	return [][]expr.Any{
		slices.Concat(ctDirection(ctDirOriginal), src),
		slices.Concat(ctStateAny(ctStateInvalid|ctStateUntracked), src),
	}
}

// Conntrack's directions of a flow (the kernel's IP_CT_DIR_*) and bits of
// `ct state` (NF_CT_STATE_*_BIT).
const (
	ctDirOriginal    = 0 // the way the flow's first packet went
	ctDirReply       = 1
	ctStateInvalid   = 1 << 0
	ctStateUntracked = 1 << 6
)

// ctDirection matches packets that conntrack counts in direction dir of
// their flow; packets it does not follow never match.
func ctDirection(dir byte) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeyDIRECTION},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{dir}},
	}
}

// ctStateAny matches packets whose `ct state` has any of the bits.
func ctStateAny(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// dport matches the transport header's destination port.
func dport(p uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p)},
	}
}

// addr loads the source (or destination) address of f into reg.
func addr(f family, dst bool, reg uint32) []expr.Any {
	off := f.saddr
	if dst {
		off += f.len
	}
	return []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: f.len}}
}

// icmpType matches the type of an ICMP or ICMPv6 message.
func icmpType(typ byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}},
	}
}

func cmpReg(op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{&expr.Cmp{Op: op, Register: 1, Data: data}}
}

// etherSaddr matches the source MAC against s. nft adds the meta iiftype
// dependency itself; without it the link-layer header might not be
// Ethernet.
func etherSaddr(s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		lookup(s),
	}
}

// etherVmap looks the source MAC up in the verdict map s: a device in it
// jumps to the chain its element names. nft adds the meta iiftype
// dependency itself, as for etherSaddr.
func etherVmap(s *nftables.Set) []expr.Any {
	l := lookup(s)
	l.DestRegister, l.IsDestRegSet = 0, true // NFT_REG_VERDICT
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		l,
	}
}

// macDaddr loads `ether saddr . ip daddr` for a lookup in a concatenated
// set: the MAC into the first register, the address into the 32-bit
// register after the MAC's padding (NFT_REG32_02).
func macDaddr(f family) []expr.Any {
	return slices.Concat([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
	}, addr(f, true, unix.NFT_REG32_02))
}

// dnat rewrites the destination to to.
func dnat(f family, to netip.AddrPort) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(to.Port())},
		// The kernel reports the maximum registers as the minimum ones
		// when none are given: give them, so that Verify compares alike.
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.natFamily, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2, Specified: true},
	}
}

func iifname(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

func jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// in matches register 1 against s.
func in(s *nftables.Set) []expr.Any { return []expr.Any{lookup(s)} }

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
// With old, the table is kept (it is owned, with flags google/nftables
// cannot set) and what old lists in it is deleted instead: its rules, then
// its sets and chains.
func (rs *ruleset) queueBuild(c *nftables.Conn, old *tableContents) error {
	if old == nil {
		c.AddTable(rs.table)
		c.DelTable(rs.table)
		c.AddTable(rs.table)
	} else {
		if len(old.chains) > 0 {
			c.FlushTable(rs.table)
		}
		// Sets before chains: the elements of the verdict maps refer to
		// chains, which cannot go while they do.
		for _, s := range old.sets {
			c.DelSet(&nftables.Set{Table: rs.table, Name: s.Name})
		}
		for _, ch := range old.chains {
			c.DelChain(&nftables.Chain{Table: rs.table, Name: ch.Name})
		}
	}
	for _, s := range rs.sets {
		if s == nil {
			continue // a map the configuration has no use for
		}
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

// notices reports whether the table has setNoticeMAC: whether there is a
// notice server to send HTTP to.
func (rs *ruleset) notices() bool { return rs.sets[setNoticeMAC] != nil }

func (rs *ruleset) setByName(name string) *nftables.Set {
	for _, s := range rs.sets {
		if s != nil && s.Name == name {
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

// gatewayServices adds to the chain gateway, with add, the rules that
// return (let on) what a restricted or quarantined client may reach on the
// gateway itself: DHCP, curfew's resolver dns4/dns6 and notice server
// notice4/notice6 (those that are valid), the ICMP(v4) errors and the
// ICMPv6 a link needs. The caller ends the chain with its refusal.
func gatewayServices(add func(*nftables.Chain, ...[]expr.Any), gateway *nftables.Chain, dns4, dns6, notice4, notice6 netip.AddrPort) {
	udp := l4proto(unix.IPPROTO_UDP)
	tcp := l4proto(unix.IPPROTO_TCP)
	add(gateway, nfproto(unix.NFPROTO_IPV4), udp, dport(portDHCP), verdict(expr.VerdictReturn))
	add(gateway, nfproto(unix.NFPROTO_IPV6), udp, dport(portDHCPv6), verdict(expr.VerdictReturn))
	for _, f := range families {
		dns, notice := dns4, notice4
		if f.proto == unix.NFPROTO_IPV6 {
			dns, notice = dns6, notice6
		}
		to := func(ap netip.AddrPort) []expr.Any {
			return slices.Concat(nfproto(f.proto), addr(f, true, 1), cmpReg(expr.CmpOpEq, ap.Addr().AsSlice()))
		}
		if dns.IsValid() {
			add(gateway, to(dns), udp, dport(dns.Port()), verdict(expr.VerdictReturn))
			add(gateway, to(dns), tcp, dport(dns.Port()), verdict(expr.VerdictReturn))
		}
		if notice.IsValid() {
			add(gateway, to(notice), tcp, dport(notice.Port()), verdict(expr.VerdictReturn))
		}
	}
	for _, typ := range []byte{icmpUnreach, icmpTimeExc, icmpParam} {
		add(gateway, nfproto(unix.NFPROTO_IPV4), l4proto(unix.IPPROTO_ICMP), icmpType(typ), verdict(expr.VerdictReturn))
	}
	for _, typ := range icmp6Gateway {
		add(gateway, nfproto(unix.NFPROTO_IPV6), l4proto(unix.IPPROTO_ICMPV6), icmpType(typ), verdict(expr.VerdictReturn))
	}
}
