package resolver

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	cacheShards = 64
	// maxTTL caps how long any answer is kept, so a mistaken huge TTL
	// upstream does not pin a record for weeks.
	maxTTL = 24 * time.Hour
	// maxNegativeTTL caps negative caching (RFC 2308 §5 suggests 1–3 hours).
	maxNegativeTTL = 3 * time.Hour
	// maxStale is how long after its expiry an answer may still be given
	// when no upstream answers (RFC 8767 suggests 1 to 3 days).
	maxStale = 24 * time.Hour
	// staleTTL is the TTL of a stale answer (RFC 8767 section 4).
	staleTTL = 30
	// entryOverhead is what an entry costs besides its wire form and name:
	// the entry, its node, the map slot and a queue slot, rounded up.
	entryOverhead = 224
	// smallShare is the part of a shard's bytes that the small queue of
	// new entries may hold (S3-FIFO's 10%).
	smallShare = 10
)

// A cacheKey identifies a question and the bits of the query that change
// the answer an upstream gives.
type cacheKey struct {
	name   string // lower case, fully qualified
	qtype  uint16
	qclass uint16
	do, cd bool
}

// A cache keeps upstream answers, in wire form, until their TTL runs out,
// and for maxStale after that for when no upstream answers. Entries are
// found by a hash of their key, so the fast path can look one up from the
// query's bytes without building a key; the entry's own key is compared
// before it is used.
//
// Its size is a number of bytes, counted per entry as the wire form, the
// name and entryOverhead, and split evenly among shards. Each shard evicts
// by S3-FIFO (Yang et al., SOSP 2023): a new entry goes into a small FIFO
// queue, and leaves the cache from there unless it was asked for again
// while in it; entries asked for again move to the main queue, which
// gives each a second chance per use. A burst of names asked once, such as
// a scan or a crawler, passes through the small queue without pushing out
// the names the network uses. A ghost queue remembers the hashes of
// entries recently evicted from the small queue, so that a name that comes
// back soon goes to the main queue at once.
type cache struct {
	seed     maphash.Seed
	maxBytes int // per shard
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu         sync.Mutex // guards the fields below
	m          map[uint64]*cacheNode
	small      fifo
	main       fifo
	ghost      ghost
	bytes      int // of the entries in m
	smallBytes int // of those in the small queue
}

// A cacheNode is an entry's place in a shard. Its fields are guarded by
// the shard's lock.
type cacheNode struct {
	hash   uint64
	e      *cacheEntry
	size   int   // e.size(), kept here so that eviction need not read e
	freq   uint8 // uses since it was queued, at most 3
	inMain bool
	gone   bool // no longer in the map: skipped when reached in its queue
}

// A cacheEntry is immutable once stored.
type cacheEntry struct {
	key     cacheKey
	stored  time.Time
	expires time.Time

	// The answer in wire form: ID zero, question as in key, no OPT,
	// compressed, TTLs as received.
	wire []byte
	qlen int      // length of the question section
	ttls []ttlPos // where the TTLs are in wire
}

type ttlPos struct {
	off uint16
	ttl uint32
}

func (e *cacheEntry) size() int { return len(e.wire) + len(e.key.name) + 8*len(e.ttls) + entryOverhead }

// newCache returns a cache of about size bytes.
func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), maxBytes: max(4096, size/cacheShards)}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = map[uint64]*cacheNode{}
		s.ghost.init(max(16, c.maxBytes/512))
	}
	return c
}

// hash returns the hash of a key whose name hashes to nameHash.
func hashKey(nameHash uint64, qtype, qclass uint16, do, cd bool) uint64 {
	x := uint64(qtype)<<32 | uint64(qclass)<<16
	if do {
		x |= 1
	}
	if cd {
		x |= 2
	}
	h := (nameHash ^ x) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

func (c *cache) hash(k cacheKey) uint64 {
	return hashKey(maphash.String(c.seed, k.name), k.qtype, k.qclass, k.do, k.cd)
}

// lookup returns the entry of hash h that has not expired at now, or,
// with stale, one that expired less than maxStale ago. A fresh entry
// found counts as a use.
func (c *cache) lookup(h uint64, now time.Time, stale bool) *cacheEntry {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.m[h]
	if n == nil {
		return nil
	}
	e := n.e
	if now.Before(e.expires) {
		n.freq = min(n.freq+1, 3)
		return e
	}
	if now.Before(e.expires.Add(maxStale)) {
		if stale {
			return e
		}
		return nil
	}
	s.remove(n)
	return nil
}

// get returns the cached answer to k with its TTLs lowered by the time it
// spent in the cache, or nil.
func (c *cache) get(k cacheKey, now time.Time) *dns.Msg {
	e := c.lookup(c.hash(k), now, false)
	if e == nil || e.key != k {
		return nil
	}
	return e.msg(now)
}

// getStale returns the answer to k that expired less than maxStale before
// now, with TTLs of staleTTL, or nil.
func (c *cache) getStale(k cacheKey, now time.Time) *dns.Msg {
	e := c.lookup(c.hash(k), now, true)
	if e == nil || e.key != k {
		return nil
	}
	m := e.msg(e.stored)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rr.Header().Ttl = min(rr.Header().Ttl, staleTTL)
		}
	}
	return m
}

