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
	"github.com/google/nftables/expr"
)

// fullCheckEvery is how often Verify compares every set element with what
// was applied even though the ruleset generation says nothing changed: once
// every this many calls. It covers the one case the generation misses, a
// commit by someone else between curfew's batch and its reading of the
// generation. See docs/benchmarks.md for what a comparison costs.
const fullCheckEvery = 600

// compareRest is how many times as long as the last element comparison
// took Verify waits, from its end, before it starts another: comparing
// takes at most a tenth of the time, however large the sets and however
// often someone else commits. The structural check is not held back.
const compareRest = 9

// verifySlack is how far an element's end in the kernel may be from the
// applied one before Verify rewrites it, and how close to its end an
// element may be and still be left alone (it may legitimately be gone).
const verifySlack = 2 * time.Second

// Verify implements [enforce.Verifier]. Each call checks, in a few netlink
// round trips whatever the number of elements, that the table exists with
// exactly the chains, rules and sets Apply builds, and rebuilds the whole
// table if not. It then compares every set element with the last applied
// Snapshot, but only if the kernel's ruleset generation moved since
// curfew's last batch (someone else committed a change, to any table), on
// every 600th call, or after a comparison was discarded, and no sooner
// after the last comparison than nine times as long as that one took (a
// gateway whose other firewall manager commits every second would
// otherwise be comparing 100,000 elements all the time): it adds back
// missing elements (but not those whose Until has passed: the kernel
// expired them as it should), rewrites elements whose remaining time is
// wrong, and deletes elements curfew did not add. The conntrack entries of
// targets it restores are flushed. It returns how many objects (table,
// chains, sets, rules, elements) it repaired.
//
// The structural check, a rebuild and a repair hold the lock Apply takes;
// the element comparison, a dump of every set (about 0.3 s with 100,000
// elements), does not: it works on what Apply last told the kernel, as it
// was when the comparison began, so Apply never waits for it. If Apply
// (or a rebuild) sent a batch to the sets meanwhile, the comparison is
// stale: Verify discards it, repairs nothing, and a later call compares
// again. A set whose dump another commit overlapped may have been read in
// a half state; what differs in it is looked up again before it is
// repaired (see compare).
func (b *Backend) Verify(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.vmu.Lock()
	defer b.vmu.Unlock()
	c, n, err := b.beginCheck(ctx)
	if c == nil {
		return n, err
	}
	diff, err := b.compare(c)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		b.mu.Lock()
		b.compared(c)
		b.recheck = true
		b.mu.Unlock()
		return 0, err
	}
	return b.repair(ctx, c, diff)
}

// compared records that the comparison of c ended now. b.mu must be held.
func (b *Backend) compared(c *check) {
	b.lastCompare = time.Now()
	b.compareTook = b.lastCompare.Sub(c.started)
}

// check is what an element comparison works from: what Apply last told
// the kernel, as beginCheck found it.
type check struct {
	started time.Time
	late    time.Duration // b.late then
	epoch   uint64        // b.epoch then
	macs    [numModes][]macElem
	ranges  elements
	gen     uint32 // the ruleset generation before the dump
	genOK   bool
}

// elemDiff is what a comparison found: the elements to delete and to add.
type elemDiff struct {
	del   []elemKey
	add   []element
	exact bool // every set was read in a dump that no commit overlapped
	// unsure means that differences were found in an interval or range
	// set read in a half state and left out.
	unsure bool
}

func (d *elemDiff) empty() bool { return len(d.del)+len(d.add) == 0 }

// beginCheck is the part of Verify that holds b.mu: the structural check,
// and the rebuild if it fails; then, if the elements are due for a
// comparison, it returns what to compare them with. A nil check means
// Verify is done, with the repairs and error returned.
func (b *Backend) beginCheck(ctx context.Context) (*check, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, 0, errors.New("netfilter: backend is closed")
	}
	if !b.applied {
		return nil, 0, nil
	}
	var repaired int
	if b.built {
		var err error
		if repaired, err = b.checkStructure(); err != nil {
			return nil, 0, fmt.Errorf("netfilter: checking table %s: %w", b.rs.table.Name, err)
		}
	} else {
		repaired = 1 // an Apply failed half-way; the table is in an unknown state
	}
	if repaired > 0 {
		n, err := b.rebuildDrifted(ctx, repaired)
		return nil, n, err
	}

	b.checks++
	b.fmu.Lock()
	gen, genOK := b.generation()
	same := genOK && b.genOK && gen == b.gen
	b.fmu.Unlock()
	if b.checks%fullCheckEvery == 0 {
		b.recheck = true
	}
	if same && !b.recheck {
		return nil, 0, nil
	}
	now := time.Now()
	if now.Sub(b.lastCompare) < compareRest*b.compareTook {
		return nil, 0, nil // due, but resting from the last comparison
	}
	b.recheck = false
	return &check{started: now, late: b.late, epoch: b.epoch, macs: b.macs, ranges: b.ranges, gen: gen, genOK: genOK}, 0, nil
}

