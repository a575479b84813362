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
)

// A cacheKey identifies a question and the bits of the query that change
// the answer an upstream gives.
type cacheKey struct {
	name   string // lower case, fully qualified
	qtype  uint16
	qclass uint16
	do, cd bool
}

// A cache keeps upstream answers until their TTL runs out. Entries are
// found by a hash of their key, so the fast path can look one up from the
// query's bytes without building a key; the entry's own key is compared
// before it is used. It holds at most about size entries; when a shard is
// full, an arbitrary entry of it makes room (Go's map iteration order),
// which costs nothing to track and, for a DNS cache, does as well as LRU in
// practice.
type cache struct {
	seed   maphash.Seed
	max    int // entries per shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.Mutex // guards m
	m  map[uint64]*cacheEntry
}

// A cacheEntry is immutable once stored.
type cacheEntry struct {
	key     cacheKey
	msg     *dns.Msg // without OPT; TTLs as received
	stored  time.Time
	expires time.Time

	// The answer in wire form for the fast path, or nil if it could not
	// be packed: ID zero, question as in key, no OPT.
	wire []byte
	qlen int      // length of the question section
	ttls []ttlPos // where the TTLs are in wire
}

type ttlPos struct {
	off uint16
	ttl uint32
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), max: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = map[uint64]*cacheEntry{}
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

func (c *cache) lookup(h uint64, now time.Time) *cacheEntry {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	e := s.m[h]
	if e != nil && !now.Before(e.expires) {
		delete(s.m, h)
		e = nil
	}
	s.mu.Unlock()
	return e
}

// get returns a copy of the cached answer to k with its TTLs lowered by the
// time it spent in the cache, or nil.
func (c *cache) get(k cacheKey, now time.Time) *dns.Msg {
	e := c.lookup(c.hash(k), now)
	if e == nil || e.key != k {
		return nil
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
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
	e := c.lookup(h, now)
	if e == nil || e.wire == nil || e.key.name != string(name) || e.key.qtype != q.qtype ||
		e.key.qclass != q.qclass || e.key.do != q.do || e.key.cd != q.cd || e.qlen != len(q.question) {
		return out, false
	}
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
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, t := range e.ttls {
		binary.BigEndian.PutUint32(w[t.off:], t.ttl-min(t.ttl, age))
	}
	return out, true
}

// put stores m, an upstream's answer to k, for as long as its TTLs allow.
// Answers that may not be cached are ignored.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	ttl, ok := cacheTTL(m)
	if !ok || ttl <= 0 {
		return
	}
	e := &cacheEntry{key: k, msg: m, stored: now, expires: now.Add(ttl)}
	e.wire, e.qlen, e.ttls = packForCache(k, m)
	h := c.hash(k)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.max {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[h] = e
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
