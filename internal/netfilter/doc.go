// Package netfilter enforces a curfew.Snapshot in the Linux kernel: it keeps
// one nftables table (inet "curfew") whose sets hold the restricted devices
// (by MAC, one set a mode) and addresses (ip: subjects, which restrict the
// flows they open, never those others open to them). It refuses forwarded
// traffic of cut-off targets; lets allowlist-mode devices reach
// only the destinations the resolver answered them (AllowDestination) and
// the prefixes their restriction names; refuses DNS over TLS and known
// DNS-over-HTTPS endpoints to every restricted client; redirects all DNS
// from the LAN to curfew's resolver and restricted clients' plain HTTP to
// the notice server; lets restricted clients reach, on the gateway itself,
// only that resolver and notice server, DHCP and the ICMP a link needs; and
// flushes the conntrack entries of devices that have just become
// restricted. docs/firewall.md describes the table.
//
// Every set element carries a kernel timeout equal to the time left, so a
// restriction ends on time even if the daemon is not running. Changes are
// sent as the difference from the last applied Snapshot, in one atomic
// netlink batch; the whole table is built only by the first Apply and when
// Verify finds it changed behind curfew's back.
//
// Where the kernel has the flags (Linux 6.9 and later), the table is owned
// by the Backend's netlink socket (NFT_TABLE_F_OWNER), so that another
// process's `nft flush ruleset` skips it and may not change it, and
// persists when that socket closes (NFT_TABLE_F_PERSIST), for the next
// Backend to adopt; elsewhere Watch reports changes to it as they happen.
//
// Everything it installs lives in that table; Close deletes the table. The
// package works only on Linux.
package netfilter
