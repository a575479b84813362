package resolver

import (
	"net/netip"
	"time"
)

// A Result is how a query was answered.
type Result uint8

// The results, as counted by Metrics and shown in the query log.
const (
	ResultForwarded  Result = iota // an upstream answered it
	ResultCached                   // the cache answered it
	ResultRestricted               // the client's restriction refused the name
	ResultBlocked                  // a network-wide blocklist lists the name
	ResultCanary                   // Firefox's canary domain, NXDOMAIN
	ResultFailed                   // no upstream answered: SERVFAIL
	ResultInvalid                  // malformed or unsupported query: an error code
	ResultDropped                  // from outside the LAN, or from a LAN address the gateway cannot reach: no answer
	ResultStale                    // no upstream answered; the cache gave an expired answer (RFC 8767)
)

var resultNames = [...]string{"forwarded", "cached", "restricted", "blocked", "canary", "failed", "invalid", "dropped", "stale"}

// String returns the result's name, suitable as a metric label.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// Metrics receives the resolver's measurements. The daemon implements it
// with Prometheus; its methods are called on the query path, concurrently,
// and must be fast.
type Metrics interface {
	// Query counts one answered query by how it was answered: all queries
	// are the sum over results, cache hits are ResultCached, blocked are
	// ResultRestricted and ResultBlocked.
	Query(Result)
	// Upstream observes one exchange with an upstream: how long it took
	// and, if it failed (timeout, network error, mismatched answer), why.
	Upstream(server netip.AddrPort, d time.Duration, err error)
}

type nopMetrics struct{}

func (nopMetrics) Query(Result)                                  {}
func (nopMetrics) Upstream(netip.AddrPort, time.Duration, error) {}
