package resolver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
	"github.com/miekg/dns"
)

// The fast path answers the two commonest queries of a busy gateway, a
// name on a network-wide blocklist and a cached answer, straight from the
// query's bytes into a reused buffer, with no allocation and no goroutine.
// Anything else, including every query from a restricted client, goes down
// the handler chain (the slow path), which is the reference: the fast path
// must answer exactly as the chain would (FuzzFastPathMatchesChain).

// maxNameLen is the longest name in presentation form, with its final dot.
const maxNameLen = 254

// A wireQuery is a plain query parsed in place.
type wireQuery struct {
	id         uint16
	rd, ad, cd bool
	question   []byte // the question section as sent
	qtype      uint16
	qclass     uint16
	edns       bool
	udpSize    uint16
	do         bool
	upper      bool // the name has upper-case letters

	name    [maxNameLen]byte // lower case, presentation form, fully qualified
	nameLen int
}

func (q *wireQuery) lowerName() []byte { return q.name[:q.nameLen] }

// parse parses pkt into q if it is a plain query the fast path can answer:
// opcode QUERY, one question of class IN with a name of letters, digits,
// '-' and '_' and no compression, and nothing else but an OPT record of
// EDNS version 0. It reports false for anything else.
func (q *wireQuery) parse(pkt []byte) bool {
	if len(pkt) < 12 {
		return false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&0xfa00 != 0 { // QR, an opcode other than QUERY, or TC
		return false
	}
	if binary.BigEndian.Uint16(pkt[4:]) != 1 || binary.BigEndian.Uint16(pkt[6:]) != 0 ||
		binary.BigEndian.Uint16(pkt[8:]) != 0 || binary.BigEndian.Uint16(pkt[10:]) > 1 {
		return false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.rd, q.ad, q.cd = flags&0x0100 != 0, flags&0x0020 != 0, flags&0x0010 != 0
	off, n := 12, 0
	for {
		if off >= len(pkt) {
			return false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(pkt) || n+l+1 > maxNameLen {
			return false
		}
		for _, c := range pkt[off : off+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
				q.upper = true
			default:
				return false // escaped in presentation form: leave it to the chain
			}
			q.name[n] = c
			n++
		}
		q.name[n] = '.'
		n++
		off += l
	}
	if n == 0 || off+4 > len(pkt) {
		return false
	}
	q.nameLen = n
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	q.qclass = binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.question = pkt[12:off]
	if q.qclass != dns.ClassINET || q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR || q.qtype == dns.TypeOPT {
		return false
	}
	q.edns = binary.BigEndian.Uint16(pkt[10:]) == 1
	if q.edns {
		if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT || pkt[off+6] != 0 {
			return false
		}
		q.udpSize = binary.BigEndian.Uint16(pkt[off+3:])
		q.do = pkt[off+7]&0x80 != 0
		end := off + 11 + int(binary.BigEndian.Uint16(pkt[off+9:]))
		if end != len(pkt) || !plainOptions(pkt[off+11:end]) {
			return false
		}
		off = end
	}
	return off == len(pkt)
}

// plainOptions reports whether the EDNS options in b are well formed and
// change nothing in the answer: a valid cookie (which the resolver does
// not answer), padding or an NSID request. The chain judges every other
// option, and answers FORMERR to a malformed one (RFC 6891 section 7).
func plainOptions(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if 4+n > len(b) {
			return false
		}
		switch code {
		case dns.EDNS0COOKIE:
			if !validCookieLen(n) {
				return false
			}
		case dns.EDNS0PADDING, dns.EDNS0NSID:
		default:
			return false
		}
		b = b[4+n:]
	}
	return true
}

// maxSize returns the largest answer the client can receive over UDP.
func (q *wireQuery) maxSize() int {
	if !q.edns {
		return dns.MinMsgSize
	}
	return max(dns.MinMsgSize, min(int(q.udpSize), ednsSize))
}

// A fastResult says what the fast path did with a query.
type fastResult uint8

const (
	fastNo       fastResult = iota // the chain must answer it
	fastAnswered                   // answered
	fastMiss                       // a plain query from an unrestricted client for a name not cached: forward it
)

// serveFast answers pkt from c, appending the answer to out, if the fast
// path can; ok false leaves it to the chain. Clients that must be waited
// for, or not answered at all, are left to the chain too.
func (r *Resolver) serveFast(pkt []byte, c identify.Client, out []byte) (_ []byte, ok bool) {
	var q wireQuery
	out, res := r.fast(pkt, c, out, &q)
	return out, res == fastAnswered
}

// fast is serveFast, parsing pkt into q, and telling a cache miss that
// may be forwarded (see forwardUDP) from a query only the chain can take.
func (r *Resolver) fast(pkt []byte, c identify.Client, out []byte, q *wireQuery) ([]byte, fastResult) {
	if c.Kind == identify.Unknown || c.Kind == identify.Foreign {
		return out, fastNo
	}
	client := c.Addr
	if !q.parse(pkt) {
		return out, fastNo
	}
	name := q.lowerName()
	if string(name) == canaryName {
		return out, fastNo
	}
	now := r.now()
	start := len(out)
	var v verdict
	restricted := false
	if p := r.policy.Load(); !p.Empty() {
		var buf [maxRules]*rule
		rules, unplaced := p.Match(c, now, buf[:0])
		if unplaced {
			return out, fastNo
		}
		if restricted = len(rules) > 0; restricted {
			if v = judge(rules, name); v.refuse != nil {
				out = r.appendRefused(out, q, v.refuse)
				return r.fastDone(out, start, q, now, client, name, ResultRestricted)
			}
		}
	}
	result := ResultCached
	if listed, ok := r.blocklist.Load().matchBytes(name); ok {
		out = q.appendBlocked(out, listed)
		result = ResultBlocked
	} else if q.upper || !r.cacheHit(&out, q, now) {
		// Cached answers compress their names against the question's
		// lower-case spelling; the chain answers in that spelling and
		// echoes the client's only in the question. A miss goes to the
		// forwarder, but for a restricted client, whose answer the
		// chain checks and reports.
		if restricted {
			return out[:start], fastNo
		}
		return out[:start], fastMiss
	} else {
		if q.edns {
			out = appendOPT(out, start, q.do, 0, nil)
		}
		if len(out)-start <= q.maxSize() && v.allowlist != nil && r.cfg.OnAllowed != nil {
			r.reportAllowed(out[start:], v.allowlist)
		}
	}
	return r.fastDone(out, start, q, now, client, name, result)
}

// cacheHit appends to *out the cached answer to q, if there is one.
func (r *Resolver) cacheHit(out *[]byte, q *wireQuery, now time.Time) bool {
	var ok bool
	*out, ok = r.cache.getWire(*out, q, now)
	return ok
}

// fastDone counts and logs the answer at out[start:], or leaves it to the
// chain if it must be truncated.
func (r *Resolver) fastDone(out []byte, start int, q *wireQuery, now time.Time, client netip.Addr, name []byte, result Result) ([]byte, fastResult) {
	if len(out)-start > q.maxSize() {
		return out[:start], fastNo // the chain truncates
	}
	r.metrics.Query(result)
	r.qlog.addWire(now, client, name, q.qtype, result, int(out[start+3]&0xf), time.Duration(0))
	return out, fastAnswered
}

// reportAllowed calls OnAllowed for every A and AAAA record in the
// answer section of ans, a cached answer, as the restrict handler does.
func (r *Resolver) reportAllowed(ans []byte, allow *rule) {
	off, ok := skipName(ans, 12)
	if !ok {
		return
	}
	off += 4
	for range binary.BigEndian.Uint16(ans[6:]) {
		if off, ok = skipName(ans, off); !ok || off+10 > len(ans) {
			return
		}
		typ, ttl := binary.BigEndian.Uint16(ans[off:]), binary.BigEndian.Uint32(ans[off+4:])
		rdata := ans[off+10:]
		n := int(binary.BigEndian.Uint16(ans[off+8:]))
		if n > len(rdata) {
			return
		}
		var a netip.Addr
		switch {
		case typ == dns.TypeA && n == 4:
			a = netip.AddrFrom4([4]byte(rdata[:4]))
		case typ == dns.TypeAAAA && n == 16:
			a = netip.AddrFrom16([16]byte(rdata[:16]))
		}
		if a.IsValid() {
			r.cfg.OnAllowed(allow.mac, a, max(time.Duration(ttl)*time.Second, minAllowedTTL))
		}
		off += 10 + n
	}
}

// appendRefused appends the answer to q for a name the client's rule
// refuses, as the restrict handler makes it: the notice address for A and
// AAAA, if there is one, and an Extended DNS Error saying why.
func (r *Resolver) appendRefused(out []byte, q *wireQuery, rule *rule) []byte {
	start := len(out)
	var rdata []byte
	switch {
	case q.qtype == dns.TypeA && r.cfg.NoticeAddr4.IsValid():
		a := r.cfg.NoticeAddr4.As4()
		rdata = a[:]
	case q.qtype == dns.TypeAAAA && r.cfg.NoticeAddr6.IsValid():
		a := r.cfg.NoticeAddr6.As16()
		rdata = a[:]
	}
	out = q.appendHeader(out, len(rdata) > 0)
	if len(rdata) > 0 {
		out = append(out, 0xc0, 12)
		out = binary.BigEndian.AppendUint16(out, q.qtype)
		out = append(out, 0, 1)
		out = binary.BigEndian.AppendUint32(out, rule.ttl)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
	}
	if q.edns {
		code := dns.ExtendedErrorCodeProhibited // refused because of who the client is
		if rule.Reach == curfew.ReachBlocklist {
			code = dns.ExtendedErrorCodeBlocked // refused because of the name
		}
		out = appendOPTText(out, start, q.do, code, rule.text)
	}
	return out
}

// appendHeader appends the header and question of an answer to q with no
// record or one in the answer section.
func (q *wireQuery) appendHeader(out []byte, answer bool) []byte {
	flags := uint16(0x8080) // QR, RA
	if q.rd {
		flags |= 0x0100
	}
	if q.cd {
		flags |= 0x0010
	}
	var an byte
	if answer {
		an = 1
	}
	out = binary.BigEndian.AppendUint16(out, q.id)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = append(out, 0, 1, 0, an, 0, 0, 0, 0)
	return append(out, q.question...)
}

// forwardUDP asks the upstreams the question of pkt, a query from c over
// UDP that the fast path parsed into q and found no answer for, and sends
// the answer to from on conn from the goroutine that receives it: no
// goroutine waits for the upstream. The query to the upstream is queued in
// o, and so is the answer if it is known at once. The answer is built as
// the fast path builds a cached one when it can, and by the chain, with
// the upstreams' answer, otherwise.
func (r *Resolver) forwardUDP(conn *net.UDPConn, from netip.AddrPort, pkt []byte, q *wireQuery, c identify.Client, o *outbox) {
	k := cacheKey{name: string(q.lowerName()), qtype: q.qtype, qclass: q.qclass, do: q.do, cd: q.cd}
	pkt = append([]byte(nil), pkt...)
	start := time.Now()
	r.fwd.resolve(k, o, func(m *dns.Msg, e *cacheEntry, err error, o *outbox) {
		if out := r.answerForwarded(pkt, c, m, e, err, start, o); out != nil {
			o.send(datagram{conn: conn, to: from, pkt: out})
		}
	})
}

// answerForwarded returns the answer to pkt, from c over UDP, given the
// upstreams' answer m, kept in the cache as e (or not, if nil), or err.
// An answer built from the cache entry is kept in o until it is flushed.
func (r *Resolver) answerForwarded(pkt []byte, c identify.Client, m *dns.Msg, e *cacheEntry, err error, start time.Time, o *outbox) []byte {
	var q wireQuery
	if e != nil && q.parse(pkt) && !q.upper {
		now := r.now()
		var out []byte
		if o != nil {
			out = e.appendWire(o.buf[len(o.buf):], &q, now)
		} else {
			out = e.appendWire(make([]byte, 0, len(e.wire)+64), &q, now)
		}
		if q.edns {
			out = appendOPT(out, 0, q.do, 0, nil)
		}
		if len(out) <= q.maxSize() {
			r.metrics.Query(ResultForwarded)
			r.qlog.addWire(now, c.Addr, q.lowerName(), q.qtype, ResultForwarded, int(out[3]&0xf), time.Since(start))
			return o.keep(out)
		}
	}
	return r.handleSlowWith(pkt, c, false, &upstreamAnswer{m: m, err: err})
}

// appendBlocked appends the answer to q for a name on a network-wide
// blocklist, as the blocklist handler makes it.
func (q *wireQuery) appendBlocked(out []byte, listed []byte) []byte {
	start := len(out)
	out = q.appendHeader(out, q.qtype == dns.TypeA || q.qtype == dns.TypeAAAA)
	switch q.qtype {
	case dns.TypeA:
		out = append(out, 0xc0, 12, 0, byte(dns.TypeA), 0, 1, 0, 0, 0, noticeTTL, 0, 4, 0, 0, 0, 0)
	case dns.TypeAAAA:
		out = append(out, 0xc0, 12, 0, byte(dns.TypeAAAA), 0, 1, 0, 0, 0, noticeTTL, 0, 16)
		out = append(out, make([]byte, 16)...)
	}
	if q.edns {
		out = appendOPT(out, start, q.do, dns.ExtendedErrorCodeBlocked, listed)
	}
	return out
}

// Text around the listed name in the Extended DNS Error of a name on a
// network-wide blocklist.
const (
	blockedPrefix = "curfew: "
	blockedSuffix = " is on this network's blocklist"
)

// appendOPTText appends an OPT record to the message that starts at start
// in out, counts it in the header, and gives it an Extended DNS Error of
// code ede and text.
func appendOPTText(out []byte, start int, do bool, ede uint16, text string) []byte {
	binary.BigEndian.PutUint16(out[start+10:], binary.BigEndian.Uint16(out[start+10:])+1)
	var flags byte
	if do {
		flags = 0x80
	}
	out = append(out, 0, 0, byte(dns.TypeOPT), byte(ednsSize>>8), byte(ednsSize&0xff), 0, 0, flags, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(4+2+len(text))) // RDLENGTH
	out = binary.BigEndian.AppendUint16(out, dns.EDNS0EDE)
	out = binary.BigEndian.AppendUint16(out, uint16(2+len(text)))
	out = binary.BigEndian.AppendUint16(out, ede)
	return append(out, text...)
}

// appendOPT appends an OPT record to the message that starts at start in
// out and counts it in the header. With a non-empty listed, the record
// carries an Extended DNS Error of code ede saying listed is blocked.
func appendOPT(out []byte, start int, do bool, ede uint16, listed []byte) []byte {
	binary.BigEndian.PutUint16(out[start+10:], binary.BigEndian.Uint16(out[start+10:])+1)
	var flags byte
	if do {
		flags = 0x80
	}
	out = append(out, 0, 0, byte(dns.TypeOPT), byte(ednsSize>>8), byte(ednsSize&0xff), 0, 0, flags, 0)
	if len(listed) == 0 {
		return append(out, 0, 0)
	}
	textLen := len(blockedPrefix) + len(listed) + len(blockedSuffix)
	out = binary.BigEndian.AppendUint16(out, uint16(4+2+textLen)) // RDLENGTH
	out = binary.BigEndian.AppendUint16(out, dns.EDNS0EDE)
	out = binary.BigEndian.AppendUint16(out, uint16(2+textLen))
	out = binary.BigEndian.AppendUint16(out, ede)
	out = append(out, blockedPrefix...)
	out = append(out, listed...)
	return append(out, blockedSuffix...)
}
