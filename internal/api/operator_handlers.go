package api

import (
	"net/http"

	"github.com/curfew/curfew/internal/curfew"
)

// createOperator serves POST /api/v1/operators.
func (h *handler) createOperator(w http.ResponseWriter, r *http.Request) {
	var body OperatorRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	role, err := curfew.ParseRole(body.Role)
	if err != nil {
		h.error(w, r, err)
		return
	}
	op, password, err := h.acc.AddOperator(r.Context(), body.Name, role)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, OperatorCreated{Operator: OperatorToAPI(op), Password: password})
}

// listOperators serves GET /api/v1/operators.
func (h *handler) listOperators(w http.ResponseWriter, r *http.Request) {
	ops, err := h.acc.Operators(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Operator, 0, len(ops))
	for _, op := range ops {
		out = append(out, OperatorToAPI(op))
	}
	h.write(w, r, http.StatusOK, out)
}

// disableOperator serves POST /api/v1/operators/{name}/disable.
func (h *handler) disableOperator(w http.ResponseWriter, r *http.Request) {
	var body DisableRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	op, err := h.acc.DisableOperator(r.Context(), r.PathValue("name"), body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, OperatorToAPI(op))
}

// resetPassword serves POST /api/v1/operators/{name}/password. It takes
// no body.
func (h *handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	password, err := h.acc.ResetPassword(r.Context(), name)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, PasswordResponse{Name: name, Password: password})
}
