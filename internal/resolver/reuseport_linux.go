//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64 || ppc64le || s390x)

package resolver

import (
	"runtime"
	"syscall"
)

// soReusePort is SO_REUSEPORT in asm-generic/socket.h, which the syscall
// package does not define.
const soReusePort = 0xf

// udpSockets is how many UDP sockets serve each listen address; the kernel
// spreads clients over them (SO_REUSEPORT), one reader goroutine each. One
// reader per two CPUs: the kernel's network stack does most of the work of
// each datagram, on a gateway it forwards traffic too, and a busy reader
// takes its queries in larger batches. On the benchmark's two CPUs, one
// socket answered 10–20% more queries than two, with less CPU per query.
func udpSockets() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// reusePort is a net.ListenConfig Control function setting SO_REUSEPORT.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	}); err != nil {
		return err
	}
	return serr
}
