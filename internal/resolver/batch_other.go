//go:build !linux

package resolver

import (
	"errors"
	"net"
	"net/netip"
)

// readBatches reads datagrams from c one system call each, calling each
// for every one and then done, until c is closed, when it returns nil, or
// stop reports true for a read error. The packet given to each is valid
// only until it returns.
func readBatches(c *net.UDPConn, size int, each func(pkt []byte, from netip.AddrPort, cut bool), done func(), stop func(error) bool) error {
	buf := make([]byte, size+1)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if stop(err) {
				return err
			}
			continue
		}
		each(buf[:min(n, size)], from, n > size)
		done()
	}
}

// A sender sends datagrams one system call each.
type sender struct{}

func (s *sender) send(ds []datagram) {
	for i := range ds {
		ds[i].sendNow()
	}
}
