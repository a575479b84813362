package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/engine"
)

// cliRunner runs the CLI against a daemon fixture with the admin's token.
func cliRunner(t *testing.T, f *daemonFixture) (run func(args ...string) (int, string, string), mustRun func(args ...string) string) {
	env := map[string]string{"CURFEW_SERVER": f.url, "CURFEW_TOKEN": f.admin}
	run = func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		code := runCLI(args, &stdout, &stderr, func(k string) string { return env[k] })
		return code, stdout.String(), stderr.String()
	}
	mustRun = func(args ...string) string {
		t.Helper()
		code, stdout, stderr := run(args...)
		if code != 0 {
			t.Fatalf("curfew %s = %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	return run, mustRun
}

func runCLI(args []string, stdout, stderr *strings.Builder, env func(string) string) int {
	return run(args, strings.NewReader(""), stdout, stderr, env)
}

// TestRemoveAgainstEngine: a removed device is no longer covered by its
// owner's restriction but stays under one on its MAC; a person named by a
// restriction that is not over cannot be removed (exit 1, nothing
// changed), and once it is lifted can, leaving the devices unowned.
func TestRemoveAgainstEngine(t *testing.T) {
	f := newDaemonFixture(t, engine.Config{GatewayAddrs: func() ([]netip.Addr, error) { return nil, nil }}, nil)
	run, mustRun := cliRunner(t, f)
	phone, laptop := []byte{2, 0, 0, 0, 0, 1}, []byte{2, 0, 0, 0, 0, 2}

	mustRun("person", "add", "bob")
	mustRun("device", "add", "02:00:00:00:00:01", "--owner", "bob")
	mustRun("device", "add", "02:00:00:00:00:02", "--owner", "bob")
	id := strings.TrimSpace(mustRun("restrict", "person:bob", "--for", "1h", "--reason", "exam week"))
	mustRun("restrict", "device:02:00:00:00:00:02", "--for", "1h", "--reason", "the laptop too")

	code, stdout, stderr := run("person", "remove", "bob", "--reason", "moved out")
	if want := "curfew: person remove: conflict: person bob is named by restriction " + id + "; lift it or let it end first\n"; code != 1 || stdout != "" || stderr != want {
		t.Errorf("person remove while restricted = %d %q %q, want 1 and %q", code, stdout, stderr, want)
	}
	if _, ok := f.mem.LookupMAC(phone); !ok {
		t.Errorf("a refused person remove changed the enforcement:\n%s", f.mem)
	}

	if got := mustRun("device", "remove", "02:00:00:00:00:01", "--reason", "sold"); got != "02:00:00:00:00:01\n" {
		t.Errorf("device remove printed %q", got)
	}
	if _, ok := f.mem.LookupMAC(phone); ok {
		t.Errorf("a removed device is still covered by its former owner's restriction:\n%s", f.mem)
	}
	mustRun("device", "remove", "02:00:00:00:00:02", "--reason", "sold too")
	if _, ok := f.mem.LookupMAC(laptop); !ok {
		t.Errorf("a removed device's restriction by MAC no longer applies:\n%s", f.mem)
	}
	if code, _, stderr := run("device", "remove", "02:00:00:00:00:01", "--reason", "again"); code != 2 || !strings.Contains(stderr, "not registered") {
		t.Errorf("removing an unregistered device = %d %q, want 2", code, stderr)
	}

	mustRun("device", "add", "02:00:00:00:00:03", "--owner", "bob")
	mustRun("lift", id, "--reason", "exams over")
	mustRun("person", "remove", "bob", "--reason", "moved out")
	if code, _, _ := run("person", "remove", "bob", "--reason", "again"); code != 2 {
		t.Errorf("removing an unknown person = %d, want 2", code)
	}
	var ds []api.Device
	if err := json.Unmarshal([]byte(mustRun("devices", "-o", "json")), &ds); err != nil || len(ds) != 1 || ds[0].Owner != "" {
		t.Errorf("devices after removing their owner = %+v, %v; want 02:00:00:00:00:03 without owner", ds, err)
	}

	var audit []api.AuditEntry
	if err := json.Unmarshal([]byte(mustRun("audit", "-o", "json")), &audit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range audit {
		if strings.HasSuffix(e.Action, ".removed") {
			got = append(got, e.Action+" "+e.Target+" "+e.Reason+": "+e.Detail)
		}
	}
	want := []string{
		"device.removed device:02:00:00:00:00:01 sold: device 02:00:00:00:00:01 owner bob unregistered",
		"device.removed device:02:00:00:00:00:02 sold too: device 02:00:00:00:00:02 owner bob unregistered",
		"person.removed person:bob moved out: person bob removed; its devices stay registered without owner",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("removal audit entries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out := mustRun("audit", "verify"); !strings.Contains(out, "ok") && !strings.Contains(out, "intact") {
		t.Errorf("audit verify after removals = %q", out)
	}
}

// TestGroupsAgainstEngine: a restriction on a group covers its persons'
// devices and its devices, including ones added later to the group or to
// a member person, and stops covering a member at once when it leaves.
func TestGroupsAgainstEngine(t *testing.T) {
	f := newDaemonFixture(t, engine.Config{GatewayAddrs: func() ([]netip.Addr, error) { return nil, nil }}, nil)
	run, mustRun := cliRunner(t, f)
	phone, laptop, guest, other := []byte{2, 0, 0, 0, 0, 1}, []byte{2, 0, 0, 0, 0, 2}, []byte{2, 0, 0, 0, 0, 3}, []byte{2, 0, 0, 0, 0, 4}
	restricted := func(when string, want map[string]bool) {
		t.Helper()
		for name, mac := range map[string][]byte{"phone": phone, "laptop": laptop, "guest": guest, "other": other} {
			if _, got := f.mem.LookupMAC(mac); got != want[name] {
				t.Errorf("%s: %s restricted = %v, want %v\n%s", when, name, got, want[name], f.mem)
			}
		}
	}

	mustRun("person", "add", "bob")
	mustRun("person", "add", "carol")
	mustRun("device", "add", "02:00:00:00:00:01", "--owner", "bob")
	mustRun("device", "add", "02:00:00:00:00:04", "--owner", "carol")
	if got := mustRun("group", "add", "residents"); got != "residents\n" {
		t.Errorf("group add printed %q", got)
	}
	if got := mustRun("group", "member", "add", "residents", "person:bob"); got != "person:bob\n" {
		t.Errorf("group member add printed %q", got)
	}
	mustRun("restrict", "group:residents", "--for", "1h", "--reason", "curfew night")
	restricted("after restrict", map[string]bool{"phone": true})

	mustRun("device", "add", "02:00:00:00:00:02", "--owner", "bob")
	restricted("after a member person's new device", map[string]bool{"phone": true, "laptop": true})
	mustRun("group", "member", "add", "residents", "device:02:00:00:00:00:03")
	restricted("after a device joined", map[string]bool{"phone": true, "laptop": true, "guest": true})
	mustRun("group", "member", "remove", "residents", "person:bob")
	restricted("after bob left", map[string]bool{"guest": true})

	for _, args := range [][]string{
		{"group", "add", "residents"},                                         // exists
		{"group", "member", "add", "staff", "person:bob"},                     // no such group
		{"group", "member", "add", "residents", "person:zed"},                 // no such person
		{"group", "member", "add", "residents", "device:02:00:00:00:00:03"},   // already a member
		{"group", "member", "remove", "residents", "person:carol"},            // not a member
		{"restrict", "group:staff", "--for", "1h", "--reason", "no such one"}, // no such group
	} {
		code, stdout, stderr := run(args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 {
			t.Errorf("curfew %s = %d %q %q, want 2 and one line", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	restricted("after refused changes", map[string]bool{"guest": true})

	if got := compactJSON(t, mustRun("groups", "-o", "json")); !strings.HasPrefix(got, `[{"name":"residents","members":["device:02:00:00:00:00:03"],"created_at":`) {
		t.Errorf("groups -o json = %s", got)
	}
	var audit []api.AuditEntry
	if err := json.Unmarshal([]byte(mustRun("audit", "-o", "json")), &audit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range audit {
		if strings.HasPrefix(e.Action, "group.") {
			got = append(got, e.Action+" "+e.Target+": "+e.Detail)
		}
	}
	want := []string{
		"group.added group:residents: group residents",
		"group.member_added group:residents: group residents member person:bob added",
		"group.member_added group:residents: group residents member device:02:00:00:00:00:03 added",
		"group.member_removed group:residents: group residents member person:bob removed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("group audit entries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
