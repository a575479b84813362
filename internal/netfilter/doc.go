// Package netfilter enforces a curfew.Snapshot in the Linux kernel: it keeps
// one nftables table (inet "curfew") whose sets hold the cut-off devices (by
// MAC) and addresses (ip: subjects), refuses forwarded traffic from and to
// them, and flushes the conntrack entries of targets that have just become
// restricted.
//
// Every set element carries a kernel timeout equal to the time left, so a
// restriction ends on time even if the daemon is not running. Changes are
// sent as the difference from the last applied Snapshot, in one atomic
// netlink batch; the whole table is built only by the first Apply and when
// Verify finds it changed behind curfew's back.
//
// Everything it installs lives in that table; Close deletes the table. The
// package works only on Linux.
package netfilter
