package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Login is what the console needs to sign operators in: access.Registry
// implements it.
type Login interface {
	// Verify checks an operator's console password and returns the
	// operator; errors wrap curfew.ErrUnauthenticated or are a
	// *curfew.LimitError for a source that failed too often.
	Verify(ctx context.Context, src netip.Addr, name, password string) (*curfew.Operator, error)
	// ChangePassword sets name's password after checking current.
	ChangePassword(ctx context.Context, src netip.Addr, name, current, password string) error
	// Actor returns what operator name may do now, or an error wrapping
	// curfew.ErrUnauthenticated once it is disabled.
	Actor(ctx context.Context, name string) (curfew.Actor, error)
}

// Health is what the Health page shows about the running gateway. The
// daemon fills it; every field may be zero when the daemon does not know.
type Health struct {
	Version string
	Started time.Time

	Table TableHealth
	// DNS counts the resolver's recent clients and their queries.
	DNS DNSHealth
	// Upstreams are the resolver's upstream servers, in the configured
	// order.
	Upstreams []UpstreamHealth
}

// TableHealth says whether the kernel's nftables table matches what the
// store says must be enforced.
type TableHealth struct {
	Name     string    // the table, such as "inet curfew"
	Checked  time.Time // the last comparison with the store's state; zero before the first
	InSync   bool      // nothing differed at Checked
	Repaired int       // objects the last check found changed and repaired
	Err      string    // why the last check failed, if it did
}

// DNSHealth sums the resolver's recent per-client figures.
type DNSHealth struct {
	Running bool
	Clients int
	Queries int64
	Refused int64
}

// UpstreamHealth is what the last exchange with one upstream resolver
// said.
type UpstreamHealth struct {
	Addr string
	Last time.Time // zero if the resolver has not asked it yet
	OK   bool      // the last exchange got an answer
	Took time.Duration
	Err  string
}

// Config configures a Console.
type Config struct {
	// Service does the work, with the signed-in operator in each call's
	// context. It must not be nil.
	Service curfew.Service
	// Accounts lists and manages operators and tokens. It must not be nil.
	Accounts curfew.Accounts
	// Login signs operators in. It must not be nil.
	Login Login
	// Logger receives internal errors. It must not be nil.
	Logger *slog.Logger
	// Now returns the current time; the default is time.Now.
	Now func() time.Time
	// Zone is the time zone pages show times in unless the operator picks
	// another; the default is UTC.
	Zone *time.Location
	// Health, if not nil, fills the Health page.
	Health func(ctx context.Context) *Health
	// SessionTTL is how long a session lasts from sign-in; the default is
	// 12 hours.
	SessionTTL time.Duration
}

// Console serves the console. Create it with New.
type Console struct {
	svc      curfew.Service
	acc      curfew.Accounts
	login    Login
	logger   *slog.Logger
	now      func() time.Time
	zone     *time.Location
	health   func(ctx context.Context) *Health
	sessions *sessions
	pages    map[string]*pageTemplate
	handler  http.Handler

	verifyMu sync.Mutex          // guards the fields below
	verified *curfew.AuditReport // the last verification of the audit chain that found it intact
	verifyAt time.Time           // when it ran
}