// msg returns e's answer as a message, with TTLs lowered by its age at now.
func (e *cacheEntry) msg(now time.Time) *dns.Msg {
	m := new(dns.Msg)
	if err := m.Unpack(e.wire); err != nil {
		return nil // cannot be: it was packed by put
	}
	age := uint32(max(0, now.Sub(e.stored)) / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			h.Ttl -= min(h.Ttl, age)
		}
	}
	return m
}

// getWire returns the cached answer to the question q, which must be in
// lower case, in wire form, ready for its client but for the OPT record,
// appended to out; ok is false if there is none.
func (c *cache) getWire(out []byte, q *wireQuery, now time.Time) ([]byte, bool) {
	name := q.lowerName()
	h := hashKey(maphash.Bytes(c.seed, name), q.qtype, q.qclass, q.do, q.cd)
	e := c.lookup(h, now, false)
	if e == nil || e.key.name != string(name) || e.key.qtype != q.qtype ||
		e.key.qclass != q.qclass || e.key.do != q.do || e.key.cd != q.cd || e.qlen != len(q.question) {
		return out, false
	}
	return e.appendWire(out, q, now), true
}

// appendWire appends e as the answer to q, which must be e's question in
// lower case, at now.
func (e *cacheEntry) appendWire(out []byte, q *wireQuery, now time.Time) []byte {
	start := len(out)
	out = append(out, e.wire...)
	w := out[start:]
	binary.BigEndian.PutUint16(w, q.id) // the question is the same: q is lower case
	w[2] = 0x80                         // QR; opcode QUERY; not AA, not TC
	if q.rd {
		w[2] |= 0x01
	}
	w[3] = 0x80 | w[3]&0x2f // RA; AD and RCODE as the upstream said
	if !q.do && !q.ad {
		w[3] &^= 0x20
	}
	if q.cd {
		w[3] |= 0x10
	}
	age := uint32(max(0, now.Sub(e.stored)) / time.Second)
	for _, t := range e.ttls {
		binary.BigEndian.PutUint32(w[t.off:], t.ttl-min(t.ttl, age))
	}
	return out
}

// put stores m, an upstream's answer to k, for as long as its TTLs allow,
// and returns the entry; storing it is no use of it. Answers that may not
// be cached, or cannot be packed, are not stored, and put returns nil.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) *cacheEntry {
	return c.putWire(k, m, nil, now)
}

// putWire is put for an answer m that came as wire, whose question must be
// k's but for the case of its letters, or nil. The entry is then a copy of
// wire where that gives the same answer as packing m again: most answers,
// and without the cost of packing.
func (c *cache) putWire(k cacheKey, m *dns.Msg, wire []byte, now time.Time) *cacheEntry {
	ttl, ok := cacheTTL(m)
	if !ok || ttl <= 0 {
		return nil
	}
	e := &cacheEntry{key: k, stored: now, expires: now.Add(ttl)}
	if wire != nil {
		e.wire, e.qlen, e.ttls = wireForCache(wire)
	}
	if e.wire == nil {
		e.wire, e.qlen, e.ttls = packForCache(k, m)
	}
	if e.wire == nil || e.size() > c.maxBytes/4 {
		return nil
	}
	h := c.hash(k)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(h, e, c.maxBytes)
	return e
}

// store adds or replaces the entry of hash h and evicts until the shard
// holds at most maxBytes.
func (s *cacheShard) store(h uint64, e *cacheEntry, maxBytes int) {
	if n := s.m[h]; n != nil {
		// Replaced in place: the name keeps its standing.
		size := e.size()
		d := size - n.size
		s.bytes += d
		if !n.inMain {
			s.smallBytes += d
		}
		n.e, n.size = e, size
	} else {
		n := &cacheNode{hash: h, e: e, size: e.size()}
		s.m[h] = n
		s.bytes += n.size
		if s.ghost.take(h) {
			n.inMain = true
			s.main.push(n)
		} else {
			s.small.push(n)
			s.smallBytes += n.size
		}
	}
	for s.bytes > maxBytes {
		s.evict(maxBytes)
	}
}

