package notice

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/curfew/curfew/internal/curfew"
)

// maxAppealBody bounds the body of POST /appeal: room for a message of
// curfew.MaxAppealLen characters of four UTF-8 bytes each, every byte
// percent-encoded, and little else.
const maxAppealBody = 32 << 10

// shownAppeals is how many of its latest appeals a client's page shows.
const shownAppeals = 5

// A formError is why the form of a posted appeal was refused: the status
// of the answer and the page's string saying so.
type formError struct {
	status int
	key    string // of the lang catalogs
	err    error
}

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// readAppeal returns the message of an appeal form, a body of type
// application/x-www-form-urlencoded whose one "message" field is the text,
// cleaned by curfew.CleanAppealText. Other fields are ignored. It reads at
// most maxAppealBody bytes of body. Its errors are *formError values.
func readAppeal(contentType string, body io.Reader) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", &formError{http.StatusUnsupportedMediaType, "appeal.invalid",
			fmt.Errorf("%w: content type %q: want application/x-www-form-urlencoded", curfew.ErrInvalid, contentType)}
	}
	b, err := io.ReadAll(io.LimitReader(body, maxAppealBody+1))
	var tooBig *http.MaxBytesError
	if len(b) > maxAppealBody || errors.As(err, &tooBig) {
		return "", &formError{http.StatusRequestEntityTooLarge, "appeal.toolong",
			fmt.Errorf("%w: form larger than %d KiB", curfew.ErrInvalid, maxAppealBody>>10)}
	}
	if err != nil {
		return "", &formError{http.StatusBadRequest, "appeal.invalid", fmt.Errorf("reading the form: %w", err)}
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return "", &formError{http.StatusBadRequest, "appeal.invalid", fmt.Errorf("%w: form: %v", curfew.ErrInvalid, err)}
	}
	values := form["message"]
	if len(values) != 1 {
		return "", &formError{http.StatusBadRequest, "appeal.invalid",
			fmt.Errorf("%w: form has %d message fields, want 1", curfew.ErrInvalid, len(values))}
	}
	msg, err := curfew.CleanAppealText("message", values[0])
	if err != nil {
		key := "appeal.invalid"
		switch text := strings.TrimSpace(values[0]); {
		case text == "":
			key = "appeal.empty"
		case utf8.RuneCountInString(strings.ReplaceAll(text, "\r\n", "\n")) > curfew.MaxAppealLen:
			key = "appeal.toolong"
		}
		return "", &formError{http.StatusBadRequest, key, err}
	}
	return msg, nil
}

// appealState is what the page says about the appeal form: a status line
// and the text to put back in it.
type appealState struct {
	note  string // key of the status line; empty for none
	ok    bool   // the note is good news
	draft string // refills the form after a failure that was not the text's
}

// appeal serves POST /appeal: a restricted client's question to the
// operators. It answers 303 See Other to the page, which then shows the
// message; 403 with the page of an unrestricted client to anyone else; and
// the notice with a line saying what went wrong, with status 400, 413,
// 415, 429 or 500, when the appeal is refused or fails.
func (s *Server) appeal(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	v := s.visit(r, now)
	noStore(w)
	if v.e == nil {
		s.render(w, r, http.StatusForbidden, v, now, nil)
		return
	}
	if s.cfg.Appeal == nil {
		http.NotFound(w, r)
		return
	}
	msg, err := readAppeal(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxAppealBody))
	if fe := (*formError)(nil); errors.As(err, &fe) {
		s.logger.DebugContext(r.Context(), "appeal form refused", "client", v.client.Addr, "err", err)
		s.render(w, r, fe.status, v, now, &appealState{note: fe.key})
		return
	}
	req := curfew.AppealRequest{Addr: v.client.Addr, Message: msg}
	if len(v.client.MAC) == 6 {
		req.MAC = v.client.MAC
	}
	for _, e := range v.found {
		req.Restrictions = append(req.Restrictions, e.Restrictions...)
	}
	slices.Sort(req.Restrictions)
	req.Restrictions = slices.Compact(req.Restrictions)

	_, err = s.cfg.Appeal(r.Context(), req)
	switch {
	case err == nil:
		target := "/?appeal=sent"
		if lang := r.URL.Query().Get("lang"); catalogs[lang] != nil {
			target += "&lang=" + url.QueryEscape(lang)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	case errors.Is(err, curfew.ErrRateLimited):
		s.render(w, r, http.StatusTooManyRequests, v, now, &appealState{note: "appeal.limited", draft: msg})
	case errors.Is(err, curfew.ErrForbidden):
		// The restriction ended between the snapshot and the appeal.
		s.render(w, r, http.StatusForbidden, visit{client: v.client}, now, nil)
	case errors.Is(err, curfew.ErrInvalid):
		s.render(w, r, http.StatusBadRequest, v, now, &appealState{note: "appeal.invalid"})
	default:
		s.logger.ErrorContext(r.Context(), "storing appeal", "client", v.client.Addr, "err", err)
		s.render(w, r, http.StatusInternalServerError, v, now, &appealState{note: "appeal.failed", draft: msg})
	}
}

// appealView is one appeal as the page shows it.
type appealView struct {
	At       timeView
	Message  string
	Answer   string
	Answered *timeView
}
