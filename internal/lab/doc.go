// Package lab builds a simulated network on one Linux machine out of
// network namespaces, so that curfew can be tried and tested end to end
// without real hardware:
//
//	upstream ("the internet": 198.51.100.10, 2001:db8:100::10 and a second
//	   |      site 198.51.100.20, 2001:db8:100::20; HTTP on 80 and 8080, DNS on 53)
//	   | wan0
//	gateway (runs `curfew daemon`; forwards v4 and v6, no NAT)
//	   | br-lan 10.50.0.1/24, fd00:50::1/64
//	client 1, 2, 3 (02:c0:ff:ee:00:01..03, 10.50.0.11..13, fd00:50::11..13)
//
// The upstream's DNS server, which the gateway's curfew forwards to, is
// authoritative for news.example.org (the first addresses),
// other.example.org and social.example (the second), and every name under
// them; it records every query it receives (Lab.DNSQueries), so a test can
// tell whether a query left the gateway.
//
// Every namespace name starts with a configurable prefix, so a test and a
// running lab never clash, and New first removes what a previous run with
// the same prefix left behind. The upstream web server runs in the lab's
// own process, on a listener created inside the upstream namespace; so do
// the clients' dialers, whose sockets are created inside a client
// namespace. The gateway's API, which listens on its own loopback, is
// forwarded to a loopback port of the host.
//
// Nothing here moves the caller's thread between namespaces: work inside a
// namespace runs on a helper goroutine that locks its OS thread, enters the
// namespace and returns without unlocking, so the runtime discards that
// thread. Sockets created there keep working from any thread.
//
// The lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2.
package lab
