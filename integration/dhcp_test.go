//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/lab"
)

// A dhcpLease is what a DHCP server acknowledged to a client.
type dhcpLease struct {
	Addr    netip.Addr
	Server  netip.Addr
	Options map[byte][]byte // every option of the DHCPACK, by code
}

// DHCP message types (RFC 2132, option 53).
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
)

// dhcpLeaseFor runs a DHCPv4 exchange (DISCOVER, OFFER, REQUEST, ACK) from
// client c over its eth0, as a phone joining the network does, giving
// hostname, and returns the lease. It asks for replies by broadcast, so
// the client's own address does not matter.
func dhcpLeaseFor(ctx context.Context, c *lab.Client, hostname string) (*dhcpLease, error) {
	var conn net.PacketConn
	err := c.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				for _, o := range []int{unix.SO_REUSEADDR, unix.SO_BROADCAST} {
					if serr == nil {
						serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o, 1)
					}
				}
				if serr == nil {
					serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "eth0")
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		conn, err = lc.ListenPacket(ctx, "udp4", "0.0.0.0:68")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening the DHCP client's socket: %w", err)
	}
	defer conn.Close()
	xid := uint32(time.Now().UnixNano())
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	// exchange sends msg until a reply of type want comes, for at most
	// a few seconds.
	exchange := func(msg []byte, want byte) (yiaddr netip.Addr, opts map[byte][]byte, err error) {
		deadline := time.Now().Add(5 * time.Second)
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			if _, err := conn.WriteTo(msg, bcast); err != nil {
				return netip.Addr{}, nil, fmt.Errorf("sending DHCP message: %w", err)
			}
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			for {
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						break // send again
					}
					return netip.Addr{}, nil, err
				}
				yiaddr, opts, ok := parseDHCP(buf[:n], xid, c.MAC)
				if ok && len(opts[53]) == 1 && opts[53][0] == want {
					return yiaddr, opts, nil
				}
			}
		}
		return netip.Addr{}, nil, fmt.Errorf("no DHCP reply of type %d within 5s", want)
	}
	offered, opts, err := exchange(dhcpMessage(xid, c.MAC, dhcpDiscover, hostname, nil), dhcpOffer)
	if err != nil {
		return nil, fmt.Errorf("DHCPDISCOVER: %w", err)
	}
	server := opts[54]
	extra := [][]byte{{50, 4}, {54, byte(len(server))}}
	extra[0] = append(extra[0], offered.AsSlice()...)
	extra[1] = append(extra[1], server...)
	addr, opts, err := exchange(dhcpMessage(xid, c.MAC, dhcpRequest, hostname, extra), dhcpAck)
	if err != nil {
		return nil, fmt.Errorf("DHCPREQUEST: %w", err)
	}
	srv, _ := netip.AddrFromSlice(server)
	return &dhcpLease{Addr: addr, Server: srv, Options: opts}, nil
}

// dhcpMessage builds a client's BOOTREQUEST with the broadcast flag, the
// message type, the hostname, a request for options 1, 3, 6 and 114, and
// the extra options (code, length, value, each).
func dhcpMessage(xid uint32, mac net.HardwareAddr, typ byte, hostname string, extra [][]byte) []byte {
	m := make([]byte, 240)
	m[0], m[1], m[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(m[4:], xid)
	binary.BigEndian.PutUint16(m[10:], 0x8000) // broadcast
	copy(m[28:], mac)
	copy(m[236:], []byte{99, 130, 83, 99})
	m = append(m, 53, 1, typ)
	m = append(m, 12, byte(len(hostname)))
	m = append(m, hostname...)
	m = append(m, 55, 4, 1, 3, 6, 114)
	for _, o := range extra {
		m = append(m, o...)
	}
	return append(m, 255)
}

// parseDHCP reads a server's BOOTREPLY for transaction xid and client mac.
func parseDHCP(b []byte, xid uint32, mac net.HardwareAddr) (yiaddr netip.Addr, opts map[byte][]byte, ok bool) {
	if len(b) < 240 || b[0] != 2 || binary.BigEndian.Uint32(b[4:]) != xid || !bytes.Equal(b[28:34], mac) ||
		!bytes.Equal(b[236:240], []byte{99, 130, 83, 99}) {
		return netip.Addr{}, nil, false
	}
	yiaddr = netip.AddrFrom4([4]byte(b[16:20]))
	opts = map[byte][]byte{}
	for o := b[240:]; len(o) > 0 && o[0] != 255; {
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return netip.Addr{}, nil, false
		}
		opts[o[0]] = o[2 : 2+int(o[1])]
		o = o[2+int(o[1]):]
	}
	return yiaddr, opts, true
}
