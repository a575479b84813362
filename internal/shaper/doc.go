// Package shaper holds throttled clients to their rate in the Linux kernel:
// an nftables table of its own (inet curfew_shaper) gives each packet of a
// throttled device or routed prefix the traffic-control class of its
// subject, and an HTB qdisc on the egress of every LAN interface (the
// subject's downloads) and every WAN interface (its uploads) holds each
// class to its rate, IPv4 and IPv6 alike.
//
// The table's maps carry each subject's end as an element timeout, so a
// throttle ends on time with the daemon dead: once the element has timed
// out, the subject's packets are no longer classified and HTB sends them
// unshaped. Traffic of unthrottled clients is never classified and goes
// through HTB's direct queue.
//
// Everything it installs (the table and the root qdiscs it added) goes
// away when nothing is throttled any more, and at Close.
package shaper
