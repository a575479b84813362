package resolver

import (
	"net"
	"net/netip"
)

// An outbox collects the datagrams that one goroutine sends while it
// handles a batch of datagrams it has read (queries from clients, answers
// from upstreams), and sends them when the batch is done, in one sendmmsg
// per socket where the platform has it. A nil *outbox sends each datagram
// at once: goroutines that handle one thing at a time (a timeout, a TCP
// exchange) use it.
//
// An outbox is used by one goroutine.
type outbox struct {
	queue []datagram
	buf   []byte // the queued datagrams that keep copied, back to back
	sys   sender
}

// A datagram is one datagram to send: to an address on a listening
// socket, or on a socket connected to an upstream (to invalid).
type datagram struct {
	conn *net.UDPConn
	to   netip.AddrPort
	pkt  []byte

	// For a query to an upstream: the socket's pending query, failed if
	// the kernel refuses the datagram.
	up *upSocket
	id uint16
	p  *pendingQuery
}

// send sends d, now if o is nil, else when o is flushed; d.pkt must then
// stay unchanged until the flush.
func (o *outbox) send(d datagram) {
	if o == nil {
		d.sendNow()
		return
	}
	o.queue = append(o.queue, d)
}

// keep returns a copy of pkt that stays unchanged until the flush, in o's
// reused buffer; with a nil o, pkt itself.
func (o *outbox) keep(pkt []byte) []byte {
	if o == nil {
		return pkt
	}
	start := len(o.buf)
	o.buf = append(o.buf, pkt...)
	// A reallocated buf leaves the datagrams queued so far in the old
	// array, which they keep alive until the flush.
	return o.buf[start:len(o.buf):len(o.buf)]
}

// flush sends the queued datagrams, grouped by socket, and empties o.
// Queries whose datagrams the kernel refused fail; answers to clients that
// it refused are dropped, as a lost datagram would be.
func (o *outbox) flush() {
	if o == nil {
		return
	}
	q := o.queue
	for len(q) > 0 {
		// Move the datagrams on the first one's socket to the front
		// and send them together. (UDP keeps no order anyway.)
		c := q[0].conn
		n := 1
		for i := 1; i < len(q); i++ {
			if q[i].conn == c {
				q[n], q[i] = q[i], q[n]
				n++
			}
		}
		o.sys.send(q[:n])
		q = q[n:]
	}
	clear(o.queue) // the packets and queries, for the collector
	o.queue = o.queue[:0]
	o.buf = o.buf[:0]
}

// sendNow sends d in one system call.
func (d *datagram) sendNow() {
	var err error
	if d.to.IsValid() {
		_, err = d.conn.WriteToUDPAddrPort(d.pkt, d.to)
	} else {
		_, err = d.conn.Write(d.pkt)
	}
	if err != nil {
		d.failed(err)
	}
}

// failed tells the query d carries, if it does, that it was not sent.
func (d *datagram) failed(err error) {
	if d.p != nil && d.up.take(d.id, d.p) {
		d.p.done(nil, nil, err, nil)
	}
}
