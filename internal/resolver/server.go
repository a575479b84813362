package resolver

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/curfew/curfew/internal/identify"
	"github.com/miekg/dns"
)

const (
	// maxUDPQuery is the largest UDP query read; a longer one is cut and
	// answered FORMERR.
	maxUDPQuery = 4096
	// tcpIdle is how long a TCP connection may stay silent.
	tcpIdle = 10 * time.Second
)

// listen opens the UDP socket and TCP listener for ap and queues their
// servers for Start. Called with r.mu held.
func (r *Resolver) listen(ctx context.Context, ap netip.AddrPort) error {
	lc := net.ListenConfig{Control: socketOptions}
	var err error
	// With port 0, the free UDP port may be taken for TCP: try a few.
	for range 5 {
		var pc net.PacketConn
		pc, err = lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return fmt.Errorf("listening on udp %s: %w", ap, err)
		}
		udp := pc.(*net.UDPConn)
		bound := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		bound = netip.AddrPortFrom(ap.Addr(), bound.Port())
		var ln net.Listener
		ln, err = lc.Listen(ctx, "tcp", bound.String())
		if err != nil {
			_ = udp.Close()
			if ap.Port() == 0 {
				continue
			}
			return fmt.Errorf("listening on tcp %s: %w", ap, err)
		}
		s := &dns.Server{
			Listener:      ln,
			Handler:       dns.HandlerFunc(r.serveTCP),
			ReadTimeout:   tcpIdle,
			WriteTimeout:  tcpIdle,
			IdleTimeout:   func() time.Duration { return tcpIdle },
			MsgAcceptFunc: acceptAll,
		}
		started := make(chan struct{})
		failed := make(chan error, 1)
		s.NotifyStartedFunc = func() { close(started) }
		r.udp = append(r.udp, udp)
		for range udpSockets() - 1 {
			pc, err := lc.ListenPacket(ctx, "udp", bound.String())
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("listening on udp %s: %w", bound, err)
			}
			r.udp = append(r.udp, pc.(*net.UDPConn))
		}
		go func() { failed <- s.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			return fmt.Errorf("serving tcp %s: %w", bound, err)
		}
		r.wg.Go(func() { <-failed })
		r.tcp = append(r.tcp, s)
		r.addrs = append(r.addrs, bound)
		return nil
	}
	return fmt.Errorf("listening on tcp %s: %w", ap, err)
}

// acceptAll leaves every message to the resolver, which answers malformed
// ones itself.
func acceptAll(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }

// serveUDP reads queries from c in batches (see readBatches) until it is
// closed. The fast path answers on this goroutine; its cache misses go to
// the forwarder, which answers each when the upstream does, with no
// goroutine waiting; the answers and the queries to upstreams that a batch
// makes leave together after it (see outbox). Anything else is answered on
// its own goroutine, so a slow upstream holds up only its own queries.
func (r *Resolver) serveUDP(c *net.UDPConn) {
	o := new(outbox)
	out := make([]byte, 0, 2*ednsSize)
	var seen seenFilter
	_ = readBatches(c, maxUDPQuery, func(pkt []byte, from netip.AddrPort, cut bool) {
		client := from.Addr().Unmap().WithZone("")
		who := r.ident.Identify(client)
		if who.Kind == identify.Foreign {
			r.metrics.Query(ResultDropped)
			return
		}
		if who.Kind == identify.Known && r.cfg.Seen != nil && seen.first(client) {
			r.cfg.Seen(who)
		}
		if !cut {
			var q wireQuery
			ans, res := r.fast(pkt, who, out[:0], &q)
			switch res {
			case fastAnswered:
				o.send(datagram{conn: c, to: from, pkt: o.keep(ans)})
				out = ans[:0] // keep the room it grew to
				return
			case fastMiss:
				r.forwardUDP(c, from, pkt, &q, who, o)
				return
			}
		}
		// The chain, which answers FORMERR to what does not unpack, also
		// takes a query cut to maxUDPQuery.
		pkt = append([]byte(nil), pkt...)
		r.wg.Go(func() {
			if ans := r.handleSlow(pkt, who, false); ans != nil {
				_, _ = c.WriteToUDPAddrPort(ans, from)
			}
		})
	}, func() {
		o.flush()
		seen.tick(time.Now())
	}, func(error) bool { return r.ctx.Err() != nil })
}

// seenEvery is how often the resolver tells Config.Seen of each client at
// most, and maxSeen how many clients it remembers telling of in one such
// span on one socket; past that, it tells of none more until the span
// ends. Only clients with a MAC in the neighbour table are told of, so a
// flood from made-up addresses does not reach it.
const (
	seenEvery = time.Second
	maxSeen   = 4096
)

// A seenFilter remembers the clients told of since the span began. It is
// used by one goroutine.
type seenFilter struct {
	since time.Time
	told  map[netip.Addr]struct{}
}

