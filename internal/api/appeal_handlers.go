package api

import (
	"net/http"
)

// listAppeals serves GET /api/v1/appeals.
func (h *handler) listAppeals(w http.ResponseWriter, r *http.Request) {
	as, err := h.svc.Appeals(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Appeal, 0, len(as))
	for _, a := range as {
		out = append(out, AppealToAPI(a))
	}
	h.write(w, r, http.StatusOK, out)
}

// answerAppeal serves POST /api/v1/appeals/{id}/answer.
func (h *handler) answerAppeal(w http.ResponseWriter, r *http.Request) {
	id, err := parseAppealID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body AnswerRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	a, err := h.svc.AnswerAppeal(r.Context(), id, body.Text)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, AppealToAPI(a))
}
