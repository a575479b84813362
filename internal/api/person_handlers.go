package api

import "net/http"

// createPerson serves POST /api/v1/persons.
func (h *handler) createPerson(w http.ResponseWriter, r *http.Request) {
	var body PersonRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	p, err := h.svc.AddPerson(r.Context(), body.Name)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, PersonToAPI(p))
}

// listPersons serves GET /api/v1/persons.
func (h *handler) listPersons(w http.ResponseWriter, r *http.Request) {
	ps, err := h.svc.Persons(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Person, 0, len(ps))
	for _, p := range ps {
		out = append(out, PersonToAPI(p))
	}
	h.write(w, r, http.StatusOK, out)
}

// findPersons serves GET /api/v1/persons/search. Query parameters: q,
// the text to search for in names; offset; limit (default 100).
func (h *handler) findPersons(w http.ResponseWriter, r *http.Request) {
	q, err := personQuery(r.URL.Query())
	if err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.svc.FindPersons(r.Context(), q)
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := PersonPage{Persons: make([]Person, 0, len(page.Persons)), Total: page.Total}
	for _, p := range page.Persons {
		out.Persons = append(out.Persons, PersonToAPI(p))
	}
	h.write(w, r, http.StatusOK, out)
}

// removePerson serves POST /api/v1/persons/{name}/remove.
func (h *handler) removePerson(w http.ResponseWriter, r *http.Request) {
	var body RemoveRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	p, err := h.svc.RemovePerson(r.Context(), r.PathValue("name"), body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, PersonToAPI(p))
}
