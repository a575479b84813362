//go:build linux

package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Table flags of the kernel's nftables API (include/uapi/linux/netfilter/
// nf_tables.h) that golang.org/x/sys does not name.
const (
	// tableOwner (NFT_TABLE_F_OWNER, Linux 5.12) ties the table to the
	// netlink socket that created it: only that socket may change or
	// delete it, and another process's `nft flush ruleset` leaves it
	// alone.
	tableOwner = 0x2
	// tablePersist (NFT_TABLE_F_PERSIST, Linux 6.9) keeps an owned table,
	// its sets and their elements' timeouts, when the owner's socket
	// closes: the table becomes an orphan that a new socket adopts by
	// asking for it with both flags again.
	tablePersist = 0x4
	ownerFlags   = tableOwner | tablePersist
)

// writerLocked returns the connection every batch is sent on, dialling it
// if needed. Its socket owns the table when the kernel lets it, so every
// change must go through it. b.fmu must be held.
func (b *Backend) writerLocked() (*nftables.Conn, error) {
	if b.wconn != nil {
		return b.wconn, nil
	}
	var sock *mdnetlink.Conn
	opts := []nftables.ConnOption{
		nftables.AsLasting(),
		// A rebuild of 100,000 elements is several megabytes in one
		// sendmsg; the kernel refuses a message larger than the socket's
		// send buffer.
		nftables.WithSockOptions(func(c *mdnetlink.Conn) error {
			if err := c.SetWriteBuffer(64 << 20); err != nil {
				return err
			}
			sock = c
			return c.SetReadBuffer(8 << 20)
		}, b.ports.add),
	}
	if b.netns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(b.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("netfilter: opening nftables connection: %w", err)
	}
	b.wconn, b.wsock = c, sock
	return c, nil
}

// dropWriter closes the writing connection after a failure (it may hold
// unread replies). An owned table outlives it as an orphan, still
// enforcing, until the next rebuild adopts it. b.fmu must be held.
func (b *Backend) dropWriter() {
	if b.wconn != nil {
		b.wconn.CloseLasting()
	}
	b.wconn, b.wsock, b.owned = nil, nil, false
}

// tableContents are the chains and sets of an existing table, which a
// rebuild replaces in place, in its batch, instead of deleting and adding
// the table: an owned table cannot be added again with its flags by
// google/nftables.
type tableContents struct {
	chains []*nftables.Chain
	sets   []*nftables.Set
}

// claim makes the table exist and owned by the writer's socket, with
// ownerFlags, before a rebuild, and returns what is in it for the rebuild
// to replace (nil: the rebuild adds the table, as on a kernel without the
// flags). b.fmu must be held.
//
//   - No table: it is created, owned and empty.
//   - An orphan (persist without owner: the last daemon's socket closed,
//     at an exit, a crash or a dropped connection): it is adopted, and
//     keeps enforcing, untouched, until the rebuild's batch replaces its
//     contents.
//   - Owned by this socket already: nothing to claim.
//   - Owned by another socket: another curfew runs in this namespace;
//     refused.
//   - A table without flags (built by an older curfew, or by hand): the
//     kernel cannot add the flags to it, so it is deleted and created
//     again in one batch, and is empty until the rebuild's batch; this
//     happens once, at the first start on a kernel with the flags.
//
// If the kernel refuses the flags (Linux before 6.9: NFT_TABLE_F_PERSIST
// is unknown, and owner alone would delete the table with the daemon),
// nothing is changed, the Backend builds the table without them from then
// on, and the repair on nftables events (Watch) is what brings it back
// after another firewall manager deletes it.
func (b *Backend) claim(c *nftables.Conn) (*tableContents, error) {
	if b.noOwner {
		return nil, nil
	}
	if b.owned {
		return b.contents(c)
	}
	name := b.rs.table.Name
	tables, err := c.ListTablesOfFamily(b.rs.table.Family)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	var msgs []mdnetlink.Message
	var old *nftables.Table
	if i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == name }); i >= 0 {
		old = tables[i]
	}
	switch {
	case old == nil:
		msgs = []mdnetlink.Message{b.tableMsg(unix.NFT_MSG_NEWTABLE, true)}
	case tableFlags(old)&tablePersist != 0: // an orphan, or another socket's (refused)
		msgs = []mdnetlink.Message{b.tableMsg(unix.NFT_MSG_NEWTABLE, true)}
	default:
		msgs = []mdnetlink.Message{b.tableMsg(unix.NFT_MSG_DELTABLE, false), b.tableMsg(unix.NFT_MSG_NEWTABLE, true)}
	}
	err = b.sendRaw(msgs)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		b.noOwner = true
		b.logger.Warn("kernel cannot keep an owned table (NFT_TABLE_F_OWNER and NFT_TABLE_F_PERSIST need Linux 6.9); another process's `nft flush ruleset` deletes it, and it is rebuilt as soon as the nftables event arrives",
			"table", name)
		return nil, nil
	case errors.Is(err, unix.EPERM):
		return nil, fmt.Errorf("table inet %s is owned by another process's netlink socket: is another curfew daemon running in this network namespace? (%w)", name, err)
	case err != nil:
		return nil, fmt.Errorf("claiming table inet %s: %w", name, err)
	}
	b.owned = true
	if old == nil || tableFlags(old)&tablePersist == 0 {
		if old != nil {
			b.logger.Warn("replaced table built without owner flags; it was empty until this rebuild", "table", name)
		}
		return &tableContents{}, nil
	}
	return b.contents(c)
}

