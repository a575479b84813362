package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api/apitest"
)

// usageVerb matches a command line of the usage text: two spaces, then
// the verb's words.
var usageVerb = regexp.MustCompile(`^  ([a-z]+(?: [a-z]+)*)(?: |$)`)

// usageVerbs returns every verb the usage text lists, such as "restrict"
// and "device add".
func usageVerbs(t *testing.T) []string {
	t.Helper()
	var verbs []string
	for _, line := range strings.Split(usage, "\n") {
		if m := usageVerb.FindStringSubmatch(line); m != nil {
			verbs = append(verbs, m[1])
		}
	}
	if len(verbs) < 20 {
		t.Fatalf("found only %d verbs in the usage text: %q", len(verbs), verbs)
	}
	return verbs
}

// TestEveryVerbHasHelp runs every verb the usage text lists with -h and
// --help: each prints its own usage on stdout, and exits 0 without asking
// the server anything.
func TestEveryVerbHasHelp(t *testing.T) {
	h := newHarness(t, &apitest.FakeService{}) // any call panics
	for _, verb := range usageVerbs(t) {
		for _, flag := range []string{"-h", "--help"} {
			args := append(strings.Fields(verb), flag)
			code, stdout, stderr := h.run(args...)
			if code != 0 || stderr != "" {
				t.Errorf("curfew %s = exit %d, stderr %q; want 0 and nothing on stderr", strings.Join(args, " "), code, stderr)
			}
			if first := strings.Fields(verb)[0]; !strings.HasPrefix(stdout, "usage: curfew "+first) {
				t.Errorf("curfew %s printed %q, want its usage (\"usage: curfew %s …\")", strings.Join(args, " "), short(stdout, 60), first)
			}
		}
	}
}

// TestEveryListingTakesJSON checks the README's promise that every verb
// that prints data takes -o json: the usage text shows it on the verb's
// line, and its -h lists the flag.
func TestEveryListingTakesJSON(t *testing.T) {
	h := newHarness(t, &apitest.FakeService{})
	printers := []string{"list", "show", "devices", "persons", "audit", "report", "appeals",
		"operator list", "token list", "queries", "schedules"}
	listed := map[string]bool{}
	for _, line := range strings.Split(usage, "\n") {
		if m := usageVerb.FindStringSubmatch(line); m != nil && strings.Contains(line, "-o ") {
			listed[m[1]] = true
		}
	}
	for _, verb := range printers {
		if !listed[verb] {
			t.Errorf("the usage text does not show -o on %q", verb)
		}
		_, stdout, _ := h.run(append(strings.Fields(verb), "-h")...)
		if !strings.Contains(stdout, "\n  -o format") {
			t.Errorf("curfew %s -h lists no -o flag:\n%s", verb, stdout)
		}
	}
}
