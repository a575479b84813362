package api

import "net/http"

// approveRestriction serves POST /api/v1/restrictions/{id}/approve: a
// second operator's yes to what the restriction waits for.
func (h *handler) approveRestriction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body ApproveRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Approve(r.Context(), id, body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, RestrictionToAPI(res, h.now()))
}

// rejectRestriction serves POST /api/v1/restrictions/{id}/reject: a second
// operator's no.
func (h *handler) rejectRestriction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body RejectRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Reject(r.Context(), id, body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, RestrictionToAPI(res, h.now()))
}