// evict removes one entry, or moves one from the small queue to the main
// one, or gives one in the main queue another round.
func (s *cacheShard) evict(maxBytes int) {
	if s.smallBytes > maxBytes*smallShare/100 || s.main.len() == 0 {
		n := s.small.pop()
		if n == nil || n.gone {
			return
		}
		s.smallBytes -= n.size
		if n.freq > 0 {
			n.freq, n.inMain = 0, true
			s.main.push(n)
			return
		}
		s.ghost.add(n.hash)
		s.drop(n)
		return
	}
	n := s.main.pop()
	if n == nil || n.gone {
		return
	}
	if n.freq > 0 {
		n.freq--
		s.main.push(n)
		return
	}
	s.drop(n)
}

// remove takes n out of the cache; its queue slot is skipped later.
func (s *cacheShard) remove(n *cacheNode) {
	if !n.inMain {
		s.smallBytes -= n.size
	}
	s.drop(n)
}

func (s *cacheShard) drop(n *cacheNode) {
	delete(s.m, n.hash)
	s.bytes -= n.size
	n.gone = true
}

// A fifo is a queue of nodes.
type fifo struct {
	q    []*cacheNode
	head int
}

func (f *fifo) len() int { return len(f.q) - f.head }

func (f *fifo) push(n *cacheNode) { f.q = append(f.q, n) }

// pop removes and returns the oldest node, or nil if there is none.
func (f *fifo) pop() *cacheNode {
	if f.head == len(f.q) {
		return nil
	}
	n := f.q[f.head]
	f.q[f.head] = nil
	f.head++
	if f.head >= 1024 && f.head*2 >= len(f.q) {
		f.q = append(f.q[:0], f.q[f.head:]...)
		f.head = 0
	}
	return n
}

// A ghost remembers the last hashes added to it, up to a fixed number.
type ghost struct {
	ring []uint64
	next int
	in   map[uint64]int // hash → how many times it is in ring
}

func (g *ghost) init(n int) {
	g.ring = make([]uint64, n)
	g.in = make(map[uint64]int, n)
}

func (g *ghost) add(h uint64) {
	if old := g.ring[g.next]; old != 0 {
		if g.in[old]--; g.in[old] <= 0 {
			delete(g.in, old)
		}
	}
	g.ring[g.next] = h
	g.in[h]++
	g.next = (g.next + 1) % len(g.ring)
}

// take reports whether h is remembered, and forgets it.
func (g *ghost) take(h uint64) bool {
	if g.in[h] == 0 {
		return false
	}
	delete(g.in, h) // its ring slots are left to be overwritten
	return true
}

// packForCache returns m in wire form for the fast path with the positions
// of its TTLs, or nil if it cannot be.
func packForCache(k cacheKey, m *dns.Msg) (wire []byte, qlen int, ttls []ttlPos) {
	c := *m // a shallow copy: only the header and question change
	c.Id = 0
	c.Question = []dns.Question{{Name: k.name, Qtype: k.qtype, Qclass: k.qclass}}
	c.Compress = true
	wire, err := c.Pack()
	if err != nil || len(wire) > 0xffff {
		return nil, 0, nil
	}
	off, ok := skipName(wire, 12)
	if !ok {
		return nil, 0, nil
	}
	off += 4
	qlen = off - 12
	n := len(m.Answer) + len(m.Ns) + len(m.Extra)
	ttls = make([]ttlPos, 0, n)
	for range n {
		off, ok = skipName(wire, off)
		if !ok || off+10 > len(wire) {
			return nil, 0, nil
		}
		ttls = append(ttls, ttlPos{off: uint16(off + 4), ttl: binary.BigEndian.Uint32(wire[off+4:])})
		off += 10 + int(binary.BigEndian.Uint16(wire[off+8:]))
	}
	if off != len(wire) {
		return nil, 0, nil
	}
	return wire, qlen, ttls
}

