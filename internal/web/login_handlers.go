package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// loginData is what the login page shows.
type loginData struct {
	Name  string
	Next  string
	Error string
}

// safeNext returns next if it is a path of the console, else "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) ||
		strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (con *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	d := loginData{Next: safeNext(r.URL.Query().Get("next"))}
	lang := pickLang(r)
	switch r.URL.Query().Get("why") {
	case "signed.out":
		d.Error = lang.T("Your session has ended: sign in again.")
	case "bye":
		d.Error = lang.T("Signed out.")
	}
	v := con.newView(nil, "Sign in", "", d)
	v.Lang = lang
	con.render(w, r, http.StatusOK, "login", v)
}

// loginSubmit serves POST /login: the form fields name and password. A
// right pair gets a new session cookie and goes on to the page it came
// for, or to choose a password if it signed in with a one-time one.
func (con *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		con.refuse(w, r, http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	name, password := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("password")
	d := loginData{Name: name, Next: safeNext(r.PostForm.Get("next"))}
	v := con.newView(nil, "Sign in", "", &d)
	v.Lang = pickLang(r)
	if name == "" || password == "" {
		d.Error = v.T("Give your name and your password.")
		con.render(w, r, http.StatusBadRequest, "login", v)
		return
	}
	op, err := con.login.Verify(r.Context(), remoteAddr(r), name, password)
	if err != nil {
		var le *curfew.LimitError
		switch {
		case errors.As(err, &le):
			d.Error = err.Error()
			w.Header().Set("Retry-After", itoa(int64(le.Wait/time.Second)+1))
			con.render(w, r, http.StatusTooManyRequests, "login", v)
		case errors.Is(err, curfew.ErrUnauthenticated):
			d.Error = v.T("Wrong name or password.")
			con.render(w, r, http.StatusUnauthorized, "login", v)
		default:
			con.internal(w, r, err)
		}
		return
	}
	s, secret := con.sessions.create(op.Name, op.Password == curfew.PasswordOneTime)
	setCookie(w, r, s, secret)
	con.logger.InfoContext(r.Context(), "console sign-in", "operator", op.Name, "source", remoteAddr(r))
	if s.mustChange() {
		http.Redirect(w, r, "/password", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// logout ends the session.
func (con *Console) logout(w http.ResponseWriter, r *http.Request, p *page) {
	con.sessions.drop(p.sess.id)
	clearCookie(w, r)
	http.Redirect(w, r, "/login?why=bye", http.StatusSeeOther)
}

// passwordData is what the password page shows.
type passwordData struct {
	OneTime bool
	Error   string
}

func (con *Console) passwordPage(w http.ResponseWriter, r *http.Request, p *page) {
	con.render(w, r, http.StatusOK, "password", con.newView(p, "Password", "", passwordData{OneTime: p.sess.mustChange()}))
}

// passwordSubmit changes the operator's own console password.
func (con *Console) passwordSubmit(w http.ResponseWriter, r *http.Request, p *page) {
	f := r.PostForm
	d := passwordData{OneTime: p.sess.mustChange()}
	v := con.newView(p, "Password", "", &d)
	if f.Get("new") != f.Get("confirm") {
		d.Error = v.T("The two new passwords differ.")
		con.render(w, r, http.StatusBadRequest, "password", v)
		return
	}
	err := con.login.ChangePassword(r.Context(), remoteAddr(r), p.sess.name, f.Get("current"), f.Get("new"))
	if err != nil {
		st, known := status(err)
		if !known {
			con.internal(w, r, err)
			return
		}
		d.Error = err.Error()
		if errors.Is(err, curfew.ErrUnauthenticated) {
			d.Error = v.T("The current password is wrong.")
		}
		con.render(w, r, st, "password", v)
		return
	}
	p.sess.changed()
	p.sess.setFlash(&flash{OK: true, Text: p.lang.T("Password changed.")})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// prefs remembers the operator's language and time zone in cookies.
func (con *Console) prefs(w http.ResponseWriter, r *http.Request, p *page) {
	f := r.PostForm
	year := 365 * 24 * time.Hour
	if tag := f.Get("lang"); tag != "" {
		if langByTag(tag) == nil {
			con.refuse(w, r, http.StatusBadRequest, "unknown language "+tag)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: tag, Path: "/", MaxAge: int(year.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	if z := strings.TrimSpace(f.Get("zone")); z != "" {
		if _, err := time.LoadLocation(z); err != nil || len(z) >= 64 {
			con.done(w, r, p, safeNext(f.Get("back")), curfewInvalid("unknown time zone %q: give a name such as Europe/Madrid or UTC", z), "")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: zoneCookie, Value: z, Path: "/", MaxAge: int(year.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	http.Redirect(w, r, safeNext(f.Get("back")), http.StatusSeeOther)
}
