package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/curfew/curfew/internal/curfew"
)

// createGroup serves POST /api/v1/groups.
func (h *handler) createGroup(w http.ResponseWriter, r *http.Request) {
	var body GroupRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	g, err := h.svc.AddGroup(r.Context(), body.Name)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, GroupToAPI(g))
}

// listGroups serves GET /api/v1/groups.
func (h *handler) listGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := h.svc.Groups(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Group, 0, len(gs))
	for _, g := range gs {
		out = append(out, GroupToAPI(g))
	}
	h.write(w, r, http.StatusOK, out)
}

// addGroupMember serves POST /api/v1/groups/{name}/members.
func (h *handler) addGroupMember(w http.ResponseWriter, r *http.Request) {
	h.changeGroup(w, r, h.svc.AddGroupMember)
}

// removeGroupMember serves POST /api/v1/groups/{name}/members/remove.
func (h *handler) removeGroupMember(w http.ResponseWriter, r *http.Request) {
	h.changeGroup(w, r, h.svc.RemoveGroupMember)
}

func (h *handler) changeGroup(w http.ResponseWriter, r *http.Request, change func(ctx context.Context, name string, member curfew.Subject) (*curfew.Group, error)) {
	var body GroupMemberRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	member, err := parseMember(body.Member)
	if err != nil {
		h.error(w, r, err)
		return
	}
	g, err := change(r.Context(), r.PathValue("name"), member)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, GroupToAPI(g))
}

// parseMember parses a group member: person:NAME or device:MAC.
func parseMember(s string) (curfew.Subject, error) {
	if s == "" {
		return curfew.Subject{}, fmt.Errorf("%w: member: missing", curfew.ErrInvalid)
	}
	m, err := curfew.ParseSubject(s)
	if err != nil {
		return curfew.Subject{}, fmt.Errorf("member: %w", err)
	}
	if err := curfew.CheckMember(m); err != nil {
		return curfew.Subject{}, err
	}
	return m, nil
}
