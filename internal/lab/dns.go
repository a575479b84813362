package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The names of the upstream's DNS zone. Each name and every name under it
// answers the addresses zone gives it; other names answer NXDOMAIN.
const (
	NewsName   = "news.example.org"  // the upstream's first addresses
	OtherName  = "other.example.org" // the upstream's second addresses
	SocialName = "social.example"    // the upstream's second addresses
)

// DNSTTL is the TTL, in seconds, of every answer of the upstream's DNS
// server.
const DNSTTL = 60

// zone maps each name of the upstream's zone (fully qualified, lower case)
// to its IPv4 and IPv6 address.
var zone = map[string][2]netip.Addr{
	NewsName + ".":   {UpstreamV4, UpstreamV6},
	OtherName + ".":  {Upstream2V4, Upstream2V6},
	SocialName + ".": {Upstream2V4, Upstream2V6},
}

// A DNSQuery is one query the upstream's DNS server received.
type DNSQuery struct {
	From netip.Addr // the source address
	To   netip.Addr // the upstream address it was sent to
	Name string     // lower case, without the final dot
	Type string     // "A", "AAAA", …
	TCP  bool
}

// dnsLog records the queries the upstream's DNS server received.
type dnsLog struct {
	mu      sync.Mutex // guards queries
	queries []DNSQuery
}

// DNSQueries returns the queries the upstream's DNS server has received so
// far, oldest first.
func (l *Lab) DNSQueries() []DNSQuery {
	l.dnsLog.mu.Lock()
	defer l.dnsLog.mu.Unlock()
	return append([]DNSQuery(nil), l.dnsLog.queries...)
}

// startDNS serves the upstream's zone on port 53 (UDP and TCP) of every
// upstream address, from sockets created inside the upstream namespace.
func (l *Lab) startDNS() error {
	for _, a := range []netip.Addr{UpstreamV4, UpstreamV6, Upstream2V4, Upstream2V6} {
		addr := netip.AddrPortFrom(a, 53).String()
		var pc net.PacketConn
		err := l.Upstream.Do(func() error {
			var err error
			pc, err = net.ListenPacket("udp", addr)
			return err
		})
		if err != nil {
			return fmt.Errorf("listening for DNS in the upstream namespace: %w", err)
		}
		ln, err := l.Upstream.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			return fmt.Errorf("listening for DNS in the upstream namespace: %w", err)
		}
		h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { l.serveDNS(a, w, r) })
		for _, s := range []*dns.Server{
			{PacketConn: pc, Handler: h},
			{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second},
		} {
			// Shutdown fails on a server not yet started, so Close could
			// leave it running: wait until it is.
			started, failed := make(chan struct{}), make(chan error, 1)
			s.NotifyStartedFunc = func() { close(started) }
			go func() { failed <- s.ActivateAndServe() }() // returns when Close shuts s down
			select {
			case <-started:
			case err := <-failed:
				return fmt.Errorf("serving DNS in the upstream namespace: %w", err)
			}
			l.dns = append(l.dns, s)
		}
	}
	return nil
}

// serveDNS answers r, received on the upstream address to, from the zone
// and logs it.
func (l *Lab) serveDNS(to netip.Addr, w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	var from netip.Addr
	tcp := false
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		from = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		from, tcp = a.AddrPort().Addr().Unmap(), true
	}
	l.dnsLog.mu.Lock()
	l.dnsLog.queries = append(l.dnsLog.queries, DNSQuery{From: from, To: to, Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[q.Qtype], TCP: tcp})
	l.dnsLog.mu.Unlock()

	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = false
	addrs, ok := lookupZone(name)
	if !ok {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: DNSTTL}
	switch q.Qtype {
	case dns.TypeA:
		hdr.Rrtype = dns.TypeA
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: addrs[0].AsSlice()})
	case dns.TypeAAAA:
		hdr.Rrtype = dns.TypeAAAA
		m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: addrs[1].AsSlice()})
	}
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(1232, false)
	}
	w.WriteMsg(m)
}

// lookupZone returns the addresses of name (fully qualified, lower case):
// those of the longest zone name that is name or a parent of it.
func lookupZone(name string) ([2]netip.Addr, bool) {
	for n := name; n != ""; {
		if a, ok := zone[n]; ok {
			return a, true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[i+1:]
	}
	return [2]netip.Addr{}, false
}

// An EDE is an RFC 8914 Extended DNS Error of an answer.
type EDE struct {
	Code uint16 // such as 15 (Blocked), 17 (Filtered) or 18 (Prohibited)
	Text string
}

// A DNSAnswer is what a resolver answered to a Query.
type DNSAnswer struct {
	Rcode   string       // "NOERROR", "NXDOMAIN", …
	Addrs   []netip.Addr // the addresses of the answer section's A and AAAA records
	TTLs    []uint32     // the TTL of each of Addrs
	EDE     []EDE        // the Extended DNS Errors of the answer
	Elapsed time.Duration
}

// String describes a for a human, such as "NOERROR [10.50.0.1] EDE 18
// "curfew: …"".
func (a DNSAnswer) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v", a.Rcode, a.Addrs)
	for _, e := range a.EDE {
		fmt.Fprintf(&b, " EDE %d %q", e.Code, e.Text)
	}
	return b.String()
}

// Query asks the DNS server at server, over network ("udp" or "tcp"), for
// the records of type qtype ("A", "AAAA", …) of name, from a socket
// created inside n, with EDNS0, and waits at most timeout for the answer.
func (n *Netns) Query(ctx context.Context, network string, server netip.AddrPort, name, qtype string, timeout time.Duration) (DNSAnswer, error) {
	t, ok := dns.StringToType[strings.ToUpper(qtype)]
	if !ok {
		return DNSAnswer{}, fmt.Errorf("query %s %s: unknown type", name, qtype)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	m.SetEdns0(1232, false)
	start := time.Now()
	conn, err := n.Dial(ctx, network, server.String())
	if err != nil {
		return DNSAnswer{Elapsed: time.Since(start)}, fmt.Errorf("query %s %s @%s: %w", name, qtype, server, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	c := &dns.Client{Net: network, Timeout: timeout}
	resp, _, err := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: conn})
	a := DNSAnswer{Elapsed: time.Since(start)}
	if err != nil {
		return a, fmt.Errorf("query %s %s @%s over %s: %w", name, qtype, server, network, err)
	}
	if resp.Id != m.Id {
		return a, errors.New("query: answer with another id")
	}
	a.Rcode = dns.RcodeToString[resp.Rcode]
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			ad, _ := netip.AddrFromSlice(rr.A.To4())
			a.Addrs = append(a.Addrs, ad)
			a.TTLs = append(a.TTLs, rr.Hdr.Ttl)
		case *dns.AAAA:
			ad, _ := netip.AddrFromSlice(rr.AAAA.To16())
			a.Addrs = append(a.Addrs, ad)
			a.TTLs = append(a.TTLs, rr.Hdr.Ttl)
		}
	}
	if o := resp.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				a.EDE = append(a.EDE, EDE{Code: e.InfoCode, Text: e.ExtraText})
			}
		}
	}
	return a, nil
}
