//go:build linux && (amd64 || arm64)

package resolver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/curfew/curfew/internal/identify"
)

// batchSize is how many datagrams one recvmmsg or sendmmsg call moves at
// most. Under load, a batch amortizes the system call and the runtime's
// entry into it over many queries; when idle, a call returns with one.
const batchSize = 32

// An mmsghdr is the kernel's struct mmsghdr.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// A batchConn reads and writes datagrams in batches on a UDP socket. It is
// used by one goroutine.
type batchConn struct {
	rc    syscall.RawConn
	rmsgs [batchSize]mmsghdr
	riovs [batchSize]syscall.Iovec
	names [batchSize]syscall.RawSockaddrInet6
	bufs  [batchSize][maxUDPQuery]byte

	wmsgs [batchSize]mmsghdr
	wiovs [batchSize]syscall.Iovec
	nw    int
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchConn{rc: rc}
	for i := range b.rmsgs {
		b.riovs[i].Base = &b.bufs[i][0]
		b.rmsgs[i].hdr.Iov = &b.riovs[i]
		b.rmsgs[i].hdr.Iovlen = 1
		b.rmsgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b, nil
}

// read waits for datagrams and returns how many it read; packet and from
// then give each.
func (b *batchConn) read() (int, error) {
	for i := range b.rmsgs {
		b.riovs[i].SetLen(maxUDPQuery)
		b.rmsgs[i].hdr.Namelen = syscall.SizeofSockaddrInet6
		b.rmsgs[i].hdr.Flags = 0
	}
	var n int
	var operr error
	err := b.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.Syscall6(sysRecvmmsg, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), batchSize, syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			n = int(r)
		case syscall.EAGAIN, syscall.EINTR:
			return false // wait until readable
		default:
			operr = e
		}
		return true
	})
	if err == nil {
		err = operr
	}
	return n, err
}

// packet returns the i-th datagram read.
func (b *batchConn) packet(i int) []byte { return b.bufs[i][:b.rmsgs[i].n] }

// from returns the sender of the i-th datagram read.
func (b *batchConn) from(i int) netip.AddrPort {
	sa := &b.names[i]
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case syscall.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			// A link-local client: its answer must leave by the
			// interface it came in on. The net package takes a numeric
			// zone as an interface index.
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

// queue queues out as the answer to the i-th datagram read; out must stay
// unchanged until flush.
func (b *batchConn) queue(i int, out []byte) {
	w := &b.wmsgs[b.nw]
	b.wiovs[b.nw].Base = &out[0]
	b.wiovs[b.nw].SetLen(len(out))
	w.hdr = syscall.Msghdr{Name: b.rmsgs[i].hdr.Name, Namelen: b.rmsgs[i].hdr.Namelen, Iov: &b.wiovs[b.nw]}
	w.hdr.Iovlen = 1
	b.nw++
}

// flush sends the queued answers. An answer the kernel refuses is dropped,
// as a lost datagram would be.
func (b *batchConn) flush() error {
	sent := 0
	var operr error
	for sent < b.nw && operr == nil {
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&b.wmsgs[sent])), uintptr(b.nw-sent), syscall.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				sent += int(r)
			case syscall.EAGAIN, syscall.EINTR:
				return false // wait until writable
			default:
				sent++ // skip the datagram that failed
				if sent == b.nw {
					operr = e
				}
			}
			return true
		})
		if err != nil {
			operr = err
		}
	}
	b.nw = 0
	return operr
}

// serveUDP reads queries from c in batches until it is closed. The fast
// path answers on this goroutine, and its answers leave in one batch; its
// cache misses go to the forwarder, which answers each when the upstream
// does, with no goroutine waiting; anything else is answered on its own
// goroutine, so a slow upstream holds up only its own queries.
func (r *Resolver) serveUDP(c *net.UDPConn) {
	b, err := newBatchConn(c)
	if err != nil {
		r.serveUDPSimple(c)
		return
	}
	out := make([]byte, 0, batchSize*2*ednsSize)
	for {
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			continue
		}
		out = out[:0]
		for i := range n {
			from := b.from(i)
			client := from.Addr().Unmap().WithZone("")
			who := r.ident.Identify(client)
			if who.Kind == identify.Foreign {
				r.metrics.Query(ResultDropped)
				continue
			}
			pkt := b.packet(i)
			start := len(out)
			var q wireQuery
			ans, res := r.fast(pkt, who, out[start:start:cap(out)], &q)
			switch res {
			case fastAnswered:
				if start+len(ans) <= cap(out) { // in out's array: batch it
					out = out[:start+len(ans)]
					b.queue(i, out[start:])
				} else {
					_, _ = c.WriteToUDPAddrPort(ans, from)
				}
				continue
			case fastMiss:
				r.forwardUDP(c, from, pkt, &q, who)
				continue
			}
			pkt = append([]byte(nil), pkt...)
			r.wg.Go(func() {
				if ans := r.handleSlow(pkt, who, false); ans != nil {
					_, _ = c.WriteToUDPAddrPort(ans, from)
				}
			})
		}
		_ = b.flush()
	}
}
