package resolver

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
	"github.com/miekg/dns"
)

const (
	// noticeTTL is the TTL of every answer the resolver makes up, short so
	// that a lifted restriction is noticed by clients within seconds.
	noticeTTL = 10
	// minAllowedTTL is the least time OnAllowed opens a destination for,
	// so a connection made at once on an answer about to expire still
	// passes.
	minAllowedTTL = 30 * time.Second
	// canaryName is Firefox's canary domain (see the package doc).
	canaryName = "use-application-dns.net."
)

// A handler answers a request or hands it to the next handler of the
// chain, in the manner of a CoreDNS plugin. An error means no answer could
// be found; the chain's caller answers SERVFAIL and logs it once.
type handler interface {
	serveDNS(ctx context.Context, q *request) (*dns.Msg, error)
}

// A request is one valid query on its way down the chain.
type request struct {
	msg    *dns.Msg // as received; read-only
	client netip.Addr
	tcp    bool
	now    time.Time

	name   string // the question's name, lower case, fully qualified
	qtype  uint16
	qclass uint16
	do     bool // DNSSEC records wanted

	rules []*rule // the client's restrictions
	buf   [maxRules]*rule

	// upstream, if not nil, is what the upstreams answered already: the
	// forward handler takes it instead of asking.
	upstream *upstreamAnswer

	// Set by the handler that answers.
	result Result
	ede    *dns.EDNS0_EDE
}

// An upstreamAnswer is the forwarder's answer to a question, or its error.
type upstreamAnswer struct {
	m   *dns.Msg
	err error
}

func (q *request) key() cacheKey {
	return cacheKey{name: q.name, qtype: q.qtype, qclass: q.qclass, do: q.do, cd: q.msg.CheckingDisabled}
}

// synthesize returns a made-up answer: for A and AAAA the given address if
// valid, otherwise no records.
func (q *request) synthesize(rcode int, a4, a6 netip.Addr) *dns.Msg {
	m := new(dns.Msg)
	m.Rcode = rcode
	hdr := dns.RR_Header{Name: q.msg.Question[0].Name, Class: dns.ClassINET, Ttl: noticeTTL}
	switch {
	case q.qtype == dns.TypeA && a4.IsValid():
		hdr.Rrtype = dns.TypeA
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: a4.AsSlice()}}
	case q.qtype == dns.TypeAAAA && a6.IsValid():
		hdr.Rrtype = dns.TypeAAAA
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: a6.AsSlice()}}
	}
	return m
}

func (r *Resolver) newChain() handler {
	var h handler = &forward{r: r}
	h = &cached{r: r, next: h}
	h = &blocklist{r: r, next: h}
	h = &restrict{r: r, next: h}
	return &canary{next: h}
}

// serve answers req from client and returns the answer ready to send, or
// nil if req deserves none.
func (r *Resolver) serve(ctx context.Context, req *dns.Msg, c identify.Client, tcp bool) *dns.Msg {
	return r.serveWith(ctx, req, c, tcp, nil)
}

// serveWith is serve with the upstreams' answer, if up is not nil,
// known already.
func (r *Resolver) serveWith(ctx context.Context, req *dns.Msg, c identify.Client, tcp bool, up *upstreamAnswer) *dns.Msg {
	client := c.Addr
	if req.Response {
		return nil
	}
	start := time.Now()
	q := &request{msg: req, client: client, tcp: tcp, now: r.now(), result: ResultInvalid, upstream: up}
	opt := req.IsEdns0()
	var resp *dns.Msg
	switch {
	case !validEDNS(req):
		resp = rcodeMsg(dns.RcodeFormatError)
	case req.Opcode != dns.OpcodeQuery:
		resp = rcodeMsg(dns.RcodeNotImplemented)
	case len(req.Question) != 1:
		resp = rcodeMsg(dns.RcodeFormatError)
	case opt != nil && opt.Version() != 0:
		resp = rcodeMsg(dns.RcodeBadVers)
	case req.Question[0].Qclass != dns.ClassINET,
		req.Question[0].Qtype == dns.TypeAXFR, req.Question[0].Qtype == dns.TypeIXFR:
		resp = rcodeMsg(dns.RcodeRefused)
	default:
		qn := req.Question[0]
		q.name, q.qtype, q.qclass = strings.ToLower(qn.Name), qn.Qtype, qn.Qclass
		q.do = opt != nil && opt.Do()
		q.rules = r.rulesFor(c, q.now, q.buf[:0])
		var err error
		resp, err = r.chain.serveDNS(ctx, q)
		if err != nil {
			r.logger.DebugContext(ctx, "answering servfail", "client", client, "name", qn.Name, "err", err)
			resp, q.result, q.ede = rcodeMsg(dns.RcodeServerFailure), ResultFailed, nil
		}
	}
	r.finish(q, resp, opt)
	r.metrics.Query(q.result)
	r.qlog.add(q, resp.Rcode, time.Since(start))
	if r.logger.Enabled(ctx, slog.LevelDebug) && len(req.Question) > 0 {
		r.logger.DebugContext(ctx, "query", "client", client, "name", req.Question[0].Name,
			"type", dns.TypeToString[req.Question[0].Qtype], "result", q.result, "rcode", dns.RcodeToString[resp.Rcode])
	}
	return resp
}

