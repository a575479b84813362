package web

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// personRow is one person with the devices it owns and its groups.
type personRow struct {
	Name    string
	Created time.Time
	Devices []*curfew.Device // at most a few; Count has them all
	Count   int
	Groups  []string
}

// deviceRow is one registered device.
type deviceRow struct {
	*curfew.Device
	Random bool
	Addrs  []string
	Groups []string
}

// seenRow is a device seen on the LAN that is not registered, or one held
// in quarantine until an operator registers it.
type seenRow struct {
	MAC         string
	Hostname    string
	Random      bool
	FirstSeen   time.Time
	LastSeen    time.Time
	Quarantined bool
}

// peopleData is what the People page shows.
type peopleData struct {
	Persons []personRow // those that match Query, at most pageSize
	More    int         // persons beyond them
	Groups  []*curfew.Group
	Seen    []seenRow // quarantined first

	Devices []deviceRow // the page of devices that match Query
	Query   string
	Matched int
	Page    int
	Pages   int
	PrevURL string
	NextURL string
}

// devicesShown bounds the devices a person's row names.
const devicesShown = 5

func (con *Console) peoplePage(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	persons, err := con.svc.Persons(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	groups, err := con.svc.Groups(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	devices, err := con.svc.Devices(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	memberOf := map[string][]string{} // subject → group names
	for _, g := range groups {
		for _, m := range g.Members {
			memberOf[m.String()] = append(memberOf[m.String()], g.Name)
		}
	}
	owned := map[string][]*curfew.Device{}
	for _, dv := range devices {
		if dv.Owner != "" {
			owned[dv.Owner] = append(owned[dv.Owner], dv)
		}
	}
	d := peopleData{Groups: groups, Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	q := strings.ToLower(d.Query)
	for _, ps := range persons {
		if q != "" && !strings.Contains(strings.ToLower(ps.Name), q) {
			continue
		}
		if len(d.Persons) == pageSize {
			d.More++
			continue
		}
		row := personRow{Name: ps.Name, Created: ps.Created, Count: len(owned[ps.Name]), Groups: memberOf["person:"+ps.Name]}
		row.Devices = owned[ps.Name][:min(devicesShown, row.Count)]
		d.Persons = append(d.Persons, row)
	}
	var match []*curfew.Device
	for _, dv := range devices {
		if q == "" || deviceMatches(dv, q) {
			match = append(match, dv)
		}
	}
	d.Matched = len(match)
	d.Pages = max(1, (len(match)+pageSize-1)/pageSize)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	for _, dv := range match[min((d.Page-1)*pageSize, len(match)):min(d.Page*pageSize, len(match))] {
		row := deviceRow{Device: dv, Random: curfew.RandomMAC(dv.MAC), Groups: memberOf["device:"+dv.MAC.String()]}
		for _, a := range dv.Addrs {
			row.Addrs = append(row.Addrs, a.String())
		}
		d.Devices = append(d.Devices, row)
	}
	pageURL := func(n int) string {
		v := url.Values{"page": {strconv.Itoa(n)}}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		return "/people?" + v.Encode() + "#devices"
	}
	if d.Page > 1 {
		d.PrevURL = pageURL(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = pageURL(d.Page + 1)
	}
	con.render(w, r, http.StatusOK, "people", con.newView(p, "People and devices", "people", d))
}

// deviceMatches reports whether q (lower case) is in the device's MAC,
// name, owner or one of its addresses.
func deviceMatches(dv *curfew.Device, q string) bool {
	if strings.Contains(dv.MAC.String(), q) || strings.Contains(strings.ToLower(dv.Name), q) || strings.Contains(strings.ToLower(dv.Owner), q) {
		return true
	}
	for _, a := range dv.Addrs {
		if strings.Contains(a.String(), q) {
			return true
		}
	}
	return false
}

func (con *Console) addPerson(w http.ResponseWriter, r *http.Request, p *page) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	_, err := con.svc.AddPerson(r.Context(), name)
	con.done(w, r, p, "/people", err, p.lang.T("Added person")+" "+name)
}

func (con *Console) removePerson(w http.ResponseWriter, r *http.Request, p *page) {
	name := r.PathValue("name")
	_, err := con.svc.RemovePerson(r.Context(), name, r.PostForm.Get("reason"))
	con.done(w, r, p, "/people", err, p.lang.T("Removed person")+" "+name)
}

func (con *Console) addDevice(w http.ResponseWriter, r *http.Request, p *page) {
	f := r.PostForm
	mac, err := curfew.ParseMAC(strings.TrimSpace(f.Get("mac")))
	dv := &curfew.Device{MAC: mac, Name: strings.TrimSpace(f.Get("name")), Owner: strings.TrimSpace(f.Get("owner"))}
	if err == nil {
		for _, s := range splitList(f.Get("ip")) {
			a, perr := netip.ParseAddr(s)
			if perr != nil {
				err = curfewInvalid("device address %q is not an IP address", s)
				break
			}
			dv.Addrs = append(dv.Addrs, a.Unmap())
		}
	}
	if err == nil {
		_, err = con.svc.AddDevice(r.Context(), dv)
	}
	con.done(w, r, p, "/people#devices", err, p.lang.T("Registered device")+" "+mac.String())
}

func (con *Console) removeDevice(w http.ResponseWriter, r *http.Request, p *page) {
	mac, err := curfew.ParseMAC(r.PathValue("mac"))
	if err == nil {
		_, err = con.svc.RemoveDevice(r.Context(), mac, r.PostForm.Get("reason"))
	}
	con.done(w, r, p, "/people#devices", err, p.lang.T("Removed device")+" "+r.PathValue("mac"))
}

func (con *Console) addGroup(w http.ResponseWriter, r *http.Request, p *page) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	_, err := con.svc.AddGroup(r.Context(), name)
	con.done(w, r, p, "/people#groups", err, p.lang.T("Added group")+" "+name)
}

func (con *Console) addMember(w http.ResponseWriter, r *http.Request, p *page) {
	s, err := curfew.ParseSubject(strings.TrimSpace(r.PostForm.Get("member")))
	if err == nil {
		_, err = con.svc.AddGroupMember(r.Context(), r.PathValue("name"), s)
	}
	con.done(w, r, p, "/people#groups", err, p.lang.T("Added to group")+" "+r.PathValue("name")+": "+s.String())
}

func (con *Console) removeMember(w http.ResponseWriter, r *http.Request, p *page) {
	s, err := curfew.ParseSubject(strings.TrimSpace(r.PostForm.Get("member")))
	if err == nil {
		_, err = con.svc.RemoveGroupMember(r.Context(), r.PathValue("name"), s)
	}
	con.done(w, r, p, "/people#groups", err, p.lang.T("Removed from group")+" "+r.PathValue("name")+": "+s.String())
}
