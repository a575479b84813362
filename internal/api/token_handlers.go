package api

import (
	"net/http"

	"github.com/curfew/curfew/internal/curfew"
)

// createToken serves POST /api/v1/tokens.
func (h *handler) createToken(w http.ResponseWriter, r *http.Request) {
	var body TokenRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	role, err := curfew.ParseRole(body.Role)
	if err != nil {
		h.error(w, r, err)
		return
	}
	secret, err := h.svc.CreateToken(r.Context(), body.Name, role)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, TokenResponse{Name: body.Name, Role: string(role), Secret: secret})
}
