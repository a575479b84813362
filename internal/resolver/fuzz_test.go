package resolver_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary bytes to the message path, as if they came
// from a client over UDP or TCP, with restrictions and a blocklist in
// force. Queries that would be forwarded get SERVFAIL at once: there is no
// upstream. Nothing may panic, and any answer must be a valid message.
func FuzzHandle(f *testing.F) {
	for _, name := range []string{"example.org.", "blocked.example.", "news.example.", "use-application-dns.net.", "ads.example."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeANY} {
			m := new(dns.Msg)
			m.SetQuestion(name, qt)
			m.SetEdns0(1232, qt == dns.TypeMX)
			pkt, _ := m.Pack()
			f.Add(pkt, byte(2), false)
		}
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, byte(1), true)

	dir := f.TempDir()
	list := writeFile(f, dir, "ads.txt", "||ads.example^\n")
	r, err := resolver.New(&resolver.Config{
		NoticeAddr4: notice4,
		NoticeAddr6: notice6,
		Identify:    identify.Func(neighbors),
		OnAllowed:   func(net.HardwareAddr, netip.Addr, time.Duration) {},
		Blocklists:  []string{list},
		Now:         newClock(t0).now,
	})
	if err != nil {
		f.Fatal(err)
	}
	if err := r.Apply(f.Context(), policySnapshot()); err != nil {
		f.Fatal(err)
	}
	if _, err := r.Reload(f.Context()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, client byte, tcp bool) {
		out := r.Handle(pkt, netip.AddrFrom4([4]byte{127, 0, 0, client % 5}), tcp)
		if out == nil {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("answer does not unpack: %v", err)
		}
		if !m.Response {
			t.Fatalf("answer without QR: %v", m)
		}
		if !tcp && len(out) > 1232 {
			t.Fatalf("UDP answer of %d bytes", len(out))
		}
	})
}

// The list fuzzers check that no input panics a parser and that every
// domain it yields is a normalized name with at least two labels.
// FuzzParseList takes whole lists in any form; the others force each line
// into one form, so each line parser is driven directly.

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"0.0.0.0 ads.example\n127.0.0.1 a.example b.example # c\n::1 localhost\n",
		"tracker.example\n*.wild.example\n# comment\n\n",
		"[Adblock Plus 2.0]\n||ads.example^\n@@||ok.example^\n||x.example^$important\nsite.example##.ad\n",
		"||a^|\n|http://x/\n/re/\n0.0.0.0\n\r\n\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) { checkParse(t, list) })
}

func FuzzParseHostsLine(f *testing.F) {
	for _, s := range []string{"ads.example", "a.example b.example # c", "localhost", "x..y", "\tA.B.  C.D."} {
		f.Add("0.0.0.0", s)
	}
	f.Add("fe80::1%lo0", "localhost")
	f.Fuzz(func(t *testing.T, addr, names string) { checkParse(t, addr+" "+names) })
}

func FuzzParseDomainLine(f *testing.F) {
	for _, s := range []string{"ads.example", "*.wild.example", "a.example # c", "-x.example", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) { checkParse(t, name) })
}

func FuzzParseAdblockLine(f *testing.F) {
	for _, s := range []string{"ads.example^", "a.example^|", "x.example^$important", "p*.example^", "^", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) { checkParse(t, "||"+rule) })
}

func checkParse(t *testing.T, list string) {
	rep, err := resolver.ParseList(strings.NewReader(list), func(d string) {
		if d == "" || d != strings.ToLower(d) || strings.HasSuffix(d, ".") || !strings.Contains(d, ".") || strings.Contains(d, "..") {
			t.Fatalf("ParseList yielded %q", d)
		}
	})
	if err != nil {
		t.Fatalf("ParseList: %v", err)
	}
	if len(rep.Samples) > resolver.MaxSamples || rep.Domains+rep.Ignored+rep.Unsupported+rep.Invalid < rep.Lines {
		t.Fatalf("report %+v does not account for every line", rep)
	}
}
