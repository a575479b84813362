package web

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// pageTemplate is one page: the layout with the page's own content.
type pageTemplate struct{ t *template.Template }

// pageNames are the templates besides the layout, one per page.
var pageNames = []string{"login", "now", "restrict", "people", "seen", "schedules", "accountability", "report", "health", "password", "error"}

func parsePages() (map[string]*pageTemplate, error) {
	pages := map[string]*pageTemplate{}
	funcs := template.FuncMap{
		"join":  strings.Join,
		"add":   func(a, b int) int { return a + b },
		"upper": strings.ToUpper,
		// slice2 passes the view and a row to a template of its own.
		"slice2": func(a, b any) []any { return []any{a, b} },
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", path.Join("templates", name+".html"))
		if err != nil {
			return nil, fmt.Errorf("web: parsing template %s: %w", name, err)
		}
		pages[name] = &pageTemplate{t}
	}
	return pages, nil
}

// view is what every page's template gets: who is looking, in which
// language and zone, and the page's own Data.
type view struct {
	Title   string
	Nav     string // the menu entry of the page
	Actor   curfew.Actor
	Signed  bool // an operator is signed in (not the login page)
	CSRF    string
	Lang    *catalog
	Langs   []*catalog
	Zone    *time.Location
	Now     time.Time
	Flash   *flash
	Operate bool // the operator may change restrictions, devices, appeals
	Admin   bool // the operator may manage operators and tokens
	Data    any
}

// T translates the English text s.
func (v *view) T(s string) string { return v.Lang.T(s) }

// Tf translates the English format s and fills it in.
func (v *view) Tf(s string, args ...any) string { return fmt.Sprintf(v.Lang.T(s), args...) }

// Time shows t in the page's zone, with the UTC instant on hover and in
// the datetime attribute. Pages show many, so it appends rather than
// formats.
func (v *view) Time(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	b := make([]byte, 0, 112)
	b = append(b, `<time datetime="`...)
	b = u.AppendFormat(b, time.RFC3339)
	b = append(b, `" title="`...)
	b = u.AppendFormat(b, "2006-01-02 15:04:05 UTC")
	b = append(b, `">`...)
	b = append(b, template.HTMLEscapeString(t.In(v.Zone).Format("2006-01-02 15:04 MST"))...)
	b = append(b, "</time>"...)
	return template.HTML(b)
}

// Left shows how long until t, as a countdown the console's script makes
// tick; without the script it is the time left when the page was made.
func (v *view) Left(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(v.Now)
	return template.HTML(fmt.Sprintf(`<span class="left" data-end="%s">%s</span>`,
		t.UTC().Format(time.RFC3339), template.HTMLEscapeString(span(d))))
}

// Dur shows a duration the way Left does.
func (v *view) Dur(d time.Duration) string { return span(d) }

// span writes d as days, hours, minutes and (under an hour) seconds.
func span(d time.Duration) string {
	if d <= 0 {
		return "0 s"
	}
	d = d.Round(time.Second)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, s)
	}
	return fmt.Sprintf("%d s", s)
}

// Key returns a new idempotency key for one form.
func (v *view) Key() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Local formats t in the page's zone for a datetime-local input.
func (v *view) Local(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.Zone).Format("2006-01-02T15:04")
}

// newView returns the view of a page for p.
func (con *Console) newView(p *page, title, nav string, data any) *view {
	v := &view{Title: title, Nav: nav, Lang: languages[0], Langs: languages, Zone: con.zone, Now: con.now(), Data: data}
	if p != nil {
		v.Signed, v.Actor, v.CSRF, v.Lang, v.Zone, v.Now = true, p.actor, p.sess.csrf, p.lang, p.zone, p.now
		v.Flash = p.sess.takeFlash()
		v.Operate = p.actor.Role.Allows(curfew.RoleOperator)
		v.Admin = p.actor.Role.Allows(curfew.RoleAdmin)
	}
	return v
}

// render writes the page name with v, with status. It renders into a
// buffer first, so a template error is a clean 500.
func (con *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := con.pages[name].t.ExecuteTemplate(&buf, "layout", v); err != nil {
		con.logger.ErrorContext(r.Context(), "rendering page", "page", name, "err", err)
		http.Error(w, "internal error; see the curfew daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang.Tag)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorData is what the error page shows.
type errorData struct {
	Status int
	Text   string
}

// refuse answers a request the console will not carry out with status
// and a page saying why. Nothing was changed.
func (con *Console) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	v := con.newView(nil, http.StatusText(status), "", errorData{Status: status, Text: why})
	v.Lang = pickLang(r)
	con.render(w, r, status, "error", v)
}

// internal answers an error of the service or the store: logged with its
// detail, answered with a generic page.
func (con *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	con.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	con.refuse(w, r, http.StatusInternalServerError, "internal error; see the curfew daemon's log")
}

func (con *Console) notFound(w http.ResponseWriter, r *http.Request) {
	con.refuse(w, r, http.StatusNotFound, "no page "+r.URL.Path)
}

// errorKinds maps curfew's error kinds to the status the console answers
// them with; anything else is internal.
var errorKinds = []struct {
	err    error
	status int
}{
	{curfew.ErrInvalid, http.StatusBadRequest},
	{curfew.ErrNotFound, http.StatusNotFound},
	{curfew.ErrConflict, http.StatusConflict},
	{curfew.ErrUnauthenticated, http.StatusUnauthorized},
	{curfew.ErrForbidden, http.StatusForbidden},
	{curfew.ErrRateLimited, http.StatusTooManyRequests},
	{curfew.ErrKeyReused, http.StatusUnprocessableEntity},
}

// status returns the status of err, and false for an internal error.
func status(err error) (int, bool) {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.status, true
		}
	}
	return http.StatusInternalServerError, false
}

// done ends an action: on success it goes to back with ok as the next
// page's message; a refusal of the service goes back with its reason; an
// internal error is a 500 page.
func (con *Console) done(w http.ResponseWriter, r *http.Request, p *page, back string, err error, ok string) {
	if err != nil {
		if _, known := status(err); !known {
			con.internal(w, r, err)
			return
		}
		p.sess.setFlash(&flash{Text: err.Error()})
	} else {
		p.sess.setFlash(&flash{OK: true, Text: ok})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// zoneOf returns the zone r's operator picked, else the console's.
func (con *Console) zoneOf(r *http.Request) *time.Location {
	if c, err := r.Cookie(zoneCookie); err == nil && c.Value != "" && len(c.Value) < 64 {
		if z, err := time.LoadLocation(c.Value); err == nil {
			return z
		}
	}
	return con.zone
}

// zoneCookie remembers the time zone an operator picked.
const zoneCookie = "curfew_zone"

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// curfewInvalid returns an error of kind curfew.ErrInvalid.
func curfewInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", curfew.ErrInvalid, fmt.Sprintf(format, args...))
}
