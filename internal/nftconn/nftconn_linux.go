//go:build linux

// Package nftconn keeps the lasting nftables connection of one of
// curfew's tables: dialled when first needed, in the table's network
// namespace, with socket buffers as large as the table's biggest batch
// needs, and dropped after a failure, since it may then hold unread
// replies. Its holder serialises the calls.
package nftconn

import (
	"fmt"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
)

// A Lasting is one table's lasting connection. Its zero value is not
// usable: make one with New.
type Lasting struct {
	netns  int // a namespace's descriptor; negative: the process's own
	buffer int // each socket buffer, send and receive, in bytes
	conn   *nftables.Conn
}

// New returns a Lasting that dials into the network namespace open as
// netns (negative: the process's own) with send and receive buffers of
// buffer bytes: the kernel refuses a batch larger than the send buffer,
// and drops acknowledgements beyond the receive buffer.
func New(netns, buffer int) Lasting {
	return Lasting{netns: netns, buffer: buffer}
}

// Conn returns the connection, dialling it if needed.
func (l *Lasting) Conn() (*nftables.Conn, error) {
	if l.conn != nil {
		return l.conn, nil
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
		if err := c.SetWriteBuffer(l.buffer); err != nil {
			return err
		}
		return c.SetReadBuffer(l.buffer)
	})}
	if l.netns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(l.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening nftables connection: %w", err)
	}
	l.conn = c
	return c, nil
}

// Drop closes the connection, if there is one; the next Conn dials again.
func (l *Lasting) Drop() {
	if l.conn != nil {
		l.conn.CloseLasting()
		l.conn = nil
	}
}
