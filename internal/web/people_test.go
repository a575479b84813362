package web_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

// TestPeopleDevices holds the People page to what it tells of each person:
// the first five devices the person owns, by MAC, and a link to all of
// them when there are more; nothing for a person who owns none.
func TestPeopleDevices(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"alice", "bob", "dave"} {
		if _, err := f.eng.AddPerson(f.admin, name); err != nil {
			t.Fatal(err)
		}
	}
	mac := func(owner byte, n int) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, owner, byte(n)} }
	// alice's devices are added last first, so that the page must sort them.
	for n := 7; n >= 1; n-- {
		if _, err := f.eng.AddDevice(f.admin, &curfew.Device{MAC: mac(1, n), Name: fmt.Sprintf("alice-%d", n), Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.eng.AddDevice(f.admin, &curfew.Device{MAC: mac(2, 1), Name: "bob-1", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn("olga", f.operator(t, "olga", curfew.RoleViewer), password)
	body := b.get("/people").body
	persons, _, _ := strings.Cut(body, `id="groups"`)
	row := func(name string) string {
		_, after, found := strings.Cut(persons, "<strong>"+name+"</strong>")
		if !found {
			t.Fatalf("the People page names no person %s", name)
		}
		r, _, _ := strings.Cut(after, "</tr>")
		return r
	}
	alice := row("alice")
	last := -1
	for n := 1; n <= 5; n++ {
		i := strings.Index(alice, "<code>"+mac(1, n).String()+"</code>")
		if i < last {
			t.Errorf("alice's row does not name %s after the devices before it: %q", mac(1, n), alice)
		}
		last = i
	}
	for n := 6; n <= 7; n++ {
		if strings.Contains(alice, mac(1, n).String()) {
			t.Errorf("alice's row names %s, past the first five", mac(1, n))
		}
	}
	if !strings.Contains(alice, "all 7 devices") {
		t.Errorf("alice's row has no link to all 7 of her devices: %q", alice)
	}
	if bob := row("bob"); !strings.Contains(bob, "<code>"+mac(2, 1).String()+"</code> bob-1") || strings.Contains(bob, "all ") || strings.Contains(bob, "alice-") {
		t.Errorf("bob's row does not name just his one device: %q", bob)
	}
	if dave := row("dave"); strings.Contains(dave, "<code>") {
		t.Errorf("dave owns nothing, yet his row names a device: %q", dave)
	}
}