// validEDNS reports whether req has at most one OPT record (RFC 6891
// section 6.1.1), owned by the root, whose options are well formed: the
// unpacking checked their lengths and most contents, and a cookie must
// be a client cookie of 8 bytes, alone or with a server cookie of 8 to 32
// (RFC 7873 section 5.2.2). A query that fails is answered FORMERR.
func validEDNS(req *dns.Msg) bool {
	n := 0
	for _, rr := range req.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if n++; n > 1 || opt.Hdr.Name != "." {
			return false
		}
		for _, o := range opt.Option {
			if c, ok := o.(*dns.EDNS0_COOKIE); ok && !validCookieLen(len(c.Cookie)/2) {
				return false
			}
		}
	}
	return true
}

func validCookieLen(n int) bool { return n == 8 || 16 <= n && n <= 40 }

// newOPT returns the OPT record of an answer, offering ednsSize.
func newOPT(do bool, ede *dns.EDNS0_EDE) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(ednsSize)
	if do {
		o.SetDo()
	}
	if ede != nil {
		o.Option = append(o.Option, ede)
	}
	return o
}

func rcodeMsg(rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Rcode = rcode
	return m
}

// finish makes resp an answer to q: header bits, question, EDNS0 with the
// Extended DNS Error, and truncation to what the client can receive. opt
// is the query's OPT record, or nil if it had none.
func (r *Resolver) finish(q *request, resp *dns.Msg, opt *dns.OPT) {
	req := q.msg
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.Authoritative = false
	if resp.Rcode == dns.RcodeNotImplemented {
		// An opcode this resolver does not know: nothing about recursion
		// or DNSSEC can be said of it.
		resp.RecursionAvailable, resp.CheckingDisabled, resp.AuthenticatedData = false, false, false
	} else {
		resp.RecursionAvailable = true
		resp.CheckingDisabled = req.CheckingDisabled
		if !q.do && !req.AuthenticatedData {
			resp.AuthenticatedData = false
		}
	}
	if len(req.Question) == 1 {
		resp.Question = req.Question
	} else {
		resp.Question = nil
	}
	size := dns.MaxMsgSize
	if opt != nil {
		resp.Extra = append(resp.Extra, newOPT(q.do, q.ede))
	}
	if !q.tcp {
		size = dns.MinMsgSize
		if opt != nil {
			size = max(dns.MinMsgSize, min(int(opt.UDPSize()), ednsSize))
		}
	}
	truncate(resp, size)
}

// truncate makes m, whose OPT record if any is the last in Extra, fit in
// size bytes, compressed. It drops additional records first, without
// setting TC: they are extra information, and RFC 2181 section 9 says TC
// is for answers whose answer or authority section did not fit. Only when
// those do not fit are they cut too, and TC set.
func truncate(m *dns.Msg, size int) {
	m.Compress = true
	if m.Len() <= size {
		return
	}
	var opt dns.RR
	if n := len(m.Extra); n > 0 && m.Extra[n-1].Header().Rrtype == dns.TypeOPT {
		opt = m.Extra[n-1]
		m.Extra = m.Extra[:n-1]
	}
	extra := m.Extra
	for n := len(extra) - 1; n >= 0; n-- {
		m.Extra = append(extra[:n:n], opt)
		if opt == nil {
			m.Extra = extra[:n]
		}
		if m.Len() <= size {
			return
		}
	}
	m.Extra = nil
	if opt != nil {
		m.Extra = []dns.RR{opt}
	}
	m.Truncate(size)
	m.Compress = true
}