// rebuildDrifted rebuilds the table after the structural check found
// repaired objects wrong, and flushes the conntrack entries of every
// target. b.mu must be held.
func (b *Backend) rebuildDrifted(ctx context.Context, repaired int) (int, error) {
	now := time.Now()
	t := &targets{}
	var live int
	all := allElements(b.macs, b.ranges, b.rs.notices())
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

// compare reads the sets and compares them with c. It holds b.vmu alone.
//
// A set whose dump a commit overlapped (any commit in the namespace, to any
// table, curfew's or another's) may have been read in a half state: with
// 100,000 elements and another firewall manager committing, a few percent
// of the elements can be missing from a dump, and the kernel does not mark
// it. The differences found in such a set are looked up again one element
// at a time, in requests the kernel answers atomically, and only those
// confirmed are kept. Interval and range sets cannot be looked up so: a
// difference found in one read in a half state is left for the next call.
func (b *Backend) compare(c *check) (*elemDiff, error) {
	want := make(elements, len(c.ranges)+len(c.macs[0])+len(c.macs[1])+len(c.macs[2]))
	for _, e := range allElements(c.macs, c.ranges, b.rs.notices()) {
		want[e.key] = e.until
	}
	now := time.Now()
	got, inexact, err := b.readElements()
	if err != nil {
		return nil, fmt.Errorf("netfilter: reading set elements: %w", err)
	}
	// Remaining times were read during the dump, after now.
	del, add := elementDiff(want, got, now, time.Now(), c.late)
	d := &elemDiff{exact: !slices.Contains(inexact[:], true)}
	unsure := map[elemKey]bool{}
	for _, k := range del {
		switch {
		case !inexact[k.set]:
			d.del = append(d.del, k)
		case k.set.plain():
			unsure[k] = true
		default:
			d.unsure = true
		}
	}
	for _, e := range add {
		switch {
		case !inexact[e.key.set]:
			d.add = append(d.add, e)
		case e.key.set.plain():
			unsure[e.key] = true
		default:
			d.unsure = true
		}
	}
	if len(unsure) == 0 {
		return d, nil
	}
	del, add, err = b.confirm(want, unsure, c.late)
	if err != nil {
		return nil, fmt.Errorf("netfilter: looking up set elements: %w", err)
	}
	d.del, d.add = append(d.del, del...), append(d.add, add...)
	return d, nil
}

// confirm looks up each of keys in the kernel and returns what differs
// from want among them, with elementDiff's late. b.vmu must be held.
func (b *Backend) confirm(want elements, keys map[elemKey]bool, late time.Duration) (del []elemKey, add []element, err error) {
	r, err := b.dumpConn()
	if err != nil {
		return nil, nil, err
	}
	wantK, gotK := elements{}, map[elemKey]time.Duration{}
	now := time.Now()
	for k := range keys {
		if u, ok := want[k]; ok {
			wantK[k] = u
		}
		e, ok, err := r.setElement(b.rs.sets[k.set], []byte(k.start))
		if err != nil {
			r.close()
			b.raw = nil
			return nil, nil, err
		}
		if ok {
			gotK[elemKeyOf(k.set, e)] = e.Expires
		}
	}
	del, add = elementDiff(wantK, gotK, now, time.Now(), late)
	return del, add, nil
}

// repair is the part of Verify that holds b.mu after a comparison: unless
// a batch was sent to the sets since c was taken, it records the
// generation the sets were found matching at, or sends the repairs in one
// batch.
func (b *Backend) repair(ctx context.Context, c *check, d *elemDiff) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.compared(c)
	if d.unsure {
		b.recheck = true // what was left out is looked at again
	}
	switch {
	case b.closed:
		return 0, errors.New("netfilter: backend is closed")
	case b.epoch != c.epoch || !b.built:
		// Apply changed the sets during the comparison, which is stale:
		// repairing from it could undo what Apply just did.
		b.recheck = true
		return 0, nil
	case d.empty():
		if d.exact {
			b.fmu.Lock()
			// Batches sent meanwhile (AllowDestination's) were checked
			// against the generation as they were sent.
			if !b.genOK || b.gen == c.gen {
				b.gen, b.genOK = c.gen, c.genOK
			}
			b.fmu.Unlock()
		}
		return 0, nil
	}
	if err := b.sendDiff(d.del, d.add, time.Now()); err != nil {
		b.built = false // rebuilt by the next Apply or Verify
		return 0, err
	}
	t := &targets{}
	for _, e := range d.add {
		b.addTarget(t, e.key)
	}
	b.logger.WarnContext(ctx, "repaired set elements that had changed", "table", b.rs.table.Name,
		"elements_deleted", len(d.del), "elements_added", len(d.add))
	_, err := b.flushConntrack(t)
	if err != nil {
		err = fmt.Errorf("netfilter: flushing conntrack entries: %w", err)
	}
	return len(d.del) + len(d.add) - overlap(d.del, d.add), err
}

