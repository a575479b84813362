package resolver

import (
	"context"
	"encoding/binary"
	"errors"
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

// serveUDPSimple reads queries from c, one system call each, until it is
// closed. The fast path answers on this goroutine, and hands its cache
// misses to the forwarder, which answers them when the upstream does;
// anything else is answered on its own goroutine, so a slow upstream
// holds up only its own queries.
func (r *Resolver) serveUDPSimple(c *net.UDPConn) {
	buf := make([]byte, maxUDPQuery)
	out := make([]byte, 0, 2*ednsSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			continue
		}
		client := from.Addr().Unmap().WithZone("")
		who := r.ident.Identify(client)
		if who.Kind == identify.Foreign {
			r.metrics.Query(ResultDropped)
			continue
		}
		var q wireQuery
		ans, res := r.fast(buf[:n], who, out[:0], &q)
		switch res {
		case fastAnswered:
			_, _ = c.WriteToUDPAddrPort(ans, from)
			out = ans[:0]
			continue
		case fastMiss:
			r.forwardUDP(c, from, buf[:n], &q, who)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		r.wg.Go(func() {
			if out := r.handleSlow(pkt, who, false); out != nil {
				_, _ = c.WriteToUDPAddrPort(out, from)
			}
		})
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
