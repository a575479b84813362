// Package web serves curfew's console: server-rendered pages over
// curfew.Service and curfew.Accounts, the same calls, permission checks and
// audit path as the API, for operators who would rather click than type.
//
// Its templates, style sheet, translations and one small script are
// embedded, so the curfew binary carries the whole console; every page
// reads and works without JavaScript (the script only makes countdowns
// tick). Operators sign in with their console password (POST /login); the
// session lives in the daemon's memory, in an HttpOnly, SameSite=Strict
// cookie that expires, and ends at the operator's next request once it is
// disabled. Every state-changing request carries the page's CSRF token and
// passes http.CrossOriginProtection; one without the token gets 403 and
// changes nothing. Pages are sent with a strict Content-Security-Policy.
package web