// canary answers NXDOMAIN for Firefox's canary domain.
type canary struct{ next handler }

func (h *canary) serveDNS(ctx context.Context, q *request) (*dns.Msg, error) {
	if q.name != canaryName {
		return h.next.serveDNS(ctx, q)
	}
	text := "curfew: this network resolves names itself; use its resolver, not DNS over HTTPS"
	if len(q.rules) > 0 {
		text = strictest(q.rules).text
	}
	q.result = ResultCanary
	q.ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: text}
	return q.synthesize(dns.RcodeNameError, netip.Addr{}, netip.Addr{}), nil
}

// restrict applies the client's own restrictions.
type restrict struct {
	r    *Resolver
	next handler
}

func (h *restrict) serveDNS(ctx context.Context, q *request) (*dns.Msg, error) {
	if len(q.rules) == 0 {
		return h.next.serveDNS(ctx, q)
	}
	v := judge(q.rules, []byte(q.name))
	if v.refuse != nil {
		code := dns.ExtendedErrorCodeProhibited // refused because of who the client is
		if v.refuse.Reach == curfew.ReachBlocklist {
			code = dns.ExtendedErrorCodeBlocked // refused because of the name
		}
		q.result = ResultRestricted
		q.ede = &dns.EDNS0_EDE{InfoCode: code, ExtraText: v.refuse.text}
		m := q.synthesize(dns.RcodeSuccess, h.r.cfg.NoticeAddr4, h.r.cfg.NoticeAddr6)
		for _, rr := range m.Answer {
			rr.Header().Ttl = v.refuse.ttl
		}
		return m, nil
	}
	resp, err := h.next.serveDNS(ctx, q)
	if err != nil || v.allowlist == nil || h.r.cfg.OnAllowed == nil {
		return resp, err
	}
	for _, rr := range resp.Answer {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		default:
			continue
		}
		if a.IsValid() && !a.IsUnspecified() { // not a blocklist's null answer
			ttl := max(time.Duration(rr.Header().Ttl)*time.Second, minAllowedTTL)
			h.r.cfg.OnAllowed(v.allowlist.mac, a, ttl)
		}
	}
	return resp, nil
}

// blocklist applies the network-wide blocklists.
type blocklist struct {
	r    *Resolver
	next handler
}

func (h *blocklist) serveDNS(ctx context.Context, q *request) (*dns.Msg, error) {
	listed, ok := h.r.blocklist.Load().match(q.name)
	if !ok {
		return h.next.serveDNS(ctx, q)
	}
	q.result = ResultBlocked
	q.ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked,
		ExtraText: "curfew: " + listed + " is on this network's blocklist"}
	return q.synthesize(dns.RcodeSuccess, netip.IPv4Unspecified(), netip.IPv6Unspecified()), nil
}

// cached answers from the cache.
type cached struct {
	r    *Resolver
	next handler
}

func (h *cached) serveDNS(ctx context.Context, q *request) (*dns.Msg, error) {
	if m := h.r.cache.get(q.key(), q.now); m != nil {
		q.result = ResultCached
		return m, nil
	}
	return h.next.serveDNS(ctx, q)
}

// forward asks the upstreams, once for all identical questions in flight;
// the forwarder caches the answer. It ends the chain.
type forward struct {
	r *Resolver
}

func (h *forward) serveDNS(ctx context.Context, q *request) (*dns.Msg, error) {
	k := q.key()
	var m *dns.Msg
	var err error
	if q.upstream != nil {
		m, err = q.upstream.m, q.upstream.err
	} else {
		m, err = h.r.fwd.exchange(ctx, k)
	}
	if err != nil || m.Rcode == dns.RcodeServerFailure {
		// RFC 8767: better an answer that expired than none, when the
		// upstreams are unreachable or cannot resolve the name.
		if m := h.r.cache.getStale(k, q.now); m != nil {
			q.result = ResultStale
			q.ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer,
				ExtraText: "curfew: no upstream resolver answered; this answer expired"}
			return m, nil
		}
		if err != nil {
			return nil, err
		}
	}
	q.result = ResultForwarded
	return m.Copy(), nil
}
