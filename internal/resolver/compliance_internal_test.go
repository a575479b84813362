package resolver

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// A wireCase is a query built byte by byte, for what a dns.Msg cannot
// express: malformed options, two OPT records.
type wireCase struct {
	name    string
	qtype   uint16
	opcode  int
	rd, cd  bool
	opts    [][]byte // each an OPT record's RDATA; nil for none
	optName byte     // first byte of the OPT owner name: 0 is the root
}

func (c wireCase) pack() []byte {
	m := new(dns.Msg)
	m.Id = 0x1234
	m.Opcode = c.opcode
	m.RecursionDesired, m.CheckingDisabled = c.rd, c.cd
	m.Question = []dns.Question{{Name: c.name, Qtype: c.qtype, Qclass: dns.ClassINET}}
	pkt, err := m.Pack()
	if err != nil {
		panic(err)
	}
	for _, rdata := range c.opts {
		if c.optName != 0 {
			pkt = append(pkt, 1, c.optName, 0)
		} else {
			pkt = append(pkt, 0)
		}
		pkt = binary.BigEndian.AppendUint16(pkt, dns.TypeOPT)
		pkt = append(pkt, 0x04, 0xd0, 0, 0, 0, 0) // 1232 bytes, version 0
		pkt = binary.BigEndian.AppendUint16(pkt, uint16(len(rdata)))
		pkt = append(pkt, rdata...)
	}
	binary.BigEndian.PutUint16(pkt[10:], uint16(len(c.opts)))
	return pkt
}

func option(code uint16, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestCompliance holds the resolver to RFC 6891 (EDNS) and RFC 2181
// section 9 (truncation) on queries a dns.Msg would never send, through
// both the fast path and the chain: each answer is checked as it comes
// from Handle (the fast path if it takes the query) and from the chain
// alone, and both must say the same.
func TestCompliance(t *testing.T) {
	r := fastPathResolver(t)
	client := netip.MustParseAddr("127.0.0.1")
	cookie := option(dns.EDNS0COOKIE, []byte("8bytes!!"))
	tests := []struct {
		q         wireCase
		rcode     int
		answers   int  // records in the answer section
		tc        bool // TC set
		opt       bool // an OPT record in the answer
		question  bool // the question echoed
		ra, cd    bool
		maxLength int
	}{
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{cookie}},
			rcode: dns.RcodeSuccess, answers: 2, opt: true, question: true, ra: true},
		{q: wireCase{name: "ads.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{concat(cookie, option(dns.EDNS0PADDING, make([]byte, 20)))}},
			rcode: dns.RcodeSuccess, answers: 1, opt: true, question: true, ra: true},
		// RFC 6891 section 7: a malformed option is a malformed OPT
		// record; FORMERR, with an OPT record, RD copied and the question.
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{{0, 10, 0, 40, 1, 2}}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		{q: wireCase{name: "ads.example.", qtype: dns.TypeA, rd: true, cd: true, opts: [][]byte{{0, 12, 0}}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true, cd: true},
		{q: wireCase{name: "other.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{{0, 10, 0, 40, 1, 2}}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{option(dns.EDNS0COOKIE, []byte("short"))}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		{q: wireCase{name: "ads.example.", qtype: dns.TypeA, opts: [][]byte{option(dns.EDNS0SUBNET, []byte{0, 7, 24, 0, 10, 0, 0})}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, opts: [][]byte{nil}, optName: 'x'},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		// RFC 6891 section 6.1.1: two OPT records are FORMERR.
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, rd: true, opts: [][]byte{nil, nil}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		{q: wireCase{name: "ads.example.", qtype: dns.TypeA, opts: [][]byte{nil, cookie}},
			rcode: dns.RcodeFormatError, opt: true, question: true, ra: true},
		// An unknown opcode: NOTIMP, with nothing said about recursion or
		// checking.
		{q: wireCase{name: "cached.example.", qtype: dns.TypeA, opcode: 15, rd: true, cd: true},
			rcode: dns.RcodeNotImplemented, question: true},
		{q: wireCase{name: "ads.example.", qtype: dns.TypeA, opcode: 15, cd: true, opts: [][]byte{nil}},
			rcode: dns.RcodeNotImplemented, question: true, opt: true},
		// RFC 2181 section 9: dropping additional records to fit is no
		// truncation; dropping answers is.
		{q: wireCase{name: "glue.example.", qtype: dns.TypeNS, rd: true},
			rcode: dns.RcodeSuccess, answers: 1, question: true, ra: true, maxLength: dns.MinMsgSize},
		{q: wireCase{name: "big.example.", qtype: dns.TypeA, rd: true},
			rcode: dns.RcodeSuccess, answers: -1, tc: true, question: true, ra: true, maxLength: dns.MinMsgSize},
	}
	for _, tt := range tests {
		pkt := tt.q.pack()
		for _, path := range []string{"handle", "chain"} {
			var out []byte
			if path == "handle" {
				out = r.Handle(pkt, client, false)
			} else {
				out = r.handleSlow(pkt, r.ident.Identify(client), false)
			}
			var m dns.Msg
			if err := m.Unpack(out); err != nil {
				t.Errorf("%s: %x: answer does not unpack: %v", path, pkt, err)
				continue
			}
			opt := 0
			for _, rr := range m.Extra {
				if rr.Header().Rrtype == dns.TypeOPT {
					opt++
				}
			}
			answers := len(m.Answer)
			if tt.answers < 0 && answers > 0 {
				answers = -1 // some, not all
			}
			if m.Id != 0x1234 || m.Rcode != tt.rcode || answers != tt.answers || m.Truncated != tt.tc ||
				(opt == 1) != tt.opt || opt > 1 || (len(m.Question) == 1) != tt.question ||
				m.RecursionDesired != tt.q.rd || m.RecursionAvailable != tt.ra || m.CheckingDisabled != tt.cd {
				t.Errorf("%s: %s %s opcode %d options %x: answer\n%v\nwant rcode %s, %d answers, TC %v, OPT %v, question %v, RD %v, RA %v, CD %v",
					path, tt.q.name, dns.TypeToString[tt.q.qtype], tt.q.opcode, tt.q.opts, &m,
					dns.RcodeToString[tt.rcode], tt.answers, tt.tc, tt.opt, tt.question, tt.q.rd, tt.ra, tt.cd)
			}
			if tt.maxLength > 0 && len(out) > tt.maxLength {
				t.Errorf("%s: %s: answer of %d bytes, more than %d", path, tt.q.name, len(out), tt.maxLength)
			}
		}
	}
}

// TestAnswersAreCompressed checks that the chain compresses every answer,
// not only those it had to truncate.
func TestAnswersAreCompressed(t *testing.T) {
	r := fastPathResolver(t)
	m := new(dns.Msg)
	m.SetQuestion("Cached.Example.", dns.TypeA) // mixed case: the chain answers
	pkt, _ := m.Pack()
	out := r.handleSlow(pkt, r.ident.Identify(netip.MustParseAddr("127.0.0.1")), false)
	var a dns.Msg
	if err := a.Unpack(out); err != nil {
		t.Fatal(err)
	}
	a.Compress = false
	if n := a.Len(); len(out) >= n {
		t.Errorf("answer is %d bytes, uncompressed it would be %d: not compressed", len(out), n)
	}
}
