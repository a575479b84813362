package curfew

import (
	"net/netip"
	"time"
)

// DNSQuery is one query answered by curfew's resolver, as its query log
// keeps it.
type DNSQuery struct {
	At       time.Time
	Client   netip.Addr
	Name     string // lower case, fully qualified
	Type     string // "A", "AAAA", …
	Result   string // forwarded, cached, restricted, blocked, canary, failed, invalid
	Rcode    string // "NOERROR", "NXDOMAIN", …
	Duration time.Duration
}

// DNSClient counts one client's queries since the resolver started.
type DNSClient struct {
	Client  netip.Addr
	Queries uint64
	Refused uint64 // refused by a restriction or a network-wide blocklist
	Last    time.Time
}
