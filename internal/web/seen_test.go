package web_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// TestBadDeviceInput holds the People, Restrict and Seen pages to what
// they answer bad input with: a message saying what is wrong and where,
// and nothing registered.
func TestBadDeviceInput(t *testing.T) {
	f := newFixture(t)
	if _, err := f.eng.AddPerson(f.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	seen := net.HardwareAddr{0x06, 0, 0, 0, 0, 1}
	if _, err := f.db.RecordSeen(f.admin, []curfew.Sighting{{MAC: seen, At: time.Now(), Hostname: "tablet"}},
		curfew.SeenLimits{MaxUnregistered: 10, MaxAge: time.Hour}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleOperator), password)

	long := strings.Repeat("x", 201)
	for _, path := range []string{"/people?q=" + long, "/restrict?find=" + long} {
		if a := b.get(path); a.status != http.StatusBadRequest || !strings.Contains(a.body, "search is 201 characters, more than 200") {
			t.Errorf("GET %s… = %d, want 400 saying the search is too long", path[:20], a.status)
		}
	}
	if a := b.get("/restrict/subjects?q=" + long); a.status != http.StatusBadRequest || !strings.Contains(a.body, "search is 201 characters") {
		t.Errorf("GET /restrict/subjects with a long search = %d %q, want 400 saying why", a.status, a.body)
	}

	for _, tt := range []struct {
		path  string
		form  url.Values
		flash string
	}{
		{"/devices/" + seen.String() + "/approve", url.Values{"owner": {""}}, "owner: missing"},
		{"/devices/" + seen.String() + "/approve", url.Values{"owner": {"bob"}}, `owner "bob": no such person`},
		{"/devices/" + seen.String() + "/approve", url.Values{"owner": {"alice"}, "name": {"bad\x01name"}}, "device name contains a control character"},
		{"/devices/06:00:00:00:00/approve", url.Values{"owner": {"alice"}}, `"06:00:00:00:00"`},
	} {
		tt.form.Set("csrf", b.csrf("/seen"))
		a := b.post(tt.path, tt.form)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/seen" {
			t.Errorf("POST %s %v = %d to %q, want 303 back to /seen", tt.path, tt.form, a.status, a.header.Get("Location"))
			continue
		}
		if page := b.get("/seen"); !strings.Contains(page.body, `class="flash bad"`) || !strings.Contains(page.body, html(tt.flash)) {
			t.Errorf("after POST %s %v the Seen page does not say %q", tt.path, tt.form, tt.flash)
		}
	}
	if _, err := f.db.Device(f.admin, seen); err == nil {
		t.Error("a refused approval registered the device")
	}
}

// html escapes s as the pages do.
func html(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "'", "&#39;", "<", "&lt;", ">", "&gt;").Replace(s)
}
