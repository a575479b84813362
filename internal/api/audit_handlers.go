package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// listAudit serves GET /api/v1/audit: every event, with its text rendered
// for people; the checkpoints are left out (see GET /api/v1/audit/export).
func (h *handler) listAudit(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := h.svc.ExportAudit(r.Context(), 1, &b); err != nil {
		h.error(w, r, err)
		return
	}
	out := []AuditEntry{}
	for line := range bytes.Lines(b.Bytes()) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		e, _, err := audit.ParseLine(line)
		if err != nil {
			h.error(w, r, fmt.Errorf("reading the audit log: %w", err))
			return
		}
		if e != nil {
			out = append(out, AuditEntryToAPI(e, line))
		}
	}
	h.write(w, r, http.StatusOK, out)
}

// exportAudit serves GET /api/v1/audit/export[?from=SEQ]: the log as JSON
// lines, events and checkpoints, as the offline verifier reads it.
func (h *handler) exportAudit(w http.ResponseWriter, r *http.Request) {
	var from int64 = 1
	if s := r.URL.Query().Get("from"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			h.error(w, r, fmt.Errorf("%w: from: %q is not an event's sequence number (1 or more)", curfew.ErrInvalid, s))
			return
		}
		from = v
	}
	ew := &exportWriter{w: w}
	if err := h.svc.ExportAudit(r.Context(), from, ew); err != nil {
		if !ew.started {
			h.error(w, r, err)
			return
		}
		// Too late for a status: the client sees a truncated export,
		// which does not verify.
		h.logger.ErrorContext(r.Context(), "exporting the audit log", "err", err)
	}
	if !ew.started {
		ew.header()
	}
}

// exportWriter sends the headers of an export before its first byte, so
// that an error found before anything is written still gets its status.
type exportWriter struct {
	w       http.ResponseWriter
	started bool
}

func (ew *exportWriter) header() {
	ew.started = true
	ew.w.Header().Set("Content-Type", "application/jsonl")
	ew.w.Header().Set("Cache-Control", "no-store")
	ew.w.Header().Set("X-Content-Type-Options", "nosniff")
	ew.w.WriteHeader(http.StatusOK)
}

func (ew *exportWriter) Write(p []byte) (int, error) {
	if !ew.started {
		ew.header()
	}
	return ew.w.Write(p)
}

// auditKey serves GET /api/v1/audit/key.
func (h *handler) auditKey(w http.ResponseWriter, r *http.Request) {
	pub, err := h.svc.AuditKey(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	if pub == nil {
		h.error(w, r, errors.New("the service returned no audit key"))
		return
	}
	h.write(w, r, http.StatusOK, AuditKeyResponse{Key: audit.EncodePublicKey(pub)})
}

// verifyAudit serves GET /api/v1/audit/verify. A broken log is a
// successful answer with ok false: the check itself worked.
func (h *handler) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := h.svc.VerifyAudit(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, AuditReportToAPI(rep))
}
