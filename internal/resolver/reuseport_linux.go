//go:build linux

package resolver

import (
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// udpSockets is how many UDP sockets serve each listen address; the kernel
// spreads clients over them (SO_REUSEPORT), one reader goroutine each. One
// reader per two CPUs: the kernel's network stack does most of the work of
// each datagram, on a gateway it forwards traffic too, and a busy reader
// takes its queries in larger batches. On the benchmark's two CPUs, one
// socket answered 10–20% more queries than two, with less CPU per query.
func udpSockets() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// udpReceiveBuffer is the receive buffer asked for each UDP socket: room
// for some thousands of queries, so that a reader kept from its CPU for a
// while (a burst, a flood, a busy gateway) loses none. The kernel's
// default, about 200 KiB, holds a few hundred.
const udpReceiveBuffer = 4 << 20

// socketOptions is a net.ListenConfig Control function: SO_REUSEPORT on
// every socket, and a large receive buffer on UDP ones, forced past the
// system's limit where the daemon may (CAP_NET_ADMIN), else up to it.
func socketOptions(network, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if serr != nil || !strings.HasPrefix(network, "udp") {
			return
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpReceiveBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpReceiveBuffer)
		}
	}); err != nil {
		return err
	}
	return serr
}
