package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/curfew/curfew/internal/curfew"
)

// createRestriction serves POST /api/v1/restrictions.
func (h *handler) createRestriction(w http.ResponseWriter, r *http.Request) {
	var body RestrictRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	req, err := body.fromAPI()
	if err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Restrict(r.Context(), req)
	if err != nil {
		h.error(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/restrictions/%d", res.ID))
	h.write(w, r, http.StatusCreated, RestrictionToAPI(res, h.now()))
}

// listRestrictions serves GET /api/v1/restrictions. Query parameters:
// all=true includes lifted and expired restrictions; subject=S selects one
// subject; id=N selects one restriction.
func (h *handler) listRestrictions(w http.ResponseWriter, r *http.Request) {
	var f curfew.RestrictionFilter
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "all", "subject", "id":
		default:
			h.error(w, r, fmt.Errorf("%w: unknown query parameter %q (want all, subject or id)", curfew.ErrInvalid, key))
			return
		}
	}
	if s := q.Get("all"); s != "" {
		all, err := strconv.ParseBool(s)
		if err != nil {
			h.error(w, r, fmt.Errorf("%w: query parameter all: %q is not a boolean", curfew.ErrInvalid, s))
			return
		}
		f.All = all
	}
	if s := q.Get("subject"); s != "" {
		subj, err := curfew.ParseSubject(s)
		if err != nil {
			h.error(w, r, fmt.Errorf("query parameter subject: %w", err))
			return
		}
		f.Subject = &subj
	}
	if s := q.Get("id"); s != "" {
		id, err := parseID(s)
		if err != nil {
			h.error(w, r, fmt.Errorf("query parameter id: %w", err))
			return
		}
		f.ID = &id
	}
	rs, err := h.svc.Restrictions(r.Context(), f)
	if err != nil {
		h.error(w, r, err)
		return
	}
	now := h.now()
	out := make([]Restriction, 0, len(rs))
	for _, res := range rs {
		out = append(out, RestrictionToAPI(res, now))
	}
	h.write(w, r, http.StatusOK, out)
}

// getRestriction serves GET /api/v1/restrictions/{id}.
func (h *handler) getRestriction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Restriction(r.Context(), id)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, RestrictionToAPI(res, h.now()))
}

// liftRestriction serves POST /api/v1/restrictions/{id}/lift.
func (h *handler) liftRestriction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body LiftRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Lift(r.Context(), id, body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, RestrictionToAPI(res, h.now()))
}

// extendRestriction serves POST /api/v1/restrictions/{id}/extend.
func (h *handler) extendRestriction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body ExtendRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	args, err := body.fromAPI()
	if err != nil {
		h.error(w, r, err)
		return
	}
	res, err := h.svc.Extend(r.Context(), id, args.end, args.d, args.reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, RestrictionToAPI(res, h.now()))
}
