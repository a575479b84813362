//go:build !linux

package resolver

import "syscall"

func udpSockets() int { return 1 }

func socketOptions(_, _ string, _ syscall.RawConn) error { return nil }
