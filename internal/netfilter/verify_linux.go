//go:build linux

package netfilter

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
)

// fullCheckEvery is how often Verify compares every set element with what
// was applied even though the ruleset generation says nothing changed: once
// every this many calls. It covers the one case the generation misses, a
// commit by someone else between curfew's batch and its reading of the
// generation. See docs/benchmarks.md for what a comparison costs.
const fullCheckEvery = 600

// verifySlack is how far an element's end in the kernel may be from the
// applied one before Verify rewrites it, and how close to its end an
// element may be and still be left alone (it may legitimately be gone).
const verifySlack = 2 * time.Second

// Verify implements [enforce.Verifier]. Each call checks, in a few netlink
// round trips whatever the number of elements, that the table exists with
// exactly the chains, rules and sets Apply builds, and rebuilds the whole
// table if not. It then compares every set element with the last applied
// Snapshot, but only if the kernel's ruleset generation moved since
// curfew's last batch (someone else committed a change, to any table) or
// on every 600th call: it adds back missing elements (but not those whose
// Until has passed: the kernel expired them as it should), rewrites
// elements whose remaining time is wrong, and deletes elements curfew did
// not add. The conntrack entries of targets it restores are flushed. It
// returns how many objects (table, chains, sets, rules, elements) it
// repaired.
func (b *Backend) Verify(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("netfilter: backend is closed")
	}
	if !b.applied {
		return 0, nil
	}
	now := time.Now()
	var repaired int
	if b.built {
		var err error
		if repaired, err = b.checkStructure(); err != nil {
			return 0, fmt.Errorf("netfilter: checking table %s: %w", b.rs.table.Name, err)
		}
	} else {
		repaired = 1 // an Apply failed half-way; the table is in an unknown state
	}
	if repaired > 0 {
		t := &targets{}
		var live int
		all := allElements(b.macs, b.ranges)
		for _, e := range all {
			if e.key.live(e.until, now) {
				live++
				b.addTarget(t, e.key)
			}
		}
		if err := b.rebuild(all, now); err != nil {
			b.built = false
			return 0, err
		}
		b.logger.WarnContext(ctx, "rebuilt table that had changed", "table", b.rs.table.Name,
			"repaired_objects", repaired, "elements", live)
		_, err := b.flushConntrack(t)
		if err != nil {
			err = fmt.Errorf("netfilter: flushing conntrack entries: %w", err)
		}
		return repaired + live, err
	}

	b.checks++
	b.fmu.Lock()
	gen, genOK := b.generation()
	same := genOK && b.genOK && gen == b.gen
	b.fmu.Unlock()
	if same && b.checks%fullCheckEvery != 0 {
		return 0, nil
	}
	n, err := b.repairElements(ctx, now)
	if errors.Is(err, errDumpInterrupted) {
		return 0, nil // a set changed during the dump; the next call looks again
	}
	if err == nil && n == 0 {
		b.fmu.Lock()
		// Batches sent meanwhile (AllowDestination's) were checked
		// against the generation as they were sent.
		if !b.genOK || b.gen == gen {
			b.gen, b.genOK = gen, genOK
		}
		b.fmu.Unlock()
	}
	return n, err
}

// checkStructure returns how many of the table's objects (not counting set
// elements) are missing or differ from what rebuild creates.
func (b *Backend) checkStructure() (int, error) {
	c, err := b.connLocked()
	if err != nil {
		return 0, err
	}
	rs := b.rs
	everything := 1 + len(rs.sets) + len(rs.chains) + len(rs.rules)
	tables, err := c.ListTablesOfFamily(rs.table.Family)
	if err != nil {
		b.dropConn()
		return 0, fmt.Errorf("listing tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == rs.table.Name }) {
		return everything, nil
	}

	var bad int
	chains, err := c.ListChainsOfTableFamily(rs.table.Family)
	if err != nil {
		b.dropConn()
		return 0, fmt.Errorf("listing chains: %w", err)
	}
	chains = slices.DeleteFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name != rs.table.Name })
	if len(chains) != len(rs.chains) {
		bad++
	}
	for _, want := range rs.chains {
		i := slices.IndexFunc(chains, func(ch *nftables.Chain) bool { return ch.Name == want.Name })
		if i < 0 || !sameChain(chains[i], want) {
			bad += 1 + len(rs.rulesOf(want.Name))
			continue
		}
		rules, err := c.GetRules(rs.table, chains[i])
		if err != nil {
			b.dropConn()
			return 0, fmt.Errorf("listing rules of chain %s: %w", want.Name, err)
		}
		wantRules := rs.rulesOf(want.Name)
		bad += max(len(rules), len(wantRules)) - min(len(rules), len(wantRules))
		for j := range min(len(rules), len(wantRules)) {
			if !sameExprs(rules[j].Exprs, wantRules[j].Exprs) {
				bad++
			}
		}
	}

	sets, err := c.GetSets(rs.table)
	if err != nil {
		b.dropConn()
		return 0, fmt.Errorf("listing sets: %w", err)
	}
	if len(sets) != len(rs.sets) {
		bad++
	}
	for _, want := range rs.sets {
		i := slices.IndexFunc(sets, func(s *nftables.Set) bool { return s.Name == want.Name })
		if i < 0 || !sameSet(sets[i], want) {
			bad++
		}
	}
	return bad, nil
}

func sameChain(got, want *nftables.Chain) bool {
	eq := func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }
	if (got.Hooknum == nil) != (want.Hooknum == nil) || (got.Priority == nil) != (want.Priority == nil) {
		return false
	}
	if want.Hooknum != nil && (*got.Hooknum != *want.Hooknum || *got.Priority != *want.Priority ||
		got.Type != want.Type || got.Policy == nil || *got.Policy != *want.Policy) {
		return false
	}
	return eq(got.Device, want.Device)
}