// New validates c and returns the console's handler, to be served at /
// beside the API under /api/v1/.
func New(c *Config) (*Console, error) {
	switch {
	case c == nil:
		return nil, errors.New("web: nil config")
	case c.Service == nil:
		return nil, errors.New("web: nil service")
	case c.Accounts == nil:
		return nil, errors.New("web: nil accounts")
	case c.Login == nil:
		return nil, errors.New("web: nil login")
	case c.Logger == nil:
		return nil, errors.New("web: nil logger")
	case c.SessionTTL < 0:
		return nil, fmt.Errorf("web: negative session lifetime %s", c.SessionTTL)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	con := &Console{
		svc: c.Service, acc: c.Accounts, login: c.Login, logger: c.Logger,
		now: c.Now, zone: c.Zone, health: c.Health, pages: pages,
	}
	if con.now == nil {
		con.now = time.Now
	}
	if con.zone == nil {
		con.zone = time.UTC
	}
	ttl := c.SessionTTL
	if ttl == 0 {
		ttl = 12 * time.Hour
	}
	con.sessions = newSessions(ttl, con.now)

	mux := http.NewServeMux()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /login", con.loginPage)
	mux.HandleFunc("POST /login", con.loginSubmit)
	for _, rt := range con.routes() {
		mux.Handle(rt.Method+" "+rt.Path, con.authed(rt))
	}
	mux.HandleFunc("/", con.notFound)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		con.refuse(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	con.handler = secureHeaders(cop.Handler(mux))
	return con, nil
}

// ServeHTTP implements [http.Handler].
func (con *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	con.handler.ServeHTTP(w, r)
}

// A Route is one page or action of the console. POST routes change state:
// they need the page's CSRF token and the role of Op.
type Route struct {
	Method string
	Path   string
	Op     curfew.Op // the operation whose role it needs
}

type route struct {
	Route
	serve func(w http.ResponseWriter, r *http.Request, p *page)
}

// Routes returns every route the console serves after sign-in.
func Routes() []Route {
	var out []Route
	for _, rt := range (&Console{}).routes() {
		out = append(out, rt.Route)
	}
	return out
}

// routes is the console's one route table: every page and action a
// signed-in operator reaches, with the operation whose role it needs.
func (con *Console) routes() []route {
	r := func(method, path string, op curfew.Op, serve func(http.ResponseWriter, *http.Request, *page)) route {
		return route{Route{Method: method, Path: path, Op: op}, serve}
	}
	return []route{
		r("GET", "/{$}", curfew.OpRead, con.nowPage),
		r("GET", "/restrict", curfew.OpRead, con.restrictPage),
		r("GET", "/restrict/subjects", curfew.OpRead, con.subjectList),
		r("POST", "/restrict/preview", curfew.OpRestrict, con.restrictPreview),
		r("POST", "/restrict", curfew.OpRestrict, con.restrictSubmit),
		r("POST", "/restrictions/{id}/lift", curfew.OpLift, con.lift),
		r("POST", "/restrictions/{id}/extend", curfew.OpExtend, con.extend),
		r("POST", "/restrictions/{id}/approve", curfew.OpApprove, con.approve),
		r("POST", "/restrictions/{id}/reject", curfew.OpReject, con.reject),
		r("GET", "/people", curfew.OpRead, con.peoplePage),
		r("POST", "/persons", curfew.OpAddPerson, con.addPerson),
		r("POST", "/persons/{name}/remove", curfew.OpRemovePerson, con.removePerson),
		r("POST", "/devices", curfew.OpAddDevice, con.addDevice),
		r("POST", "/devices/{mac}/remove", curfew.OpRemoveDevice, con.removeDevice),
		r("GET", "/seen", curfew.OpRead, con.seenPage),
		r("GET", "/schedules", curfew.OpRead, con.schedulesPage),
		r("POST", "/schedules", curfew.OpAddSchedule, con.addSchedule),
		r("POST", "/schedules/{id}/remove", curfew.OpRemoveSchedule, con.removeSchedule),
		r("POST", "/devices/{mac}/approve", curfew.OpApproveDevice, con.approveDevice),
		r("POST", "/groups", curfew.OpAddGroup, con.addGroup),
		r("POST", "/groups/{name}/members", curfew.OpGroupMember, con.addMember),
		r("POST", "/groups/{name}/members/remove", curfew.OpGroupMember, con.removeMember),
		r("GET", "/accountability", curfew.OpRead, con.accountabilityPage),
		r("GET", "/report", curfew.OpRead, con.reportPage),
		r("POST", "/appeals/{id}/answer", curfew.OpAnswer, con.answerAppeal),
		r("POST", "/operators", curfew.OpAddOperator, con.addOperator),
		r("POST", "/operators/{name}/disable", curfew.OpDisableOperator, con.disableOperator),
		r("POST", "/operators/{name}/password", curfew.OpResetPassword, con.resetPassword),
		r("POST", "/tokens", curfew.OpCreateToken, con.createToken),
		r("POST", "/tokens/{name}/revoke", curfew.OpRevokeToken, con.revokeToken),
		r("GET", "/health", curfew.OpRead, con.healthPage),
		r("GET", "/password", curfew.OpRead, con.passwordPage),
		r("POST", "/password", curfew.OpRead, con.passwordSubmit),
		r("POST", "/prefs", curfew.OpRead, con.prefs),
		r("POST", "/logout", curfew.OpRead, con.logout),
	}
}

// page is one signed-in request: its session, the operator as it is now,
// and how to show things to it.
type page struct {
	sess  *session
	actor curfew.Actor
	lang  *catalog
	zone  *time.Location
	now   time.Time
}

// authed runs rt for a signed-in operator: it finds the session, asks
// Login who the operator is now (a disabled one's session ends here),
// checks the route's role and, for a POST, the CSRF token, then calls the
// handler with the operator in the request's context.
func (con *Console) authed(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := con.sessions.get(r)
		if sess == nil {
			con.toLogin(w, r, "")
			return
		}
		actor, err := con.login.Actor(r.Context(), sess.name)
		if err != nil {
			con.sessions.drop(sess.id)
			clearCookie(w, r)
			if errors.Is(err, curfew.ErrUnauthenticated) {
				con.toLogin(w, r, "signed.out")
				return
			}
			con.internal(w, r, err)
			return
		}
		p := &page{sess: sess, actor: actor, lang: pickLang(r), zone: con.zoneOf(r), now: con.now()}
		if rt.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				con.refuse(w, r, http.StatusBadRequest, "malformed form: "+err.Error())
				return
			}
			if !sess.checkCSRF(r.PostForm.Get("csrf")) {
				con.refuse(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
				return
			}
		}
		if sess.mustChange() && rt.Path != "/password" && rt.Path != "/logout" && rt.Path != "/prefs" {
			http.Redirect(w, r, "/password", http.StatusSeeOther)
			return
		}
		ctx := curfew.WithActor(r.Context(), actor)
		if _, err := curfew.Permit(ctx, rt.Op); err != nil {
			con.refuse(w, r, http.StatusForbidden, err.Error())
			return
		}
		if rt.Method == http.MethodPost {
			ctx = withFormKey(ctx, r)
		}
		rt.serve(w, r.WithContext(ctx), p)
	})
}

