package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/curfew/curfew/internal/curfew"
)

// createDevice serves POST /api/v1/devices.
func (h *handler) createDevice(w http.ResponseWriter, r *http.Request) {
	var body DeviceRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	d, err := body.fromAPI()
	if err != nil {
		h.error(w, r, err)
		return
	}
	d, err = h.svc.AddDevice(r.Context(), d)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, DeviceToAPI(d))
}

// listDevices serves GET /api/v1/devices.
func (h *handler) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.svc.Devices(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeviceToAPI(d))
	}
	h.write(w, r, http.StatusOK, out)
}

// findDevices serves GET /api/v1/devices/search. Query parameters: q, the
// text to search for; owner, a person; offset; limit (default 100).
func (h *handler) findDevices(w http.ResponseWriter, r *http.Request) {
	q, err := deviceQuery(r.URL.Query())
	if err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.svc.FindDevices(r.Context(), q)
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := DevicePage{Devices: make([]Device, 0, len(page.Devices)), Total: page.Total}
	for _, d := range page.Devices {
		out.Devices = append(out.Devices, DeviceToAPI(d))
	}
	h.write(w, r, http.StatusOK, out)
}

// deviceQuery reads the query parameters of GET /api/v1/devices/search;
// every error wraps curfew.ErrInvalid and names the parameter.
func deviceQuery(v url.Values) (curfew.DeviceQuery, error) {
	if err := onlyParams(v, "q", "owner", "offset", "limit"); err != nil {
		return curfew.DeviceQuery{}, err
	}
	q := curfew.DeviceQuery{Search: v.Get("q"), Owner: v.Get("owner")}
	var err error
	if q.Offset, q.Limit, err = pageParams(v); err != nil {
		return curfew.DeviceQuery{}, err
	}
	return q, q.Validate()
}

// personQuery reads the query parameters of GET /api/v1/persons/search.
func personQuery(v url.Values) (curfew.PersonQuery, error) {
	if err := onlyParams(v, "q", "offset", "limit"); err != nil {
		return curfew.PersonQuery{}, err
	}
	q := curfew.PersonQuery{Search: v.Get("q")}
	var err error
	if q.Offset, q.Limit, err = pageParams(v); err != nil {
		return curfew.PersonQuery{}, err
	}
	return q, q.Validate()
}

// defaultPageSize is the limit of a search that gives none.
const defaultPageSize = 100

// onlyParams refuses a query parameter that is not one of names.
func onlyParams(v url.Values, names ...string) error {
	for key := range v {
		if !slices.Contains(names, key) {
			return fmt.Errorf("%w: unknown query parameter %q (want %s)", curfew.ErrInvalid, key, strings.Join(names, ", "))
		}
	}
	return nil
}

// pageParams reads the query parameters offset and limit of a search.
func pageParams(v url.Values) (offset, limit int, err error) {
	limit = defaultPageSize
	for _, p := range []struct {
		name string
		dst  *int
	}{{"offset", &offset}, {"limit", &limit}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: query parameter %s: %q is not a whole number", curfew.ErrInvalid, p.name, s)
		}
		*p.dst = n
	}
	return offset, limit, nil
}

// approveDevice serves POST /api/v1/devices/{mac}/approve.
func (h *handler) approveDevice(w http.ResponseWriter, r *http.Request) {
	mac, err := curfew.ParseMAC(r.PathValue("mac"))
	if err != nil {
		h.error(w, r, fmt.Errorf("mac: %w", err))
		return
	}
	var body ApproveDeviceRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	if body.Owner == "" {
		h.error(w, r, fmt.Errorf("%w: owner: missing", curfew.ErrInvalid))
		return
	}
	d, err := h.svc.ApproveDevice(r.Context(), &curfew.Device{MAC: mac, Name: body.Name, Owner: body.Owner})
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusCreated, DeviceToAPI(d))
}

// listSeenDevices serves GET /api/v1/devices/seen.
func (h *handler) listSeenDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.svc.SeenDevices(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	out := make([]SeenDevice, 0, len(ds))
	for _, d := range ds {
		out = append(out, SeenDeviceToAPI(d))
	}
	h.write(w, r, http.StatusOK, out)
}

// removeDevice serves POST /api/v1/devices/{mac}/remove.
func (h *handler) removeDevice(w http.ResponseWriter, r *http.Request) {
	mac, err := curfew.ParseMAC(r.PathValue("mac"))
	if err != nil {
		h.error(w, r, fmt.Errorf("mac: %w", err))
		return
	}
	var body RemoveRequest
	if err := h.decode(w, r, &body); err != nil {
		h.error(w, r, err)
		return
	}
	d, err := h.svc.RemoveDevice(r.Context(), mac, body.Reason)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.write(w, r, http.StatusOK, DeviceToAPI(d))
}

// fromAPI returns the device w asks to register, with errors that name the
// offending field.
func (w *DeviceRequest) fromAPI() (*curfew.Device, error) {
	if w.MAC == "" {
		return nil, fmt.Errorf("%w: mac: missing", curfew.ErrInvalid)
	}
	mac, err := curfew.ParseMAC(w.MAC)
	if err != nil {
		return nil, fmt.Errorf("mac: %w", err)
	}
	d := &curfew.Device{MAC: mac, Name: w.Name, Owner: w.Owner}
	for i, s := range w.Addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: addrs[%d]: %q is not an IP address", curfew.ErrInvalid, i, s)
		}
		d.Addrs = append(d.Addrs, a)
	}
	return d, nil
}

// deviceRequestToAPI returns the wire form of d, for the client.
func deviceRequestToAPI(d *curfew.Device) DeviceRequest {
	w := DeviceRequest{MAC: d.MAC.String(), Name: d.Name, Owner: d.Owner}
	for _, a := range d.Addrs {
		w.Addrs = append(w.Addrs, a.String())
	}
	return w
}
