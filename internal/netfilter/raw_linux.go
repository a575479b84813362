//go:build linux

package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// rawConn is a plain NETLINK_NETFILTER socket for two reads that
// google/nftables does not offer or does slowly: the ruleset generation,
// which the kernel bumps with every committed batch whoever sends it, and
// dumps of large sets. The kernel restarts its walk of a set for every
// chunk of a dump, and a chunk is as large as the reader's buffer (at most
// 32 KiB); google/nftables reads a page at a time, which makes dumping
// 100,000 elements take seconds. It also looks up single set elements.
type rawConn struct {
	fd  int
	seq uint32
	buf []byte
}

// errDumpInterrupted means that the kernel marked a dump as interrupted by
// a change, so that it may be inconsistent. It cannot be relied on for set
// elements: on kernel 6.18, a dump of 100,000 elements that missed some of
// them, while another table was being changed, carried no mark. Verify
// compares the ruleset generation before and after each dump as well.
var errDumpInterrupted = errors.New("dump interrupted by a concurrent change")

// dialRaw opens a socket in the namespace ns (-1: the process's).
func dialRaw(ns int) (*rawConn, error) {
	var fd int
	var err error
	if ns < 0 {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	} else {
		fd, err = socketAt(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding netlink socket: %w", err)
	}
	// Generous timeouts: a read that blocks longer means a lost reply.
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &rawConn{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// socketAt creates the socket inside ns on a locked thread, then moves the
// thread back. A thread that cannot move back is never unlocked, so the
// runtime discards it.
func socketAt(ns int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

func (c *rawConn) close() { unix.Close(c.fd) }

// request sends one nftables request and returns the payloads (after the
// nfgenmsg header) of its replies; a dump request reads until the end of
// the dump. An interrupted dump returns its payloads with
// errDumpInterrupted.
func (c *rawConn) request(msgType uint16, flags uint16, family uint8, attrs []byte) ([][]byte, error) {
	c.seq++
	b := make([]byte, unix.NLMSG_HDRLEN+4, unix.NLMSG_HDRLEN+4+len(attrs))
	b = append(b, attrs...)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.NFNL_SUBSYS_NFTABLES<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:], c.seq)
	b[unix.NLMSG_HDRLEN] = family // then version 0 and resource id 0
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	dump := flags&unix.NLM_F_DUMP != 0
	var out [][]byte
	var interrupted bool
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return nil, err
		}
		msgs := c.buf[:n]
		for len(msgs) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(msgs))
			if l < unix.NLMSG_HDRLEN || l > len(msgs) {
				return nil, errors.New("malformed netlink message")
			}
			typ := binary.NativeEndian.Uint16(msgs[4:])
			mflags := binary.NativeEndian.Uint16(msgs[6:])
			seq := binary.NativeEndian.Uint32(msgs[8:])
			payload := msgs[unix.NLMSG_HDRLEN:l]
			msgs = msgs[min(nlAlign(l), len(msgs)):]
			if seq != c.seq {
				continue // a late reply to an earlier request
			}
			switch typ {
			case unix.NLMSG_DONE:
				if interrupted {
					return out, errDumpInterrupted
				}
				return out, nil
			case unix.NLMSG_ERROR:
				if len(payload) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(payload)); errno != 0 {
						return nil, unix.Errno(-errno)
					}
				}
				return out, nil
			}
			if mflags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			if len(payload) >= 4 {
				out = append(out, append([]byte(nil), payload[4:]...))
			}
			if !dump {
				return out, nil
			}
		}
	}
}

func nlAlign(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// forAttrs calls f with each netlink attribute in b.
func forAttrs(b []byte, f func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:l])
		b = b[min(nlAlign(l), len(b)):]
	}
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	l := 4 + len(v)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	return append(b, make([]byte, nlAlign(l)-l)...)
}

// generation returns the ruleset generation of the namespace.
func (c *rawConn) generation() (uint32, error) {
	msgs, err := c.request(unix.NFT_MSG_GETGEN, 0, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, fmt.Errorf("reading ruleset generation: %w", err)
	}
	var id uint32
	var ok bool
	for _, m := range msgs {
		forAttrs(m, func(typ uint16, v []byte) {
			if typ == unix.NFTA_GEN_ID && len(v) == 4 {
				id, ok = binary.BigEndian.Uint32(v), true
			}
		})
	}
	if !ok {
		return 0, errors.New("reading ruleset generation: no generation in reply")
	}
	return id, nil
}

