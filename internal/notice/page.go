package notice

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zone names must resolve on a gateway without tzdata

	"github.com/curfew/curfew/internal/curfew"
)

//go:embed templates/page.html
var templateFS embed.FS

var pageTemplate = template.Must(template.ParseFS(templateFS, "templates/page.html"))

// tzCookie remembers the zone a person picked, for a year.
const tzCookie = "curfew_tz"

// zones are offered in the time zone form, roughly west to east: enough
// that most people find their own or one with the same clock, few enough
// to keep the page small. The configured zone and the picked one are added
// when missing.
var zones = []string{
	"Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
	"America/Chicago", "America/Mexico_City", "America/Bogota", "America/Lima",
	"America/New_York", "America/Caracas", "America/Santiago", "America/Sao_Paulo",
	"America/Argentina/Buenos_Aires", "Atlantic/Azores", "Europe/London", "Europe/Lisbon",
	"Africa/Lagos", "Europe/Madrid", "Europe/Paris", "Europe/Berlin",
	"Africa/Johannesburg", "Africa/Cairo", "Europe/Athens", "Europe/Kyiv",
	"Europe/Istanbul", "Africa/Nairobi", "Europe/Moscow", "Asia/Tehran",
	"Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka",
	"Asia/Bangkok", "Asia/Jakarta", "Asia/Shanghai", "Asia/Singapore",
	"Asia/Manila", "Asia/Tokyo", "Asia/Seoul", "Australia/Perth",
	"Australia/Sydney", "Pacific/Auckland",
}

// pageData is what page.html renders.
type pageData struct {
	cat           *catalog
	Lang, Dir     string
	Network       string // the configured name, may be empty
	NetworkPhrase string // the name, or "this network"
	Restricted    bool

	// Unregistered is set for a device a quarantining LAN does not
	// admit; MAC is its address, RandomMAC whether it is randomised.
	Unregistered bool
	MAC          string
	RandomMAC    bool

	Since, Eases *timeView // nil when unknown or not different from Until
	Until        timeView
	Left         string
	ModeKey      string
	Rate         string // what a throttle slows the connection to, for people; empty if none
	Notice       string
	Allow        []allowItem
	Zones        []zoneOption
	LangParam    string // the lang query parameter to keep in the form

	Contact, ContactHref string
	Feeds                []Feed
	Langs                []langLink

	AppealForm   bool   // offer the form to ask the operator
	AppealAction string // where the form posts
	MaxAppeal    int
	AppealNote   string       // key of the form's status line; empty for none
	AppealOK     bool         // the status line is good news
	Draft        string       // the form's text
	Appeals      []appealView // the client's latest, newest first
}

// T returns the string for key in the page's language.
func (d *pageData) T(key string) string { return d.cat.text(key) }

// timeView is a time as the page shows it: first on the clocks of the
// zone shown (the gateway's, unless the visitor picked another), with its
// day in the page's language, then the zone and the same time in UTC.
type timeView struct {
	ISO   string // RFC 3339, for the datetime attribute
	Local string // "18:00 (Tuesday 2 December)", in the zone shown
	Zone  string // "Europe/Madrid (UTC+01:00)", or "UTC"
	UTC   string // "17:00 UTC", with its day if another; empty when the zone is UTC
}

type allowItem struct{ Text, Href string }

type zoneOption struct {
	Name, Label string
	Selected    bool
}

type langLink struct {
	Tag, Name, Href string
	Current         bool
}

// page serves the notice, or the short page for a client that is not
// restricted; see the package documentation for its status codes.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	v := s.visit(r, now)
	noStore(w)
	if v.e != nil && !s.forPortal(r) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.render(w, r, http.StatusNetworkAuthenticationRequired, v, now, nil)
			return
		}
		if s.cfg.PortalURL != "" {
			http.Redirect(w, r, s.cfg.PortalURL, http.StatusFound)
			return
		}
	}
	var st *appealState
	if r.URL.Query().Get("appeal") == "sent" {
		st = &appealState{note: "appeal.sent", ok: true}
	}
	s.render(w, r, http.StatusOK, v, now, st)
}