// checkStructure returns how many of the table's objects (not counting set
// elements) are missing or differ from what rebuild creates.
func (b *Backend) checkStructure() (int, error) {
	c, err := b.connLocked()
	if err != nil {
		return 0, err
	}
	rs := b.rs
	nsets := 0
	for _, s := range rs.sets {
		if s != nil {
			nsets++
		}
	}
	everything := 1 + nsets + len(rs.chains) + len(rs.rules)
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
	if len(sets) != nsets {
		bad++
	}
	for _, want := range rs.sets {
		if want == nil {
			continue
		}
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

// sameSet reports whether the set got, as google/nftables lists it, is
// the set want. For a verdict map, the library reports the verdict data
// type as the key type and no data type (it overwrites one with the
// other): a map of another key is told by its elements, whose keys then
// have the wrong length.
func sameSet(got, want *nftables.Set) bool {
	key := got.KeyType.Name == want.KeyType.Name && got.KeyType.Bytes == want.KeyType.Bytes
	if want.IsMap && want.DataType.Name == nftables.TypeVerdict.Name {
		key = got.KeyType.Name == nftables.TypeVerdict.Name && got.DataType.Name == ""
	}
	return key &&
		got.Interval == want.Interval && got.Concatenation == want.Concatenation &&
		got.HasTimeout == want.HasTimeout && got.IsMap == want.IsMap && !got.Constant && got.Timeout == 0
}

// elementDiff returns the elements to delete from the kernel and to add
// to it to go from got, the elements the kernel holds with their remaining
// times read between now and after, to want. An element may end up to
// verifySlack before its Until, and up to verifySlack plus late after it:
// the elements of a rebuild end as much later as its commit came after
// the time their timeouts count from.
func elementDiff(want elements, got map[elemKey]time.Duration, now, after time.Time, late time.Duration) (del []elemKey, add []element) {
	for k, exp := range got {
		u, ok := want[k]
		if !ok {
			del = append(del, k) // not ours
			continue
		}
		if !k.set.timeout() {
			continue
		}
		if now.Add(exp).Sub(u) > verifySlack+late || after.Add(exp).Sub(u) < -verifySlack {
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
	return del, add
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
	if k.set != setReachMAC {
		return
	}
	switch k.to {
	case modeChains[modeCutoff].reach, modeChains[modeAllowlist].reach:
		macs := b.macs[modeCutoff]
		if k.to == modeChains[modeAllowlist].reach {
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

// retryElements is the size up to which readElements reads a set again
// when a commit overlapped its dump: a set this small is read in a few
// milliseconds, and the second read likely falls between two commits.
const retryElements = 4096

// readElements returns the elements the kernel holds in the sets the
// Snapshot fills (not those AllowDestination fills), each with its
// remaining time. Interval sets are read back as intervals. inexact marks
// the sets whose dump a commit overlapped (the ruleset generation moved
// during it), read again up to twice if small: their elements may be a
// half state. b.vmu must be held.
func (b *Backend) readElements() (got map[elemKey]time.Duration, inexact [numSets]bool, err error) {
	r, err := b.dumpConn()
	if err != nil {
		return nil, inexact, err
	}
	fail := func(err error) (map[elemKey]time.Duration, [numSets]bool, error) {
		r.close()
		b.raw = nil
		return nil, inexact, err
	}
	got = map[elemKey]time.Duration{}
	for kind, set := range b.rs.sets {
		if set == nil || setKind(kind).dynamic() {
			continue
		}
		for attempt := 1; ; attempt++ {
			before, err := r.generation()
			if err != nil {
				return fail(err)
			}
			els, err := r.setElements(set)
			interrupted := errors.Is(err, errDumpInterrupted)
			if err != nil && !interrupted {
				return fail(fmt.Errorf("set %s: %w", set.Name, err))
			}
			if b.dumped != nil {
				b.dumped(set.Name)
			}
			after, err := r.generation()
			if err != nil {
				return fail(err)
			}
			exact := !interrupted && before == after
			if exact || attempt == 3 || len(els) > retryElements {
				inexact[kind] = !exact
				for k, exp := range elementKeys(setKind(kind), els) {
					got[k] = exp
				}
				break
			}
		}
	}
	return got, inexact, nil
}

// elemKeyOf returns the key of e, an element of a set of plain keys of
// kind: in a verdict map, with the chain it jumps to.
func elemKeyOf(kind setKind, e nftables.SetElement) elemKey {
	k := elemKey{set: kind, start: string(e.Key)}
	if kind.verdicts() {
		k.to = "?" // not a jump: no element curfew writes
		if v := e.VerdictData; v != nil && v.Kind == expr.VerdictJump {
			k.to = v.Chain
		}
	}
	return k
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
			out[elemKeyOf(kind, e)] = e.Expires
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
