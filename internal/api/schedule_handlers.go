package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/curfew/curfew/internal/curfew"
)

// createSchedule serves POST /api/v1/schedules.
func (h *handler) createSchedule(w http.ResponseWriter, r *http.Request) {
	var body ScheduleRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	req, err := body.fromAPI()
	if err != nil {
		h.error(w, r, err)
		return
	}
	s, err := h.svc.AddSchedule(r.Context(), req)
	if err != nil {
		h.error(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/schedules/%d", s.ID))
	h.write(w, r, http.StatusCreated, ScheduleToAPI(s, h.now()))
}

// listSchedules serves GET /api/v1/schedules. all=true includes removed
// and ended schedules.
func (h *handler) listSchedules(w http.ResponseWriter, r *http.Request) {
	var f curfew.ScheduleFilter
	q := r.URL.Query()
	for key := range q {
		if key != "all" {
			h.error(w, r, fmt.Errorf("%w: unknown query parameter %q (want all)", curfew.ErrInvalid, key))
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
	ss, err := h.svc.Schedules(r.Context(), f)
	if err != nil {
		h.error(w, r, err)
		return
	}
	now := h.now()
	out := make([]Schedule, 0, len(ss))
	for _, s := range ss {
		out = append(out, ScheduleToAPI(s, now))
	}
	h.write(w, r, http.StatusOK, out)
}

// removeSchedule serves POST /api/v1/schedules/{id}/remove.
func (h *handler) removeSchedule(w http.ResponseWriter, r *http.Request) {
	id, err := parseScheduleID(r.PathValue("id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body RemoveScheduleRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	s, err := h.svc.RemoveSchedule(r.Context(), id, body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, ScheduleToAPI(s, h.now()))
}

func parseScheduleID(s string) (curfew.ScheduleID, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: schedule id %q is not a positive integer", curfew.ErrInvalid, s)
	}
	return curfew.ScheduleID(id), nil
}
