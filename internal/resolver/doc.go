// Package resolver is curfew's filtering DNS resolver, the enforcement layer
// that makes partial restrictions possible. It answers LAN clients on UDP and
// TCP, forwards what it may to the configured upstreams with failover
// (over a few long-lived sockets per upstream, random ports and IDs,
// answers matched by ID and question), a TTL-honouring cache bounded in
// bytes that a scan of new names does not flush and that answers stale
// when the upstreams do not (RFC 8767), and coalescing of identical
// queries, and applies two kinds of policy:
//
//   - per client, from the curfew.Snapshot given to Apply: a cut-off client
//     gets the notice address for every name and none of its queries reaches
//     an upstream; a blocklist client gets the notice address for the blocked
//     names and their subdomains; an allowlist client resolves only the
//     allowed names and their subdomains, and every address it is given is
//     reported through Config.OnAllowed so the firewall can open exactly that
//     destination for the record's TTL.
//   - network-wide, from the blocklists in Config.Blocklists (hosts files,
//     plain domain lists and adblock "||domain^" rules): a listed name and its
//     subdomains answer 0.0.0.0 and :: (a "null" answer rather than the notice
//     address, because these are ads and trackers embedded in pages the
//     client chose to visit, not a restriction of the client).
//
// Every refused or rewritten answer carries an RFC 8914 Extended DNS Error:
// Prohibited (18) when the client's own restriction refuses the name (cut
// off, or outside its walled garden), Blocked (15) when a blocklist does. For
// restricted clients its text says the access is restricted on purpose and
// until when.
//
// The Firefox canary domain use-application-dns.net answers NXDOMAIN for
// every client, restricted or not: the gateway redirects all DNS to this
// resolver so that network-wide blocklists and later restrictions apply, and
// a browser that switched to its own DNS-over-HTTPS resolver would escape
// both.
//
// The resolver never reads the store, and reads the clock only through
// Config.Now; everything it enforces comes from the last applied Snapshot,
// kept in an atomic.Pointer so queries never wait for Apply.
package resolver
