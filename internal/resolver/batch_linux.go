//go:build linux

package resolver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg or sendmmsg call moves at
// most. Under load, a batch amortizes the system call and the runtime's
// entry into it over many datagrams; when idle, a call returns with one.
const batchSize = 32

// readBatches reads datagrams of up to size bytes from c, up to batchSize
// at a time with recvmmsg, and calls each for every one (cut if it was
// longer than size and lost its tail) and then done, until c is closed,
// when it returns nil, or stop reports true for a read error. The packet
// given to each is valid only until it returns.
func readBatches(c *net.UDPConn, size int, each func(pkt []byte, from netip.AddrPort, cut bool), done func(), stop func(error) bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var (
		msgs  [batchSize]unix.Mmsghdr
		iovs  [batchSize]unix.Iovec
		names [batchSize]unix.RawSockaddrInet6
	)
	buf := make([]byte, batchSize*size)
	for i := range msgs {
		iovs[i].Base = &buf[i*size]
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
		msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
	}
	for {
		for i := range msgs {
			iovs[i].SetLen(size)
			msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			msgs[i].Hdr.Flags = 0
		}
		var n int
		var operr error
		err := rc.Read(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				n = int(r)
			case unix.EAGAIN, unix.EINTR:
				return false // wait until readable
			default:
				operr = e
			}
			return true
		})
		if err == nil {
			err = operr
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if stop(err) {
				return err
			}
			continue
		}
		for i := range n {
			each(buf[i*size:i*size+int(msgs[i].Len)], sockaddrPort(&names[i]), msgs[i].Hdr.Flags&unix.MSG_TRUNC != 0)
		}
		done()
	}
}

// sockaddrPort returns the address in sa, or the zero AddrPort if it holds
// none (a connected socket's datagrams may come without).
func sockaddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
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

// putSockaddr writes ap into sa as the kernel takes it and returns its
// length: an IPv4 address as sockaddr_in (for an IPv4 socket; a dual-stack
// socket's IPv4 clients come as IPv4-mapped IPv6 addresses and stay so).
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], ap.Port())
	if a := ap.Addr(); a.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		copy((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], port[:])
		return unix.SizeofSockaddrInet4
	}
	a := ap.Addr()
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	copy((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port[:])
	if z := a.Zone(); z != "" {
		if id, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(id)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		}
	}
	return unix.SizeofSockaddrInet6
}

// A sender sends datagrams in batches with sendmmsg. Its arrays are
// reused from one batch to the next; it is used by one goroutine.
type sender struct {
	msgs  [batchSize]unix.Mmsghdr
	iovs  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6
	batch [batchSize]*datagram
}

// send sends ds, all on one socket, in as few system calls as it can. A
// datagram the kernel refuses is failed (datagram.failed) and the rest are
// still sent.
func (s *sender) send(ds []datagram) {
	rc, err := ds[0].conn.SyscallConn()
	if err != nil {
		for i := range ds {
			ds[i].failed(err)
		}
		return
	}
	for len(ds) > 0 {
		n := min(len(ds), batchSize)
		for i := range n {
			d := &ds[i]
			s.batch[i] = d
			s.iovs[i].Base = &d.pkt[0]
			s.iovs[i].SetLen(len(d.pkt))
			s.msgs[i].Hdr = unix.Msghdr{Iov: &s.iovs[i]}
			s.msgs[i].Hdr.SetIovlen(1)
			if d.to.IsValid() {
				s.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
				s.msgs[i].Hdr.Namelen = putSockaddr(&s.names[i], d.to)
			}
		}
		sent := 0
		for sent < n {
			var operr error
			err := rc.Write(func(fd uintptr) bool {
				r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.msgs[sent])), uintptr(n-sent), unix.MSG_DONTWAIT, 0, 0)
				switch e {
				case 0:
					sent += int(r)
				case unix.EAGAIN, unix.EINTR:
					return false // wait until writable
				default:
					operr = e
				}
				return true
			})
			if err == nil {
				err = operr
			}
			if err != nil {
				// The datagram at sent was refused: fail it, go on
				// with the next.
				s.batch[sent].failed(err)
				sent++
			}
		}
		clear(s.batch[:n])
		ds = ds[n:]
	}
}
