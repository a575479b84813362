// Package identify tells the enforcers that see a client only by the
// source address of its packets (the resolver and the notice server) who
// that client is, and which of a Snapshot's restrictions apply to it.
//
// A Table keeps, in memory, the gateway's view of its LAN: the neighbour
// table (ARP and NDP) and DHCP leases mapping addresses to MACs, the LAN
// interfaces' on-link prefixes and the gateway's own addresses. It is fed
// by netlink events, so Identify, called on the path of every query, is a
// map read that never waits for the kernel. An address on a LAN link whose
// MAC is not known yet is Unknown; Wait lets a caller off the packet path
// (a bounded number at once, for a bounded time) give the kernel a moment
// to resolve it.
//
// A Policy is a Snapshot compiled for matching Clients. Every enforcer
// uses the same Policy, so they agree on which restrictions apply to a
// client: its device's (by MAC or by a statically known address) and every
// ip: prefix holding its address. A Policy fails closed: an Unknown client,
// while some device is restricted, is reported as unplaced, and enforcers
// answer it as restricted until it can be placed.
package identify
