// Package api is curfew's JSON-over-HTTP interface under /api/v1/: the
// server side (NewHandler, which serves a curfew.Service and curfew.Accounts
// to operators holding a bearer token), the client side (Client, which
// implements both by calling that server), and the wire types both exchange.
//
// The wire types are the stable, machine-read form of curfew's objects:
// snake_case fields, RFC 3339 UTC times, arrays never null. The document
// served at /api/v1/openapi.json describes them.
package api
