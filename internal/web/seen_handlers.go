package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// seenRow is a device seen on the LAN that is not registered: held in
// quarantine, on a LAN that quarantines unknown devices, until an
// operator approves it.
type seenRow struct {
	MAC         string
	Hostname    string
	Random      bool
	FirstSeen   time.Time
	LastSeen    time.Time
	Addrs       []string
	Resembles   []string // registered devices it looks like
	Quarantined bool
}

// seenData is what the Seen page shows.
type seenData struct {
	Rows        []seenRow // the page of rows that match Query, quarantined first, then the latest seen
	Total       int       // unregistered devices that match Query
	Quarantined int       // of those, the quarantined ones
	Query       string
	Pager       pager
}

// seenPage lists the devices seen on the LAN that are not registered,
// with an Approve form for operators.
func (con *Console) seenPage(w http.ResponseWriter, r *http.Request, p *page) {
	seen, err := con.svc.SeenDevices(r.Context())
	if err != nil {
		con.internal(w, r, err)
		return
	}
	v := r.URL.Query()
	d := seenData{Query: strings.TrimSpace(v.Get("q"))}
	q := strings.ToLower(d.Query)
	var match []*curfew.SeenDevice
	for _, s := range seen {
		if s.Registered || q != "" && !strings.Contains(s.MAC.String(), q) && !strings.Contains(strings.ToLower(s.Hostname), q) {
			continue
		}
		match = append(match, s)
		if s.Quarantined {
			d.Quarantined++
		}
	}
	slices.SortStableFunc(match, func(a, b *curfew.SeenDevice) int {
		if a.Quarantined != b.Quarantined {
			if a.Quarantined {
				return -1
			}
			return 1
		}
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), slices.Compare(a.MAC, b.MAC))
	})
	d.Total = len(match)
	n := pageNumber(v, "page")
	for _, s := range match[min((n-1)*pageSize, len(match)):min(n*pageSize, len(match))] {
		row := seenRow{MAC: s.MAC.String(), Hostname: s.Hostname, Random: s.RandomMAC(), FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Quarantined: s.Quarantined}
		for _, a := range s.Addrs {
			row.Addrs = append(row.Addrs, a.String())
		}
		for _, m := range s.Resembles {
			row.Resembles = append(row.Resembles, m.String())
		}
		d.Rows = append(d.Rows, row)
	}
	d.Pager = newPager(n, d.Total, func(n int) string {
		q := url.Values{"page": {strconv.Itoa(n)}}
		if d.Query != "" {
			q.Set("q", d.Query)
		}
		return "/seen?" + q.Encode()
	})
	con.render(w, r, http.StatusOK, "seen", con.newView(p, "Devices seen", "seen", d))
}

// approveDevice registers a seen or quarantined device to the owner the
// form names; a quarantined one is admitted at once.
func (con *Console) approveDevice(w http.ResponseWriter, r *http.Request, p *page) {
	f := r.PostForm
	mac, err := curfew.ParseMAC(r.PathValue("mac"))
	owner := strings.TrimSpace(f.Get("owner"))
	if err == nil && owner == "" {
		err = curfewInvalid("owner: missing: name the person the device belongs to")
	}
	if err == nil {
		_, err = con.svc.ApproveDevice(r.Context(), &curfew.Device{MAC: mac, Owner: owner, Name: strings.TrimSpace(f.Get("name"))})
	}
	con.done(w, r, p, "/seen", err, p.lang.T("Approved device")+" "+mac.String()+" "+p.lang.T("for")+" "+owner)
}