// setElements dumps the elements of a set: keys, key ends (of ranges in
// concatenated sets), interval-end flags and remaining times. An
// interrupted dump returns what it read with errDumpInterrupted.
func (c *rawConn) setElements(s *nftables.Set) ([]nftables.SetElement, error) {
	msgs, err := c.request(unix.NFT_MSG_GETSETELEM, unix.NLM_F_DUMP, byte(s.Table.Family), setAttrs(s))
	if err != nil && !errors.Is(err, errDumpInterrupted) {
		return nil, err
	}
	return parseElements(msgs), err
}

// setElement looks up the element of key in a set of plain keys (not
// intervals or ranges), in one request the kernel answers atomically. ok
// is false if the set holds no such element.
func (c *rawConn) setElement(s *nftables.Set, key []byte) (e nftables.SetElement, ok bool, err error) {
	elem := appendAttr(nil, unix.NLA_F_NESTED|unix.NFTA_SET_ELEM_KEY, appendAttr(nil, unix.NFTA_DATA_VALUE, key))
	list := appendAttr(nil, unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, elem)
	attrs := appendAttr(setAttrs(s), unix.NLA_F_NESTED|unix.NFTA_SET_ELEM_LIST_ELEMENTS, list)
	msgs, err := c.request(unix.NFT_MSG_GETSETELEM, 0, byte(s.Table.Family), attrs)
	if errors.Is(err, unix.ENOENT) {
		return e, false, nil
	}
	if err != nil {
		return e, false, err
	}
	els := parseElements(msgs)
	if len(els) != 1 {
		return e, false, fmt.Errorf("looking up an element of set %s: %d elements in the reply, want 1", s.Name, len(els))
	}
	return els[0], true, nil
}

// setAttrs returns the attributes naming the set s in a set element
// request.
func setAttrs(s *nftables.Set) []byte {
	attrs := appendAttr(nil, unix.NFTA_SET_ELEM_LIST_TABLE, append([]byte(s.Table.Name), 0))
	return appendAttr(attrs, unix.NFTA_SET_ELEM_LIST_SET, append([]byte(s.Name), 0))
}

// parseElements returns the elements in the payloads of set element
// messages.
func parseElements(msgs [][]byte) []nftables.SetElement {
	var els []nftables.SetElement
	for _, m := range msgs {
		forAttrs(m, func(typ uint16, v []byte) {
			if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				return
			}
			forAttrs(v, func(_ uint16, item []byte) {
				var e nftables.SetElement
				forAttrs(item, func(typ uint16, v []byte) {
					switch typ {
					case unix.NFTA_SET_ELEM_KEY:
						forAttrs(v, func(typ uint16, v []byte) {
							if typ == unix.NFTA_DATA_VALUE {
								e.Key = v
							}
						})
					case nftables.NFTA_SET_ELEM_KEY_END:
						forAttrs(v, func(typ uint16, v []byte) {
							if typ == unix.NFTA_DATA_VALUE {
								e.KeyEnd = v
							}
						})
					case unix.NFTA_SET_ELEM_DATA:
						forAttrs(v, func(typ uint16, v []byte) {
							if typ == unix.NFTA_DATA_VERDICT {
								e.VerdictData = parseVerdict(v)
							}
						})
					case unix.NFTA_SET_ELEM_FLAGS:
						if len(v) == 4 {
							e.IntervalEnd = binary.BigEndian.Uint32(v)&unix.NFT_SET_ELEM_INTERVAL_END != 0
						}
					case unix.NFTA_SET_ELEM_TIMEOUT:
						if len(v) == 8 {
							e.Timeout = time.Duration(binary.BigEndian.Uint64(v)) * time.Millisecond
						}
					case unix.NFTA_SET_ELEM_EXPIRATION:
						if len(v) == 8 {
							e.Expires = time.Duration(binary.BigEndian.Uint64(v)) * time.Millisecond
						}
					}
				})
				if e.Key != nil {
					els = append(els, e)
				}
			})
		})
	}
	return els
}

// parseVerdict returns the verdict in the attributes of an
// NFTA_DATA_VERDICT: its code and, for a jump or goto, the chain.
func parseVerdict(b []byte) *expr.Verdict {
	v := &expr.Verdict{}
	forAttrs(b, func(typ uint16, b []byte) {
		switch typ {
		case unix.NFTA_VERDICT_CODE:
			if len(b) == 4 {
				v.Kind = expr.VerdictKind(int32(binary.BigEndian.Uint32(b)))
			}
		case unix.NFTA_VERDICT_CHAIN:
			v.Chain = strings.TrimRight(string(b), "\x00")
		}
	})
	return v
}