// tableFlags returns the flags of t. google/nftables v0.3.0 decodes the
// attribute, which the kernel sends in network byte order, in the host's.
func tableFlags(t *nftables.Table) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], t.Flags)
	return binary.BigEndian.Uint32(b[:])
}

// contents lists the chains and sets of the table. b.fmu must be held.
func (b *Backend) contents(c *nftables.Conn) (*tableContents, error) {
	chains, err := c.ListChainsOfTableFamily(b.rs.table.Family)
	if err != nil {
		return nil, fmt.Errorf("listing chains: %w", err)
	}
	chains = slices.DeleteFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name != b.rs.table.Name })
	sets, err := c.GetSets(b.rs.table)
	if err != nil {
		return nil, fmt.Errorf("listing sets: %w", err)
	}
	return &tableContents{chains: chains, sets: sets}, nil
}

// deleteTable deletes the table, whether or not it exists, is owned by
// the writer's socket or is an orphan, in one batch. b.fmu must be held.
func (b *Backend) deleteTable() error {
	c, err := b.writerLocked()
	if err != nil {
		return err
	}
	if b.noOwner {
		c.AddTable(b.rs.table) // so that the delete cannot fail if it is gone
		c.DelTable(b.rs.table)
		return b.flush(c, false)
	}
	// Created or adopted first, so that the delete cannot fail.
	return b.sendRaw([]mdnetlink.Message{b.tableMsg(unix.NFT_MSG_NEWTABLE, true), b.tableMsg(unix.NFT_MSG_DELTABLE, false)})
}

// tableMsg returns a NEWTABLE or DELTABLE message for the table, with
// b.tableFlags if flags is set.
func (b *Backend) tableMsg(typ uint16, flags bool) mdnetlink.Message {
	ae := mdnetlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.String(unix.NFTA_TABLE_NAME, b.rs.table.Name)
	if flags {
		ae.Uint32(unix.NFTA_TABLE_FLAGS, b.tableFlags)
	}
	attrs, _ := ae.Encode() // encoding a string and a uint32 cannot fail
	hf := mdnetlink.Request | mdnetlink.Acknowledge
	if typ == unix.NFT_MSG_NEWTABLE {
		hf |= mdnetlink.Create
	}
	return mdnetlink.Message{
		Header: mdnetlink.Header{Type: mdnetlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: hf},
		Data:   append([]byte{byte(b.rs.table.Family), unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
}

// sendRaw sends msgs in one batch on the writer's socket and returns the
// first error the kernel answers; the batch is all or nothing. It is the
// way to send the messages google/nftables cannot encode (table flags).
// The ruleset generation it moves is read again by the next flush. b.fmu
// must be held.
func (b *Backend) sendRaw(msgs []mdnetlink.Message) error {
	if _, err := b.writerLocked(); err != nil {
		return err
	}
	batch := func(t uint16) mdnetlink.Message {
		return mdnetlink.Message{
			Header: mdnetlink.Header{Type: mdnetlink.HeaderType(t), Flags: mdnetlink.Request},
			Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES},
		}
	}
	all := append([]mdnetlink.Message{batch(unix.NFNL_MSG_BATCH_BEGIN)}, msgs...)
	all = append(all, batch(unix.NFNL_MSG_BATCH_END))
	b.batches++
	b.genOK = false
	if _, err := b.wsock.SendMessages(all); err != nil {
		b.dropWriter()
		return fmt.Errorf("sending batch: %w", err)
	}
	// One answer for every message that asked for an acknowledgement,
	// even after one fails (the kernel reports every error of a batch).
	var first error
	for range msgs {
		if _, err := b.wsock.Receive(); err != nil {
			var oe *mdnetlink.OpError
			if !errors.As(err, &oe) {
				b.dropWriter() // not the kernel's answer: the socket is unusable
				return fmt.Errorf("reading batch answer: %w", err)
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}