// render answers with the page for the client of v, and the appeal form
// in the state st (nil: empty).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v visit, now time.Time, st *appealState) {
	e := v.e
	q := r.URL.Query()
	lang := q.Get("lang")
	if catalogs[lang] == nil {
		lang = ""
	}
	tag := lang
	if tag == "" {
		tag = negotiate(r.Header.Get("Accept-Language"), tags)
	}
	cat := catalogs[tag]
	d := &pageData{
		cat:        cat,
		Lang:       cat.Tag,
		Dir:        cat.Dir,
		Network:    s.cfg.NetworkName,
		Restricted: e != nil,
		LangParam:  lang,
	}
	d.NetworkPhrase = d.Network
	if d.NetworkPhrase == "" {
		d.NetworkPhrase = cat.text("network.default")
	}

	// The zone: picked in the form now, else picked before, else the
	// configured one.
	zone := s.cfg.Zone
	if loc, ok := loadZone(q.Get("tz")); ok {
		zone = loc
		http.SetCookie(w, &http.Cookie{
			Name: tzCookie, Value: loc.String(), Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
	} else if c, err := r.Cookie(tzCookie); err == nil {
		if loc, ok := loadZone(c.Value); ok {
			zone = loc
		}
	}
	if zone == nil {
		zone = time.UTC
	}

	for _, t := range tags {
		v := url.Values{"lang": {t}}
		if tz := q.Get("tz"); tz != "" {
			v.Set("tz", tz)
		}
		d.Langs = append(d.Langs, langLink{Tag: t, Name: catalogs[t].Name, Href: "/?" + v.Encode(), Current: t == cat.Tag})
	}

	if e != nil && slices.ContainsFunc(v.found, func(f *curfew.Enforcement) bool { return f.Unregistered }) {
		d.Unregistered = true
		if len(v.client.MAC) == 6 {
			d.MAC, d.RandomMAC = v.client.MAC.String(), curfew.RandomMAC(v.client.MAC)
		}
		d.Contact = strings.TrimSpace(s.cfg.Contact)
		d.ContactHref = contactHref(d.Contact)
	} else if e != nil {
		until := restrictedUntil(e)
		d.Until = newTimeView(cat, until, now, zone)
		if !e.Since.IsZero() {
			tv := newTimeView(cat, e.Since, now, zone)
			d.Since = &tv
		}
		if !e.Until.IsZero() && e.Until.Before(until) && e.Until.After(now) {
			tv := newTimeView(cat, e.Until, now, zone)
			d.Eases = &tv
		}
		d.Left = duration(cat, until.Sub(now))
		switch e.Reach {
		case curfew.ReachAllowlist, curfew.ReachBlocklist:
			d.ModeKey = "mode." + string(e.Reach)
		case curfew.ReachOpen:
			d.ModeKey = "mode.throttle"
		default:
			d.ModeKey = "mode.cutoff"
		}
		if e.Throttled() {
			d.Rate = humanRate(e.Rate)
		}
		d.Notice = e.Notice
		if e.Reach == curfew.ReachAllowlist {
			for _, a := range e.AllowNames {
				d.Allow = append(d.Allow, allowLink(a))
			}
			for _, p := range e.AllowPrefixes {
				d.Allow = append(d.Allow, allowItem{Text: p.String()})
			}
		}
		d.Contact = strings.TrimSpace(s.cfg.Contact)
		d.ContactHref = contactHref(d.Contact)
		d.Zones = zoneOptions(zone, s.cfg.Zone, now)
		if s.cfg.Bulletin != nil {
			d.Feeds = s.cfg.Bulletin.Feeds()
		}
		if s.cfg.Appeal != nil {
			d.AppealForm, d.MaxAppeal, d.AppealAction = true, curfew.MaxAppealLen, "/appeal"
			if lang != "" {
				d.AppealAction += "?lang=" + url.QueryEscape(lang)
			}
			if st != nil {
				d.AppealNote, d.AppealOK, d.Draft = st.note, st.ok, st.draft
			}
			d.Appeals = s.appealViews(r, v, cat, now, zone)
		}
	}

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		s.logger.ErrorContext(r.Context(), "rendering notice page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", cat.Tag)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// appealViews returns the latest appeals of the client of v since its
// restriction began, newest first, for the page. A failure to read them
// is logged, and the page shown without them.
func (s *Server) appealViews(r *http.Request, v visit, cat *catalog, now time.Time, zone *time.Location) []appealView {
	if s.cfg.Appeals == nil || !v.client.Addr.IsValid() {
		return nil
	}
	var mac net.HardwareAddr
	if len(v.client.MAC) == 6 {
		mac = v.client.MAC
	}
	as, err := s.cfg.Appeals(r.Context(), curfew.AppealFilter{From: curfew.AppealFrom(mac, v.client.Addr), Since: v.e.Since})
	if err != nil {
		s.logger.ErrorContext(r.Context(), "reading appeals for the page", "client", v.client.Addr, "err", err)
		return nil
	}
	var out []appealView
	for i := len(as) - 1; i >= 0 && len(out) < shownAppeals; i-- {
		a := as[i]
		av := appealView{At: newTimeView(cat, a.Created, now, zone), Message: a.Message, Answer: a.Answer}
		if a.Answer != "" && !a.Answered.IsZero() {
			tv := newTimeView(cat, a.Answered, now, zone)
			av.Answered = &tv
		}
		out = append(out, av)
	}
	return out
}

// loadZone resolves an IANA zone name a client sent, refusing anything
// that is not plainly one ("Local" included, which would be the gateway's).
func loadZone(name string) (*time.Location, bool) {
	if name == "" || len(name) > 64 || name == "Local" {
		return nil, false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+-", r)) {
			return nil, false
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return loc, true
}

func newTimeView(c *catalog, t, now time.Time, zone *time.Location) timeView {
	local := t.In(zone)
	tv := timeView{
		ISO:   t.UTC().Format(time.RFC3339),
		Local: local.Format("15:04") + " (" + dayName(c, local, now.In(zone)) + ")",
		Zone:  "UTC",
	}
	if _, off := local.Zone(); off != 0 || zone.String() != "UTC" {
		tv.Zone = zoneLabel(zone, t)
		u := t.UTC()
		tv.UTC = u.Format("15:04") + " UTC"
		if u.YearDay() != local.YearDay() {
			tv.UTC += " (" + dayName(c, u, now.UTC()) + ")"
		}
	}
	return tv
}

// dayName names t's day in c's language, "Tuesday 2 December", with the
// year when it is not now's.
func dayName(c *catalog, t, now time.Time) string {
	weekday, month := c.text(fmt.Sprintf("weekday.%d", t.Weekday())), c.text(fmt.Sprintf("month.%d", t.Month()))
	if t.Year() != now.Year() {
		return fmt.Sprintf(c.text("date.dayyear"), weekday, t.Day(), month, t.Year())
	}
	return fmt.Sprintf(c.text("date.day"), weekday, t.Day(), month)
}

// zoneLabel names zone for people: "America/New York (UTC−05:00)" with the
// offset in force at t.
func zoneLabel(zone *time.Location, t time.Time) string {
	_, off := t.In(zone).Zone()
	sign := "+"
	if off < 0 {
		sign, off = "−", -off
	}
	return fmt.Sprintf("%s (UTC%s%02d:%02d)", strings.ReplaceAll(zone.String(), "_", " "), sign, off/3600, off%3600/60)
}

func zoneOptions(picked, configured *time.Location, now time.Time) []zoneOption {
	names := slices.Clone(zones)
	for _, z := range []*time.Location{configured, picked} {
		if z != nil && z.String() != "UTC" && !slices.Contains(names, z.String()) {
			names = append(names, z.String())
		}
	}
	var opts []zoneOption
	for _, n := range names {
		loc, err := time.LoadLocation(n)
		if err != nil {
			continue
		}
		opts = append(opts, zoneOption{Name: n, Label: zoneLabel(loc, now), Selected: n == picked.String()})
	}
	return opts
}

// duration says how long d is, in its two largest units.
func duration(c *catalog, d time.Duration) string {
	if d < time.Minute {
		return c.text("unit.lessminute")
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	var parts []string
	add := func(n int, one, many string) {
		if n == 0 || len(parts) == 2 {
			return
		}
		unit := c.text(many)
		if n == 1 {
			unit = c.text(one)
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, unit))
	}
	add(days, "unit.day", "unit.days")
	add(hours, "unit.hour", "unit.hours")
	if days == 0 {
		add(mins, "unit.minute", "unit.minutes")
	}
	return strings.Join(parts, " ")
}

// humanRate renders a throttle's rate for the notice page: 2 Mbit/s.
func humanRate(r curfew.Rate) string {
	for _, u := range []struct {
		bits int64
		name string
	}{{1e9, "Gbit/s"}, {1e6, "Mbit/s"}, {1e3, "kbit/s"}} {
		if int64(r) >= u.bits {
			return strconv.FormatFloat(float64(r)/float64(u.bits), 'f', -1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(int64(r), 10) + " bit/s"
}

// allowLink turns an allowlisted domain name into a link to it; a name
// that is not a valid host name is shown as text.
func allowLink(a string) allowItem {
	name := strings.TrimPrefix(strings.TrimSuffix(a, "."), "*.")
	if !validHostname(name) {
		return allowItem{Text: a}
	}
	return allowItem{Text: a, Href: "https://" + name + "/"}
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// contactHref links the contact when it is an email address or a web
// address; html/template still refuses any other scheme.
func contactHref(c string) string {
	switch {
	case strings.HasPrefix(c, "https://") || strings.HasPrefix(c, "http://"):
		if u, err := url.Parse(c); err == nil && u.Host != "" {
			return u.String()
		}
	case strings.Count(c, "@") == 1 && !strings.ContainsAny(c, " \t<>\"'"):
		return "mailto:" + c
	}
	return ""
}