func sameSet(got, want *nftables.Set) bool {
	return got.KeyType.Name == want.KeyType.Name && got.KeyType.Bytes == want.KeyType.Bytes &&
		got.Interval == want.Interval && got.Concatenation == want.Concatenation &&
		got.HasTimeout == want.HasTimeout && !got.IsMap && !got.Constant && got.Timeout == 0
}

// repairElements compares the kernel's set elements with b.elems and
// repairs the difference in one batch.
func (b *Backend) repairElements(ctx context.Context, now time.Time) (int, error) {
	got, err := b.readElements()
	if err != nil {
		return 0, fmt.Errorf("netfilter: reading set elements: %w", err)
	}
	// Remaining times were read during the dump, after now.
	after := time.Now()
	all := allElements(b.macs, b.ranges)
	want := make(elements, len(all))
	for _, e := range all {
		want[e.key] = e.until
	}
	var del []elemKey
	var add []element
	for k, exp := range got {
		u, ok := want[k]
		if !ok {
			del = append(del, k) // not ours
			continue
		}
		if !k.set.timeout() {
			continue
		}
		if now.Add(exp).Sub(u) > verifySlack || after.Add(exp).Sub(u) < -verifySlack {
			del = append(del, k)
			if u.After(now.Add(verifySlack)) {
				add = append(add, element{k, u})
			}
		}
	}
	for k, u := range want {
		if _, ok := got[k]; !ok && k.live(u, now.Add(verifySlack)) {
			add = append(add, element{k, u})
		}
	}
	if len(del)+len(add) == 0 {
		return 0, nil
	}
	if err := b.sendDiff(del, add, now); err != nil {
		b.built = false // rebuilt by the next Apply or Verify
		return 0, err
	}
	t := &targets{}
	for _, e := range add {
		b.addTarget(t, e.key)
	}
	b.logger.WarnContext(ctx, "repaired set elements that had changed", "table", b.rs.table.Name,
		"elements_deleted", len(del), "elements_added", len(add))
	_, err = b.flushConntrack(t)
	if err != nil {
		err = fmt.Errorf("netfilter: flushing conntrack entries: %w", err)
	}
	return len(del) + len(add) - overlap(del, add), err
}

// overlap counts keys both deleted and added (rewritten), so a rewritten
// element counts as one repair.
func overlap(del []elemKey, add []element) int {
	in := map[elemKey]bool{}
	for _, k := range del {
		in[k] = true
	}
	n := 0
	for _, e := range add {
		if in[e.key] {
			n++
		}
	}
	return n
}

// addTarget adds the target element k restricts to t, for a conntrack
// flush: the cut-off or allowlist-mode device (with its known addresses
// from the last Snapshot). Other elements need no flush (see targets).
func (b *Backend) addTarget(t *targets, k elemKey) {
	switch k.set {
	case setMAC, setAllowMAC:
		macs := b.macs[modeCutoff]
		if k.set == setAllowMAC {
			macs = b.macs[modeAllowlist]
		}
		var addrs []netip.Addr
		mac := macUint([]byte(k.start))
		if i, ok := slices.BinarySearchFunc(macs, mac, func(m macElem, v uint64) int { return cmp.Compare(m.mac, v) }); ok {
			addrs = macs[i].addrs
		}
		t.addMAC(net.HardwareAddr(k.start), addrs)
	}
}

// readElements returns the elements the kernel holds in the sets the
// Snapshot fills (not those AllowDestination fills), each with its
// remaining time. Interval sets are read back as intervals.
func (b *Backend) readElements() (map[elemKey]time.Duration, error) {
	r, err := b.rawLocked()
	if err != nil {
		return nil, err
	}
	got := map[elemKey]time.Duration{}
	for kind, set := range b.rs.sets {
		if setKind(kind).dynamic() {
			continue
		}
		els, err := r.setElements(set)
		if errors.Is(err, errDumpInterrupted) {
			return nil, err
		}
		if err != nil {
			r.close()
			b.raw = nil
			return nil, fmt.Errorf("set %s: %w", set.Name, err)
		}
		for k, exp := range elementKeys(setKind(kind), els) {
			got[k] = exp
		}
	}
	return got, nil
}

// elementKeys turns the elements of one set, as the kernel lists them, into
// keys with their remaining time.
func elementKeys(kind setKind, els []nftables.SetElement) map[elemKey]time.Duration {
	out := make(map[elemKey]time.Duration, len(els))
	if kind.ranged() {
		for _, e := range els {
			end := e.KeyEnd
			if end == nil {
				end = e.Key // a single key
			}
			out[elemKey{set: kind, start: string(e.Key), end: string(end)}] = e.Expires
		}
		return out
	}
	if !kind.interval() {
		for _, e := range els {
			out[elemKey{set: kind, start: string(e.Key)}] = e.Expires
		}
		return out
	}
	// An interval is a start element followed, in key order, by an end
	// element. An end sorts before a start with the same key: that key
	// closes one interval and opens the next.
	slices.SortFunc(els, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		switch {
		case a.IntervalEnd == b.IntervalEnd:
			return 0
		case a.IntervalEnd:
			return -1
		}
		return 1
	})
	var open *nftables.SetElement
	for i := range els {
		e := &els[i]
		if e.IntervalEnd {
			if open != nil {
				out[elemKey{set: kind, start: string(open.Key), end: string(e.Key)}] = open.Expires
				open = nil
			}
			continue
		}
		if open != nil {
			out[elemKey{set: kind, start: string(open.Key)}] = open.Expires
		}
		open = e
	}
	if open != nil {
		out[elemKey{set: kind, start: string(open.Key)}] = open.Expires
	}
	return out
}
