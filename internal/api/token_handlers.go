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
	secret, err := h.acc.CreateToken(r.Context(), body.Name, role)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, TokenResponse{Name: body.Name, Role: string(role), Secret: secret})
}

// listTokens serves GET /api/v1/tokens.
func (h *handler) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.acc.Tokens(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, TokenToAPI(t))
	}
	h.write(w, r, http.StatusOK, out)
}

// revokeToken serves POST /api/v1/tokens/{name}/revoke. It takes no body.
func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := h.acc.RevokeToken(r.Context(), r.PathValue("name"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, TokenToAPI(t))
}
