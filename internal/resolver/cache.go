package resolver

import (
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

// A cache keeps upstream answers until their TTL runs out. It holds at most
// size entries; when full, an arbitrary entry of the shard makes room (Go's
// map iteration order), which costs nothing to track and, for a DNS cache,
// does as well as LRU in practice.
type cache struct {
	seed   maphash.Seed
	max    int // entries per shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.Mutex // guards m
	m  map[cacheKey]*cacheEntry
}

// A cacheEntry is immutable once stored.
type cacheEntry struct {
	msg     *dns.Msg // without OPT; TTLs as received
	stored  time.Time
	expires time.Time
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), max: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = map[cacheKey]*cacheEntry{}
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.name)%cacheShards]
}

// get returns a copy of the cached answer to k with its TTLs lowered by the
// time it spent in the cache, or nil.
func (c *cache) get(k cacheKey, now time.Time) *dns.Msg {
	s := c.shard(k)
	s.mu.Lock()
	e := s.m[k]
	if e != nil && !now.Before(e.expires) {
		delete(s.m, k)
		e = nil
	}
	s.mu.Unlock()
	if e == nil {
		return nil
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// put stores m, an upstream's answer to k, for as long as its TTLs allow.
// Answers that may not be cached are ignored.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	ttl, ok := cacheTTL(m)
	if !ok || ttl <= 0 {
		return
	}
	e := &cacheEntry{msg: m, stored: now, expires: now.Add(ttl)}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.max {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = e
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
