package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie's name.
const cookieName = "curfew_session"

// maxSessions bounds the sessions kept at once; signing in beyond it ends
// the oldest.
const maxSessions = 1000

// session is one signed-in browser. Its fields but flash and changed are
// set at sign-in and never change.
type session struct {
	id      string // the SHA-256 of the cookie's secret, hex; the secret itself is not kept
	name    string // the operator
	csrf    string // the token every form of the session carries
	created time.Time
	expires time.Time

	mu      sync.Mutex // guards the fields below
	oneTime bool       // signed in with a one-time password: must choose one first
	flash   *flash     // a message for the next page, shown once
}

// flash is a message for the next page the session sees.
type flash struct {
	OK   bool
	Text string
	// Secret is shown once, to be copied: a new token or a one-time
	// password.
	Secret string
}

func (s *session) checkCSRF(token string) bool { return sameToken(token, s.csrf) }

func (s *session) mustChange() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oneTime
}

func (s *session) changed() {
	s.mu.Lock()
	s.oneTime = false
	s.mu.Unlock()
}

func (s *session) setFlash(f *flash) {
	s.mu.Lock()
	s.flash = f
	s.mu.Unlock()
}

func (s *session) takeFlash() *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// sessions keeps the console's sessions in memory: a daemon restart signs
// everyone out, which is the safe way round.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex          // guards m
	m  map[string]*session // by id
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]*session{}}
}

// create starts a session for operator name and returns the cookie's
// secret.
func (ss *sessions) create(name string, oneTime bool) (*session, string) {
	secret, csrf := randomToken(), randomToken()
	now := ss.now()
	s := &session{id: hashID(secret), name: name, csrf: csrf, created: now, expires: now.Add(ss.ttl), oneTime: oneTime}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var oldest *session
	for id, o := range ss.m {
		if !now.Before(o.expires) {
			delete(ss.m, id)
			continue
		}
		if oldest == nil || o.created.Before(oldest.created) {
			oldest = o
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldest.id)
	}
	ss.m[s.id] = s
	return s, secret
}

// get returns the live session of r's cookie, or nil.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	id := hashID(c.Value)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

// drop ends session id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

// dropOperator ends every session of operator name.
func (ss *sessions) dropOperator(name string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		if s.name == name {
			delete(ss.m, id)
		}
	}
}

// setCookie gives the browser the session's cookie: HttpOnly,
// SameSite=Strict, Secure over TLS, expiring with the session.
func setCookie(w http.ResponseWriter, r *http.Request, s *session, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: secret, Path: "/",
		Expires: s.expires, MaxAge: int(s.expires.Sub(s.created).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// clearCookie tells the browser to forget its session cookie.
func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
