package resolver

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// answerOf returns an answer to name with n A records, each owned by a
// name of extra bytes more, so answers vary in size.
func answerOf(name string, n, extra int, ttl uint32) *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	owner := name
	if extra > 0 {
		owner = fmt.Sprintf("%0*d.%s", min(extra, 63), 0, name)
	}
	for i := range n {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
			A: net.IPv4(192, 0, 2, byte(i))})
	}
	return m
}

// checkBound fails t unless every shard holds at most its share of bytes
// and its counts agree with its entries.
func checkBound(t *testing.T, c *cache) {
	t.Helper()
	for i := range c.shards {
		s := &c.shards[i]
		bytes, small := 0, 0
		for _, n := range s.m {
			bytes += n.e.size()
			if !n.inMain {
				small += n.e.size()
			}
		}
		if s.bytes != bytes || s.smallBytes != small {
			t.Fatalf("shard %d counts %d bytes (%d small), its entries take %d (%d small)", i, s.bytes, s.smallBytes, bytes, small)
		}
		if s.bytes > c.maxBytes {
			t.Fatalf("shard %d holds %d bytes, more than its %d", i, s.bytes, c.maxBytes)
		}
		if live := s.small.len() + s.main.len(); live < len(s.m) {
			t.Fatalf("shard %d has %d entries but %d queued", i, len(s.m), live)
		}
	}
}

// FuzzCacheByteBound stores and reads a fuzzed mix of answers, fresh,
// expired and replaced, in a small cache: its byte bound must hold after
// every step, and its byte counts must agree with what it holds.
func FuzzCacheByteBound(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200, 201, 202, 100, 0, 1, 2})
	f.Add(make([]byte, 600))
	seq := make([]byte, 0, 2048)
	for i := range 2048 {
		seq = append(seq, byte(i*7), byte(i))
	}
	f.Add(seq)
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := newCache(cacheShards * 4096)
		now := t0
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			name := fmt.Sprintf("n%d.example.", binary.BigEndian.Uint16(ops[i:])%512)
			k := cacheKey{name: name, qtype: dns.TypeA, qclass: dns.ClassINET, do: op&1 != 0}
			switch op % 4 {
			case 0, 1:
				c.put(k, answerOf(name, int(arg%40), int(op>>2), uint32(arg)%600), now)
			case 2:
				c.get(k, now)
				c.getStale(k, now)
			case 3:
				now = now.Add(time.Duration(arg) * time.Minute)
			}
			checkBound(t, c)
		}
	})
}

// TestCacheKeepsHotNamesUnderScan fills a cache with names that are asked
// for, then passes ten times its size of names asked once through it: the
// names in use must stay.
func TestCacheKeepsHotNamesUnderScan(t *testing.T) {
	c := newCache(1 << 20)
	key := func(name string) cacheKey {
		return cacheKey{name: name, qtype: dns.TypeA, qclass: dns.ClassINET}
	}
	var hot []string
	for i := range 500 {
		hot = append(hot, fmt.Sprintf("hot%d.example.", i))
	}
	for _, name := range hot {
		c.put(key(name), answerOf(name, 2, 0, 3600), t0)
	}
	scanned := 0
	for round := range 20 {
		for _, name := range hot {
			c.get(key(name), t0)
		}
		for range 2000 {
			name := fmt.Sprintf("scan%d-%d.example.", round, scanned)
			c.put(key(name), answerOf(name, 2, 0, 3600), t0)
			scanned++
		}
	}
	kept := 0
	for _, name := range hot {
		if c.get(key(name), t0) != nil {
			kept++
		}
	}
	held := 0
	for i := range c.shards {
		held += len(c.shards[i].m)
	}
	if kept < len(hot)*95/100 {
		t.Errorf("%d of %d names in use kept after a scan of %d names (the cache holds %d entries), want at least 95%%",
			kept, len(hot), scanned, held)
	}
	checkBound(t, c)
}

func TestCacheServesStaleForADay(t *testing.T) {
	c := newCache(1 << 20)
	k := cacheKey{name: "stale.example.", qtype: dns.TypeA, qclass: dns.ClassINET}
	c.put(k, answerOf(k.name, 1, 0, 300), t0)
	tests := []struct {
		after   time.Duration
		fresh   bool
		stale   bool
		wantTTL uint32
	}{
		{100 * time.Second, true, true, 200},
		{301 * time.Second, false, true, staleTTL},
		{maxStale + 299*time.Second, false, true, staleTTL},
		{maxStale + 301*time.Second, false, false, 0},
	}
	for _, tt := range tests {
		now := t0.Add(tt.after)
		if got := c.get(k, now) != nil; got != tt.fresh {
			t.Errorf("get after %v found %v, want %v", tt.after, got, tt.fresh)
		}
		m := c.getStale(k, now)
		if (m != nil) != tt.stale {
			t.Fatalf("getStale after %v = %v, want an answer %v", tt.after, m, tt.stale)
		}
		if m != nil && tt.fresh {
			continue
		}
		if m != nil && m.Answer[0].Header().Ttl != tt.wantTTL {
			t.Errorf("stale TTL after %v = %d, want %d", tt.after, m.Answer[0].Header().Ttl, tt.wantTTL)
		}
	}
}