// first reports whether a is to be told of: the first time in the span.
func (f *seenFilter) first(a netip.Addr) bool {
	if f.told == nil {
		f.told = map[netip.Addr]struct{}{}
	}
	if _, ok := f.told[a]; ok || len(f.told) >= maxSeen {
		return false
	}
	f.told[a] = struct{}{}
	return true
}

// tick starts a new span if the last began seenEvery before now.
func (f *seenFilter) tick(now time.Time) {
	if f.since.IsZero() {
		f.since = now // the first span
	} else if now.Sub(f.since) >= seenEvery {
		clear(f.told)
		f.since = now
	}
}

// serveTCP answers one query that came over TCP.
func (r *Resolver) serveTCP(w dns.ResponseWriter, req *dns.Msg) {
	var client netip.Addr
	if a, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		client = a.AddrPort().Addr()
	}
	c, ok := r.place(r.ctx, r.ident.Identify(client.Unmap()), true)
	if !ok {
		r.metrics.Query(ResultDropped)
		_ = w.Close()
		return
	}
	if c.Kind == identify.Known && r.cfg.Seen != nil {
		r.cfg.Seen(c) // a TCP query costs more than this
	}
	resp := r.serve(r.ctx, req, c, true)
	if resp == nil {
		_ = w.Close()
		return
	}
	_ = w.WriteMsg(resp)
}

// Handle answers one query in wire form from client, as the server does for
// every UDP packet (tcp false) or TCP message, and returns the answer in
// wire form, or nil if the packet deserves no answer. It exists for
// fuzzing the message path and for tests.
func (r *Resolver) Handle(pkt []byte, client netip.Addr, tcp bool) []byte {
	who := r.ident.Identify(client)
	if !tcp {
		if out, ok := r.serveFast(pkt, who, nil); ok {
			return out
		}
	}
	return r.handleSlow(pkt, who, tcp)
}

// handleSlow answers pkt through the handler chain, once its client is
// placed (see place).
func (r *Resolver) handleSlow(pkt []byte, who identify.Client, tcp bool) []byte {
	return r.handleSlowWith(pkt, who, tcp, nil)
}

// handleSlowWith is handleSlow with the upstreams' answer, if up is not
// nil, known already.
func (r *Resolver) handleSlowWith(pkt []byte, who identify.Client, tcp bool, up *upstreamAnswer) []byte {
	c, ok := r.place(r.ctx, who, tcp)
	if !ok {
		r.metrics.Query(ResultDropped)
		return nil
	}
	req := new(dns.Msg)
	var resp *dns.Msg
	if err := req.Unpack(pkt); err != nil {
		resp = formatError(pkt)
	} else {
		resp = r.serveWith(r.ctx, req, c, tcp, up)
	}
	if resp == nil {
		return nil
	}
	out, err := resp.Pack()
	if err != nil {
		r.logger.Debug("packing answer", "err", err)
		return nil
	}
	return out
}

// formatError returns the FORMERR answer to a query that could not be
// parsed, or nil if not even its header could: then the sender, which may
// not be who it claims, gets nothing. Like every answer it copies RD and
// CD, echoes the question if that much could be read, and carries an OPT
// record if the query had one, even a malformed one (RFC 6891 section 7).
func formatError(pkt []byte) *dns.Msg {
	if len(pkt) < 12 || pkt[2]&0x80 != 0 { // too short, or a response
		return nil
	}
	m := new(dns.Msg)
	m.Id = binary.BigEndian.Uint16(pkt)
	m.Response = true
	m.Opcode = int(pkt[2]>>3) & 0xf
	m.RecursionDesired = pkt[2]&0x01 != 0
	m.RecursionAvailable = true
	m.CheckingDisabled = pkt[3]&0x10 != 0
	m.Rcode = dns.RcodeFormatError
	off := 12
	qd := int(binary.BigEndian.Uint16(pkt[4:]))
	for i := 0; i < qd; i++ {
		name, end, err := dns.UnpackDomainName(pkt, off)
		if err != nil || end+4 > len(pkt) {
			return m // nothing after this can be read
		}
		if qd == 1 {
			m.Question = []dns.Question{{Name: name, Qtype: binary.BigEndian.Uint16(pkt[end:]), Qclass: binary.BigEndian.Uint16(pkt[end+2:])}}
		}
		off = end + 4
	}
	rrs := int(binary.BigEndian.Uint16(pkt[6:])) + int(binary.BigEndian.Uint16(pkt[8:])) + int(binary.BigEndian.Uint16(pkt[10:]))
	for range rrs {
		_, end, err := dns.UnpackDomainName(pkt, off)
		if err != nil || end+10 > len(pkt) {
			break
		}
		if binary.BigEndian.Uint16(pkt[end:]) == dns.TypeOPT {
			m.Extra = []dns.RR{newOPT(false, nil)}
			break
		}
		off = end + 10 + int(binary.BigEndian.Uint16(pkt[end+8:]))
	}
	return m
}
