package notice

import (
	"encoding/json"
	"net/http"
	"time"
)

// captiveState is the RFC 8908 section 5 API state. Only the keys curfew
// can answer truthfully are sent: there is nothing to log in to, so no
// can-extend-session, and no venue.
type captiveState struct {
	Captive          bool   `json:"captive"`
	UserPortalURL    string `json:"user-portal-url,omitempty"`
	SecondsRemaining *int64 `json:"seconds-remaining,omitempty"`
}

// captive serves the captive-portal API: captive is true while the client
// cannot reach some of the internet (any reach but open: a throttled
// client is not captive), with the seconds until its last restriction
// ends, or, for one throttled beyond, until its reach is open again
// (rounded up, so a client never re-checks a moment too early).
func (s *Server) captive(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	var st captiveState
	if until, ok := s.captiveUntil(r, now); ok {
		left := until.Sub(now)
		secs := int64((left + time.Second - 1) / time.Second)
		st = captiveState{Captive: true, UserPortalURL: s.cfg.PortalURL, SecondsRemaining: &secs}
	}
	b, err := json.Marshal(st)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "encoding captive state", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	noStore(w)
	w.Header().Set("Content-Type", "application/captive+json")
	w.Write(append(b, '\n'))
}

// captiveUntil reports whether the client of r is captive at now, and
// until when.
func (s *Server) captiveUntil(r *http.Request, now time.Time) (time.Time, bool) {
	e := s.client(r, now)
	if e == nil {
		return time.Time{}, false
	}
	until, ok := captiveUntil(e)
	return until, ok && until.After(now)
}
