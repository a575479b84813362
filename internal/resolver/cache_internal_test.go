package resolver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// FuzzWireForCacheMatchesPack holds the cache entry copied from an
// upstream's wire answer (wireForCache) to the one packed from the
// unpacked message (packForCache), which the cache made for every answer
// before: where the copy is taken, it must read as the same message, with
// the same TTLs at its TTL positions.
func FuzzWireForCacheMatchesPack(f *testing.F) {
	for _, m := range wireSeeds() {
		for _, compress := range []bool{false, true} {
			m.Compress = compress
			if pkt, err := m.Pack(); err == nil {
				f.Add(pkt)
			}
		}
	}
	// An owner name that points into the header, where the ID (3, 'x')
	// reads as a label, and a CNAME target that points at the OPT
	// record's root name.
	f.Add([]byte{3, 'x', 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1, 1, 'a', 0, 0, 1, 0, 1,
		0xc0, 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
		0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1, 1, 'a', 0, 0, 5, 0, 1,
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 33,
		0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		m := new(dns.Msg)
		if m.Unpack(pkt) != nil || len(m.Question) != 1 {
			return
		}
		stripOPT(m)
		if ttl, ok := cacheTTL(m); !ok || ttl <= 0 {
			return
		}
		wire, qlen, ttls := wireForCache(pkt)
		if wire == nil {
			return
		}
		q := m.Question[0]
		k := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass}
		want, wqlen, wttls := packForCache(k, m)
		if want == nil {
			t.Fatalf("the wire answer was copied, but the message does not pack: %v", m)
		}
		if !bytes.Equal(wire[:12], want[:12]) {
			t.Fatalf("header %x, packed %x", wire[:12], want[:12]) // ID, flags and section counts
		}
		if qlen != wqlen || !slices.EqualFunc(ttls, wttls, func(a, b ttlPos) bool { return a.ttl == b.ttl }) {
			t.Fatalf("question length %d, TTLs %v; packed: %d, %v", qlen, ttls, wqlen, wttls)
		}
		for _, tp := range ttls {
			if got := binary.BigEndian.Uint32(wire[tp.off:]); got != tp.ttl {
				t.Fatalf("TTL at %d reads %d, want %d", tp.off, got, tp.ttl)
			}
		}
		got, exp := new(dns.Msg), new(dns.Msg)
		if err := got.Unpack(wire); err != nil {
			t.Fatalf("the copied wire answer does not unpack: %v", err)
		}
		if err := exp.Unpack(want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(exp.String(), got.String()); diff != "" {
			t.Errorf("copied answer differs from the packed one (-packed +copied):\n%s", diff)
		}
	})
}

// wireSeeds returns answers of the kinds upstreams give: plain, with a
// CNAME chain, negative with a SOA record, with NS and glue, MX, TXT, with
// and without OPT, and with capitals in the question.
func wireSeeds() []*dns.Msg {
	var ms []*dns.Msg
	for _, name := range []string{"example.org.", "www.Example.COM.", "a.b.c.d.example."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeSRV} {
			q := new(dns.Msg)
			q.SetQuestion(name, qt)
			for kind := range 4 {
				m := new(dns.Msg)
				m.SetReply(q)
				hdr := func(n string, t uint16) dns.RR_Header {
					return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 300 + uint32(kind)}
				}
				switch kind {
				case 0:
					m.Rcode = dns.RcodeNameError
					m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("example.", dns.TypeSOA), Ns: "ns.example.", Mbox: "h.example.", Serial: 0xc0ffee, Minttl: 60}}
				case 1:
					m.Answer = []dns.RR{&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: "edge.cdn.example."},
						&dns.A{Hdr: hdr("edge.cdn.example.", dns.TypeA), A: net.IPv4(192, 0, 2, 1)}}
				case 2:
					switch qt {
					case dns.TypeMX:
						m.Answer = []dns.RR{&dns.MX{Hdr: hdr(name, qt), Preference: 10, Mx: "mail." + name}}
					case dns.TypeTXT:
						m.Answer = []dns.RR{&dns.TXT{Hdr: hdr(name, qt), Txt: []string{"v=spf1 -all"}}}
					case dns.TypeSRV:
						m.Answer = []dns.RR{&dns.SRV{Hdr: hdr(name, qt), Port: 443, Target: "srv." + name}}
					case dns.TypeAAAA:
						m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr(name, qt), AAAA: net.ParseIP("2001:db8::1")}}
					default:
						m.Answer = []dns.RR{&dns.A{Hdr: hdr(name, dns.TypeA), A: net.IPv4(198, 51, 100, 7)}}
					}
				case 3:
					m.Ns = []dns.RR{&dns.NS{Hdr: hdr("example.", dns.TypeNS), Ns: "ns1.example."}}
					m.Extra = []dns.RR{&dns.A{Hdr: hdr("ns1.example.", dns.TypeA), A: net.IPv4(198, 51, 100, 1)},
						&dns.AAAA{Hdr: hdr("ns1.example.", dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::53")}}
				}
				ms = append(ms, m)
				withOPT := m.Copy()
				withOPT.SetEdns0(1232, kind == 1)
				ms = append(ms, withOPT)
			}
		}
	}
	return ms
}

// TestPutWireCopiesTheAnswer checks that the cache keeps an upstream's
// answer as received, not packed again, where it may: the entry's wire
// form is the answer's but for the ID and OPT record.
func TestPutWireCopiesTheAnswer(t *testing.T) {
	c := newCache(1 << 20)
	k := cacheKey{name: "www.example.org.", qtype: dns.TypeA, qclass: dns.ClassINET}
	q := new(dns.Msg)
	q.SetQuestion(k.name, k.qtype)
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: k.name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
	m.SetEdns0(1232, false)
	pkt, err := m.Pack() // not compressed: packing again would compress the owner name
	if err != nil {
		t.Fatal(err)
	}
	stripOPT(m)
	e := c.putWire(k, m, pkt, t0)
	if e == nil {
		t.Fatal("answer not kept")
	}
	want := append([]byte{0, 0}, pkt[2:len(pkt)-11]...)
	want[11] = 0 // ARCOUNT: the OPT record is not kept
	if !bytes.Equal(e.wire, want) {
		t.Errorf("entry's wire form\n%x\nwant the answer's\n%x", e.wire, want)
	}
	if got := e.msg(t0); got == nil || len(got.Answer) != 1 || got.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("entry reads %v, want the A record", got)
	}
}
