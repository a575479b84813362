//go:build linux

package netfilter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/enforce"
)

var _ enforce.Watcher = (*Backend)(nil)

// Watch implements [enforce.Watcher]. It listens to the kernel's nftables
// change events (the NFNLGRP_NFTABLES netlink group, what `nft monitor`
// shows) in the Backend's namespace, and calls changed once for every
// committed batch that touched the table (added, changed or deleted its
// chains, rules, sets, elements or the table itself) and was sent by a
// socket other than the Backend's own: another firewall manager's reload,
// `nft flush ruleset`, an operator's `nft delete table inet curfew`. Its
// own batches are told apart by the netlink port ID the kernel names as
// the sender of each commit. If the kernel drops events (the socket's
// buffer overflowed under a burst), changed is called as well: whose they
// were cannot be known.
//
// It returns ctx's error when ctx is done, or an error if it cannot
// listen. The engine runs it for as long as the daemon runs and checks
// the table (Verify) at each call of changed, so a table deleted by a
// firewall reload is rebuilt within milliseconds instead of at the next
// periodic check.
func (b *Backend) Watch(ctx context.Context, changed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns := b.netns
	if ns < 0 {
		ns = 0 // mdlayher/netlink: the process's namespace
	}
	conn, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, &mdnetlink.Config{NetNS: ns})
	if err != nil {
		return fmt.Errorf("netfilter: opening netlink socket for nftables events: %w", err)
	}
	defer conn.Close()
	if err := conn.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		return fmt.Errorf("netfilter: joining the nftables event group: %w", err)
	}
	// A flush of a large ruleset is one event per object; an overflow
	// costs only a needless check, but should be rare.
	if err := conn.SetReadBuffer(4 << 20); err != nil {
		return fmt.Errorf("netfilter: sizing the nftables event socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	w := batchWatch{b: b}
	for {
		msgs, err := conn.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, unix.ENOBUFS) {
				w.touched = false
				changed()
				continue
			}
			return fmt.Errorf("netfilter: reading nftables events: %w", err)
		}
		for _, m := range msgs {
			if w.event(m) {
				changed()
			}
		}
	}
}

// batchWatch follows nftables events one committed batch after another.
type batchWatch struct {
	b       *Backend
	touched bool // an event of the batch under way is about the table
}

// event takes the next event and reports whether it ended a batch that
// touched the table and that someone else sent.
func (w *batchWatch) event(m mdnetlink.Message) bool {
	t := uint16(m.Header.Type)
	if t>>8 != unix.NFNL_SUBSYS_NFTABLES {
		return false
	}
	if t&0xff == unix.NFT_MSG_NEWGEN {
		// The last event of every committed batch; its header names the
		// port that sent the batch.
		report := w.touched && !w.b.ports.has(m.Header.PID)
		w.touched = false
		return report
	}
	w.touched = w.touched || w.b.touches(m.Data)
	return false
}

// touches reports whether the payload of an nftables event (nfgenmsg,
// then attributes) is about the Backend's table. Every object's first
// attribute type is its table's name (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE,
// NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, …).
func (b *Backend) touches(data []byte) bool {
	if len(data) < 4 || data[0] != unix.NFPROTO_INET {
		return false
	}
	ad, err := mdnetlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return false
	}
	for ad.Next() {
		if ad.Type() == 1 {
			return ad.String() == b.rs.table.Name
		}
	}
	return false
}

// portIDs are the netlink port IDs of the sockets a Backend commits
// batches from, so that Watch can tell its own commits from others'. A
// socket's ID is added when it is dialled and kept after it closes: the
// kernel hands out another ID to the next socket.
type portIDs struct {
	mu  sync.Mutex // guards ids
	ids map[uint32]bool
}

func (p *portIDs) has(id uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[id]
}

// add records the port ID of c. It is a socket option of google/nftables
// (WithSockOptions), called as each connection is dialled.
func (p *portIDs) add(c *mdnetlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("reading the netlink port ID: %w", serr)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fmt.Errorf("reading the netlink port ID: not a netlink socket address: %T", sa)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids = map[uint32]bool{}
	}
	p.ids[nl.Pid] = true
	return nil
}
