// Package notice tells a restricted person, on their own device, that the
// network's operator restricted its internet access on purpose: it is the
// captive notice page, the RFC 8908 captive-portal API and the bulletin of
// headlines the gateway fetched for them.
//
// A Server is an enforce.Backend. Apply keeps the latest curfew.Snapshot in
// an atomic.Pointer, so requests never wait for Apply; a request's client is
// placed by its source address through Config.Identify and matched with
// the identify package's Policy, the same way the resolver matches it. The server reads the clock only through
// Config.Now and never reads the store.
//
// The server answers every path on every Host, because the firewall sends a
// restricted client's plain HTTP (port 80, any destination) to it:
//
//   - GET /captive-portal/api is the RFC 8908 API: application/captive+json
//     saying whether this client is captive and for how many seconds.
//   - A request for the portal itself (its Host is the host of
//     Config.PortalURL, or the address the connection arrived on) gets the
//     page with 200 OK: for a restricted client the notice, for another a
//     short page saying it is not restricted.
//   - A redirected GET or HEAD from a restricted client, whose Host is some
//     other site, gets 302 Found to Config.PortalURL. Every operating
//     system's captive-portal probe (Android, Apple, Windows, ChromeOS,
//     Firefox) treats a redirect as "this network has a portal" and opens
//     that URL in its sign-in window, and Android ignores a 511. Browsers
//     follow it to the page. With no PortalURL the page is served in place
//     with 200, which the probes also read as a portal.
//   - POST /appeal is the page's form to ask the operator (field
//     "message", at most curfew.MaxAppealLen characters): only a
//     restricted client may post, through Config.Appeal, which the daemon
//     wires to the engine; anyone else gets 403. A post from another
//     origin (http.CrossOriginProtection reads Sec-Fetch-Site and Origin)
//     is refused, so a site the person opens cannot post in their name.
//     Success answers 303 See Other to the page, which shows the client's
//     latest appeals and their answers, read through Config.Appeals at
//     each request, as plain text.
//   - A redirected request with another method (an app's POST, say) gets
//     511 Network Authentication Required with the page as its body (RFC
//     6585): the app fails at once with a status that cannot be taken for
//     the origin's answer, and no request body is replayed elsewhere.
//
// Every answer carries Cache-Control: no-store, so nothing the portal said
// is kept once the restriction ends. The page has no JavaScript. Its strings
// live in one embedded JSON file per language (lang/*.json); the language is
// chosen by Accept-Language or a lang query parameter. Times are shown in
// UTC and, when known, in the client's zone, which the person picks in a
// small form remembered in a cookie.
//
// A Bulletin fetches the RSS and Atom feeds the operator chose, on a
// schedule and through the gateway's own connection, and keeps the last
// good headlines of each, which the page shows; a failing feed never breaks
// the page.
package notice
