package api

import "net/http"

// listAudit serves GET /api/v1/audit.
func (h *handler) listAudit(w http.ResponseWriter, r *http.Request) {
	es, err := h.svc.Audit(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, AuditEntryToAPI(e))
	}
	h.write(w, r, http.StatusOK, out)
}

// verifyAudit serves GET /api/v1/audit/verify. A broken chain is a
// successful answer with ok false: the check itself worked.
func (h *handler) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := h.svc.VerifyAudit(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, AuditReportToAPI(rep))
}
