//go:build integration

// Package integration runs the whole curfew binary on a simulated network
// (internal/lab): `curfew daemon` in a gateway namespace, clients on its
// LAN, an upstream "internet", and checks from the clients what an operator
// relies on: who is cut off and who is not, over IPv4 and IPv6; how fast
// connections are refused and established ones cut; what the resolver
// answers each kind of client, whichever resolver address it asks, and
// which queries reach the upstream; the notice page, the captive-portal API
// and the refusal of HTTPS and DoT; expiry with the daemon dead; repair of
// a tampered ruleset; the audit chain; the CLI's usage errors; and `curfew
// lab --demo`.
//
// The tests drive curfew only as a user would: through the built binary's
// CLI and its HTTP API. They need root and network namespaces; without them
// they skip, unless CURFEW_REQUIRE_NETNS=1, which makes them fail.
//
//	go test -tags=integration ./integration
package integration
