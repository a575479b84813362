//go:build !(linux && (amd64 || arm64))

package resolver

import "net"

// serveUDP reads and answers queries from c until it is closed.
func (r *Resolver) serveUDP(c *net.UDPConn) { r.serveUDPSimple(c) }