// wireForCache returns a copy of wire, an upstream's answer, in the form
// packForCache gives it (ID zero, question in lower case, no OPT record)
// with the positions of its TTLs, or nil if the copy could read otherwise
// than wire once the ID is zeroed and the OPT record cut off. So it takes
// only answers whose question has no capital letter, whose OPT record, if
// any, is the last record, whose records are of types whose names it knows
// where to find (A, AAAA, TXT, CNAME, NS, PTR, DNAME, MX, SOA), and whose
// names, compression pointers followed, are read from past the header and
// before the OPT record. The rest are packed again.
func wireForCache(wire []byte) (out []byte, qlen int, ttls []ttlPos) {
	if len(wire) < 12 || binary.BigEndian.Uint16(wire[4:]) != 1 {
		return nil, 0, nil
	}
	off := 12
	for {
		if off >= len(wire) {
			return nil, 0, nil
		}
		l := int(wire[off])
		if l == 0 {
			off++
			break
		}
		if l&0xc0 != 0 || off+1+l > len(wire) {
			return nil, 0, nil
		}
		for _, b := range wire[off+1 : off+1+l] {
			if 'A' <= b && b <= 'Z' {
				return nil, 0, nil
			}
		}
		off += 1 + l
	}
	off += 4
	if off > len(wire) {
		return nil, 0, nil
	}
	qlen = off - 12
	an, ns, ar := int(binary.BigEndian.Uint16(wire[6:])), int(binary.BigEndian.Uint16(wire[8:])), int(binary.BigEndian.Uint16(wire[10:]))
	n := an + ns + ar
	// The records' starts and the names to check, once the end is known.
	type record struct{ start, typ, rdata, end int }
	var stack [16]record
	recs := stack[:0]
	end := len(wire)
	for i := range n {
		start := off
		var ok bool
		if off, ok = skipName(wire, off); !ok || off+10 > len(wire) {
			return nil, 0, nil
		}
		typ := binary.BigEndian.Uint16(wire[off:])
		rdata := off + 10
		next := rdata + int(binary.BigEndian.Uint16(wire[off+8:]))
		if next > len(wire) {
			return nil, 0, nil
		}
		if typ == dns.TypeOPT {
			if i != n-1 || i < an+ns {
				return nil, 0, nil // not last, or not in the additional section
			}
			end = start
		} else {
			recs = append(recs, record{start, int(typ), rdata, next})
		}
		off = next
	}
	if off != len(wire) {
		return nil, 0, nil // bytes after the records
	}
	ttls = make([]ttlPos, 0, len(recs))
	for _, r := range recs {
		if !nameWithin(wire, r.start, end) || !rdataWithin(wire, uint16(r.typ), r.rdata, r.end, end) {
			return nil, 0, nil
		}
		ttls = append(ttls, ttlPos{off: uint16(r.rdata - 6), ttl: binary.BigEndian.Uint32(wire[r.rdata-6:])})
	}
	out = make([]byte, end)
	copy(out, wire)
	out[0], out[1] = 0, 0
	if end < len(wire) {
		binary.BigEndian.PutUint16(out[10:], uint16(ar-1))
	}
	return out, qlen, ttls
}

// rdataWithin reports whether the names in the data of a record of type
// typ, from start to end in msg, read only bytes from past the header to
// limit, and whether typ is one whose names it knows where to find.
func rdataWithin(msg []byte, typ uint16, start, end, limit int) bool {
	switch typ {
	case dns.TypeA, dns.TypeAAAA, dns.TypeTXT:
		return true
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR, dns.TypeDNAME:
		return start < end && nameWithin(msg, start, limit)
	case dns.TypeMX:
		return start+2 < end && nameWithin(msg, start+2, limit)
	case dns.TypeSOA:
		if start >= end || !nameWithin(msg, start, limit) {
			return false
		}
		next, ok := skipName(msg, start)
		return ok && next < end && nameWithin(msg, next, limit)
	}
	return false
}

// nameWithin reports whether the name at off in msg, its compression
// pointers followed, reads only bytes from past the header to limit.
func nameWithin(msg []byte, off, limit int) bool {
	for hops := 0; hops < 64; {
		if off < 12 || off >= limit {
			return false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return true
		case l&0xc0 == 0xc0:
			if off+1 >= limit {
				return false
			}
			off = (l&0x3f)<<8 | int(msg[off+1])
			hops++
		case l&0xc0 != 0:
			return false
		default:
			if off+1+l > limit {
				return false
			}
			off += 1 + l
		}
	}
	return false
}

// skipName returns the offset just past the domain name at off in msg.
func skipName(msg []byte, off int) (int, bool) {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(msg)
		case l&0xc0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// cacheTTL returns how long m may be cached: the smallest TTL of its
// records for a positive answer; for a negative one (NXDOMAIN, or NOERROR
// with no answer) the smaller of the SOA record's TTL and its MINIMUM field
// (RFC 2308 §5). A negative answer without SOA, a truncated answer and any
// other error are not cached.
func cacheTTL(m *dns.Msg) (time.Duration, bool) {
	if m.Truncated {
		return 0, false
	}
	negative := m.Rcode == dns.RcodeNameError || m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return 0, false
	}
	if negative {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl := min(soa.Hdr.Ttl, soa.Minttl)
				return min(time.Duration(ttl)*time.Second, maxNegativeTTL), true
			}
		}
		return 0, false
	}
	ttl := uint32(maxTTL / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	return time.Duration(ttl) * time.Second, true
}