// withFormKey makes a form's submission idempotent: every form carries a
// key of its own (see page.FormKey), so a form sent twice (a double
// click, a reload after the answer was lost) changes once.
func withFormKey(ctx context.Context, r *http.Request) context.Context {
	key := r.PostForm.Get("key")
	if key == "" || curfew.CheckRequestKey(key) != nil {
		return ctx
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "console %s %s\n", r.Method, r.URL.EscapedPath())
	names := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		if k != "csrf" && k != "key" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(sum, "%q=%q\n", k, r.PostForm[k])
	}
	return curfew.WithRequestKey(ctx, curfew.RequestKey{Key: "console-" + key, Fingerprint: hex.EncodeToString(sum.Sum(nil))})
}

// toLogin sends a browser to the login page, keeping where it was going.
func (con *Console) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.RequestURI())
	}
	if why != "" {
		q.Set("why", why)
	}
	target := "/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if r.Method != http.MethodGet {
		// A form sent without a session changes nothing.
		con.refuse(w, r, http.StatusForbidden, "not signed in: sign in at /login and send the form again")
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// contentSecurityPolicy allows the console's own style sheet and script
// and nothing else: no inline script or style, no frames, forms and the
// picker's search only to the console itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every answer of the console carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// staticHandler serves the embedded style sheet and script.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// remoteAddr returns the peer address of the connection, never a header.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
