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

// peopleData is what the People page shows.
type peopleData struct {
	Persons      []personRow // the page of persons that match Query
	PersonsTotal int
	PersonsPager pager
	Groups       []*curfew.Group

	Devices      []deviceRow // the page of devices that match Query
	DevicesTotal int
	DevicesPager pager
	Query        string
}

// pager links the pages of one list.
type pager struct {
	Page, Pages      int
	PrevURL, NextURL string
}

// newPager returns the pager of page n of total rows, pageSize a page,
// whose URLs url makes.
func newPager(n, total int, url func(n int) string) pager {
	p := pager{Page: n, Pages: max(1, (total+pageSize-1)/pageSize)}
	if n > 1 {
		p.PrevURL = url(n - 1)
	}
	if n < p.Pages {
		p.NextURL = url(n + 1)
	}
	return p
}

// pageNumber reads the page number of parameter name: 1 if it is
// missing or not a positive number.
func pageNumber(v url.Values, name string) int {
	n, err := strconv.Atoi(v.Get(name))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// devicesShown bounds the devices a person's row names.
const devicesShown = 5

// peoplePage shows one page of the persons and one of the devices that
// the search matches, and the groups. It reads no more from the store
// than it shows: a page costs the same with 100 devices or 100,000.
func (con *Console) peoplePage(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	v := r.URL.Query()
	d := peopleData{Query: strings.TrimSpace(v.Get("q"))}
	pn, dn := pageNumber(v, "ppage"), pageNumber(v, "page")
	persons, err := con.svc.FindPersons(ctx, curfew.PersonQuery{Search: d.Query, Offset: (pn - 1) * pageSize, Limit: pageSize})
	if err != nil {
		con.pageError(w, r, p, err)
		return
	}
	devices, err := con.svc.FindDevices(ctx, curfew.DeviceQuery{Search: d.Query, Offset: (dn - 1) * pageSize, Limit: pageSize})
	if err != nil {
		con.pageError(w, r, p, err)
		return
	}
	groups, err := con.svc.Groups(ctx)
	if err != nil {
		con.internal(w, r, err)
		return
	}
	d.Groups = groups
	memberOf := map[string][]string{} // subject → group names
	for _, g := range groups {
		for _, m := range g.Members {
			memberOf[m.String()] = append(memberOf[m.String()], g.Name)
		}
	}
	for _, ps := range persons.Persons {
		owned, err := con.svc.FindDevices(ctx, curfew.DeviceQuery{Owner: ps.Name, Limit: devicesShown})
		if err != nil {
			con.internal(w, r, err)
			return
		}
		d.Persons = append(d.Persons, personRow{Name: ps.Name, Created: ps.Created, Devices: owned.Devices, Count: owned.Total, Groups: memberOf["person:"+ps.Name]})
	}
	for _, dv := range devices.Devices {
		row := deviceRow{Device: dv, Random: curfew.RandomMAC(dv.MAC), Groups: memberOf["device:"+dv.MAC.String()]}
		for _, a := range dv.Addrs {
			row.Addrs = append(row.Addrs, a.String())
		}
		d.Devices = append(d.Devices, row)
	}
	d.PersonsTotal, d.DevicesTotal = persons.Total, devices.Total
	link := func(param, anchor string) func(n int) string {
		return func(n int) string {
			q := url.Values{"ppage": {strconv.Itoa(pn)}, "page": {strconv.Itoa(dn)}}
			q.Set(param, strconv.Itoa(n))
			if d.Query != "" {
				q.Set("q", d.Query)
			}
			return "/people?" + q.Encode() + anchor
		}
	}
	d.PersonsPager = newPager(pn, persons.Total, link("ppage", "#persons"))
	d.DevicesPager = newPager(dn, devices.Total, link("page", "#devices"))
	con.render(w, r, http.StatusOK, "people", con.newView(p, "People and devices", "people", d))
}

// pageError answers a listing the service refused (a search too long,
// say) with the reason, and any other error as internal.
func (con *Console) pageError(w http.ResponseWriter, r *http.Request, p *page, err error) {
	st, known := status(err)
	if !known {
		con.internal(w, r, err)
		return
	}
	con.refuse(w, r, st, err.Error())
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
