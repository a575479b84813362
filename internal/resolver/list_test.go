package resolver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/miekg/dns"
)

type atomicString struct{ p atomic.Pointer[string] }

func (s *atomicString) Store(v string) { s.p.Store(&v) }
func (s *atomicString) Load() string   { return *s.p.Load() }

func parse(t *testing.T, list string) ([]string, resolver.ListReport) {
	t.Helper()
	var got []string
	rep, err := resolver.ParseList(strings.NewReader(list), func(d string) { got = append(got, d) })
	if err != nil {
		t.Fatalf("ParseList: %v", err)
	}
	return got, rep
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantRep resolver.ListReport
	}{
		{
			name: "hosts",
			list: "# a hosts file\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n" +
				"0.0.0.0 Ads.Example.com\n127.0.0.1\ta.example b.example.  # two\n0.0.0.0 0.0.0.0\r\n",
			want:    []string{"ads.example.com", "a.example", "b.example"},
			wantRep: resolver.ListReport{Lines: 6, Domains: 3, Ignored: 5},
		},
		{
			name:    "plain",
			list:    "\n! comment\ntracker.example\n*.wild.example\nspace.example # why\n",
			want:    []string{"tracker.example", "wild.example", "space.example"},
			wantRep: resolver.ListReport{Lines: 5, Domains: 3, Ignored: 2},
		},
		{
			name: "adblock",
			list: "[Adblock Plus 2.0]\n||ads.example^\n||pipe.example^|\n@@||good.example^\n" +
				"||mod.example^$third-party\nexample.com##.banner\n/regex/\n||pat*.example^\n",
			want: []string{"ads.example", "pipe.example"},
			wantRep: resolver.ListReport{Lines: 8, Domains: 2, Ignored: 1, Unsupported: 5, Samples: []resolver.LineProblem{
				{Line: 4, Text: "@@||good.example^"},
				{Line: 5, Text: "||mod.example^$third-party"},
				{Line: 6, Text: "example.com##.banner"},
				{Line: 7, Text: "/regex/"},
				{Line: 8, Text: "||pat*.example^"},
			}},
		},
		{
			name: "invalid lines",
			list: "not a domain line\nbad!.example\nsingle\n0.0.0.0 ok.example bad..example\n" + strings.Repeat("x", 5000) + "\nlast.example",
			want: []string{"ok.example", "last.example"},
			wantRep: resolver.ListReport{Lines: 6, Domains: 2, Invalid: 5, Samples: []resolver.LineProblem{
				{Line: 1, Text: "not a domain line"},
				{Line: 2, Text: "bad!.example"},
				{Line: 3, Text: "single"},
				{Line: 4, Text: "0.0.0.0 ok.example bad..example"},
				{Line: 5, Text: strings.Repeat("x", 100)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rep := parse(t, tt.list)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRep, rep, cmpopts.IgnoreFields(resolver.LineProblem{}, "Reason")); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseListKeepsFirstSamples(t *testing.T) {
	_, rep := parse(t, strings.Repeat("bad line here\n", 50))
	if rep.Invalid != 50 || len(rep.Samples) != resolver.MaxSamples || rep.Samples[9].Line != 10 {
		t.Errorf("report = %+v, want 50 invalid and the first %d quoted", rep, resolver.MaxSamples)
	}
}

func writeFile(t testing.TB, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNetworkBlocklists(t *testing.T) {
	dir := t.TempDir()
	hosts := writeFile(t, dir, "hosts", "0.0.0.0 ads.example\n")
	var served atomicString
	served.Store("||tracker.example^\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Load() == "" {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, served.Load())
	}))
	t.Cleanup(srv.Close)

	up := newUpstream(t)
	r, addr := start(t, resolver.Config{
		Upstreams:  []netip.AddrPort{up.addr},
		Blocklists: []string{hosts, srv.URL + "/list.txt"},
		HTTPClient: srv.Client(),
	})
	check := func(name string, blocked bool) {
		t.Helper()
		m := ask(t, addr, name, dns.TypeA, edns(1232))
		want := []string{"192.0.2.1"}
		if blocked {
			want = []string{"0.0.0.0"}
			if e := ede(m); e == nil || e.InfoCode != dns.ExtendedErrorCodeBlocked {
				t.Errorf("%s: EDE = %v, want Blocked", name, e)
			}
		}
		if diff := cmp.Diff(want, addrs(m)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	check("ads.example", false) // not loaded yet
	reps, err := r.Reload(t.Context())
	if err != nil || len(reps) != 2 || reps[0].Domains != 1 || reps[1].Domains != 1 {
		t.Fatalf("Reload = %+v, %v", reps, err)
	}
	check("ads.example", true)
	check("x.ads.example", true)
	check("tracker.example", true)
	check("fine.example", false)
	if m := ask(t, addr, "ads.example", dns.TypeAAAA); len(addrs(m)) != 1 || addrs(m)[0] != "::" {
		t.Errorf("AAAA ads.example = %v, want ::", m)
	}

	// A reload sees the new lists.
	writeFile(t, dir, "hosts", "0.0.0.0 fine.example\n")
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("fine.example", true)
	check("ads.example", false)

	// A list that cannot be fetched keeps the previous set in force.
	served.Store("")
	writeFile(t, dir, "hosts", "")
	if _, err := r.Reload(t.Context()); err == nil {
		t.Error("Reload with a failing URL succeeded")
	}
	check("fine.example", true)
	check("tracker.example", true)
}

func TestBlocklistTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<16)) // one endless line: cheap to skip
		for n := 0; n <= resolver.MaxListBytes; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	r, err := resolver.New(&resolver.Config{Blocklists: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Reload of an endless list = %v, want a size error", err)
	}
}

func TestQueryLog(t *testing.T) {
	up := newUpstream(t)
	r, addr := start(t, resolver.Config{Upstreams: []netip.AddrPort{up.addr}, QueryLogSize: 3, Identify: identify.Func(neighbors), Now: newClock(t0).now})
	if err := r.Apply(t.Context(), policySnapshot()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ client, name string }{
		{"127.0.0.1", "one.example"}, {"127.0.0.1", "one.example"}, {"127.0.0.2", "two.example"},
		{"127.0.0.3", "blocked.example"}, {"127.0.0.1", "use-application-dns.net"},
	} {
		ask(t, addr, q.name, dns.TypeA, from(q.client))
	}
	var got []string
	for _, e := range r.QueryLog() {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", e.Client, e.Name, e.Type, e.Result, e.Rcode))
	}
	want := []string{
		"127.0.0.2 two.example. A restricted NOERROR",
		"127.0.0.3 blocked.example. A restricted NOERROR",
		"127.0.0.1 use-application-dns.net. A canary NXDOMAIN",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("QueryLog (-want +got):\n%s", diff)
	}
	var counts []string
	for _, c := range r.Clients() {
		counts = append(counts, fmt.Sprintf("%s %d %d", c.Client, c.Queries, c.Refused))
	}
	if diff := cmp.Diff([]string{"127.0.0.1 3 0", "127.0.0.2 1 1", "127.0.0.3 1 1"}, counts); diff != "" {
		t.Errorf("Clients (-want +got):\n%s", diff)
	}
}
