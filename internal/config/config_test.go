package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

var addrOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() }),
}

func TestReference(t *testing.T) {
	c, err := config.Load("testdata/reference.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		StateDir:    "/var/lib/curfew",
		MemoryLimit: 88 << 20,
		TimeZone:    mustZone("Europe/Madrid"),
		LAN: config.LAN{
			Interfaces: []string{"br-lan"},
			Address:    netip.MustParseAddr("192.168.50.1"),
			Address6:   netip.MustParseAddr("fd00:50::1"),
			DHCPLeases: []string{"/var/lib/misc/dnsmasq.leases"},
			Quarantine: true,
		},
		WAN: config.WAN{Interfaces: []string{"eth0"}},
		API: config.API{Listen: netip.MustParseAddrPort("127.0.0.1:8470")},
		DNS: config.DNS{
			Listen: netip.MustParseAddrPort("192.168.50.1:53"),
			Upstreams: []netip.AddrPort{
				netip.MustParseAddrPort("10.0.0.53:53"),
				netip.MustParseAddrPort("[2001:db8::53]:53"),
			},
			Blocklists: []string{"/etc/curfew/ads.txt", "https://example.org/list.txt"}, DoHList: "/etc/curfew/doh.txt",
			AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.60.0.0/16"), netip.MustParsePrefix("2001:db8:60::/48")},
			CacheSize: 32 << 20,
		},
		Notice: config.Notice{
			Listen:       netip.MustParseAddrPort("192.168.50.1:8480"),
			NetworkName:  "the Embassy residence network",
			Contact:      "helpdesk@example.org",
			PortalURL:    "http://192.168.50.1:8480/",
			TimeZone:     mustZone("Europe/Madrid"),
			Feeds:        []string{"https://news.example.org/rss.xml"},
			FeedInterval: 30 * time.Minute,
			TLSCert:      "/etc/curfew/notice.pem",
			TLSKey:       "/etc/curfew/notice.key",
		},
		Log: config.Log{Level: slog.LevelInfo},
		Approvals: curfew.ApprovalPolicy{
			Enabled: true, RequiredOver: 24 * time.Hour,
			Modes: []curfew.Mode{curfew.ModeCutoff, curfew.ModeAllowlist},
		},
		Audit: config.Audit{SyslogNetwork: "udp", SyslogAddr: "192.168.60.5:514"},
	}
	b, err := os.ReadFile("testdata/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	want.Digest = hex.EncodeToString(sum[:])
	if diff := cmp.Diff(want, c, addrOpts); diff != "" {
		t.Errorf("reference config (-want +got):\n%s", diff)
	}
}

func TestAuditSyslog(t *testing.T) {
	tests := []struct {
		syslog, network, addr, err string
	}{
		{"", "", "", ""},
		{"local", "local", "", ""},
		{"udp://127.0.0.1:514", "udp", "127.0.0.1:514", ""},
		{"tcp://[::1]:601", "tcp", "[::1]:601", ""},
		{"udp://logs.example.org:514", "udp", "logs.example.org:514", ""},
		{"true", "", "", `audit.syslog: "true": want local, udp://HOST:PORT or tcp://HOST:PORT`},
		{"udp://127.0.0.1", "", "", `audit.syslog: "udp://127.0.0.1": want local`},
		{"http://127.0.0.1:514", "", "", `audit.syslog: "http://127.0.0.1:514": want local`},
	}
	for _, tt := range tests {
		t.Run(tt.syslog, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(minimal + "audit:\n  syslog: \"" + tt.syslog + "\"\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("Parse(audit.syslog %q) = %v, want an error containing %q", tt.syslog, err, tt.err)
				}
				return
			}
			if err != nil || c.Audit.SyslogNetwork != tt.network || c.Audit.SyslogAddr != tt.addr {
				t.Errorf("Parse(audit.syslog %q) = %+v, %v; want %q %q", tt.syslog, c, err, tt.network, tt.addr)
			}
		})
	}
}

// The digest the audit log records changes with the file, whatever the
// change.
func TestDigest(t *testing.T) {
	a, err := config.Parse(strings.NewReader(minimal))
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Parse(strings.NewReader(minimal + "# a comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := config.Parse(strings.NewReader(minimal))
	if len(a.Digest) != 64 || a.Digest == b.Digest || a.Digest != again.Digest {
		t.Errorf("digests %q, %q, %q: want 64 hex digits, differing with the file and only with it", a.Digest, b.Digest, again.Digest)
	}
}

// TestReferenceDocumentsEveryKey checks that every key the reference file
// sets is commented, so the file stays a reference.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("testdata/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || !strings.Contains(trimmed, ":") {
			continue
		}
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			t.Errorf("line %d %q has no comment above it", i+1, trimmed)
		}
	}
}

const minimal = `
lan:
  interfaces: [br-lan]
  address: 192.168.50.1
wan:
  interfaces: [eth0]
`

func TestDefaults(t *testing.T) {
	c, err := config.Parse(strings.NewReader(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &config.Config{
		StateDir: "/var/lib/curfew",
		TimeZone: config.LocalZone(),
		LAN:      config.LAN{Interfaces: []string{"br-lan"}, Address: netip.MustParseAddr("192.168.50.1")},
		WAN:      config.WAN{Interfaces: []string{"eth0"}},
		API:      config.API{Listen: netip.MustParseAddrPort("127.0.0.1:8470")},
		DNS:      config.DNS{Listen: netip.MustParseAddrPort("192.168.50.1:53")},
		Notice:   config.Notice{Listen: netip.MustParseAddrPort("192.168.50.1:8480"), TimeZone: config.LocalZone(), FeedInterval: 30 * time.Minute},
		Log:      config.Log{Level: slog.LevelInfo},
	}
	sum := sha256.Sum256([]byte(minimal))
	want.Digest = hex.EncodeToString(sum[:])
	if diff := cmp.Diff(want, c, addrOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestMemoryLimitOrDefault: a memory_limit set in the file holds;
// without it the limit follows dns.cache_size, so a larger cache gets the
// room it needs.
func TestMemoryLimitOrDefault(t *testing.T) {
	tests := []struct {
		name string
		file string
		want int64
	}{
		{"default cache", minimal, 88 << 20},
		{"larger cache", minimal + "dns:\n  cache_size: 256MiB\n", 536 << 20},
		{"set", minimal + "memory_limit: 200MiB\ndns:\n  cache_size: 256MiB\n", 200 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.MemoryLimitOrDefault(); got != tt.want {
				t.Errorf("MemoryLimitOrDefault() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAllowLAN(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8470", "[::]:8470", "192.168.50.1:8470", "[fd00:50::1]:8470"} {
		t.Run(listen, func(t *testing.T) {
			base := strings.Replace(minimal, "wan:", "  address6: fd00:50::1\nwan:", 1)
			if _, err := config.Parse(strings.NewReader(base + "api:\n  listen: \"" + listen + "\"\n")); err == nil || !strings.Contains(err.Error(), "allow_lan") {
				t.Errorf("without allow_lan: err = %v, want a refusal that mentions api.allow_lan", err)
			}
			c, err := config.Parse(strings.NewReader(base + "api:\n  listen: \"" + listen + "\"\n  allow_lan: true\n"))
			if err != nil {
				t.Fatalf("with allow_lan: %v", err)
			}
			if c.API.Listen != netip.MustParseAddrPort(listen) || !c.API.AllowLAN {
				t.Errorf("API = %+v", c.API)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	// Each case replaces or adds to the minimal file; want is the whole
	// message, or a part of it when it ends in "…".
	lan := "lan:\n  interfaces: [br-lan]\n  address: 192.168.50.1\n"
	wan := "wan:\n  interfaces: [eth0]\n"
	tests := []struct {
		name string
		file string
		want string
	}{
		{"empty", "", "empty: want a YAML mapping such as the reference configuration"},
		{"comments only", "# nothing\n", "empty: want a YAML mapping such as the reference configuration"},
		{"two documents", minimal + "---\n" + minimal, "more than one YAML document; want exactly one"},
		{"not YAML", "lan: [", "parsing YAML: …"},
		{"unknown top-level key", minimal + "colour: red\n", `line 7: unknown key "colour"`},
		{"unknown nested key", lan + "  adress6: fd00::1\n" + wan, `line 4: unknown key "lan.adress6"`},
		{"list where a string goes", "state_dir: [a]\n" + lan + wan, `state_dir (line 1): got a list, want a string`},
		{"string where a list goes", "lan:\n  interfaces: br-lan\n  address: 192.168.50.1\n" + wan, `lan.interfaces (line 2): got "br-lan", want a list`},
		{"bad boolean", minimal + "api:\n  allow_lan: maybe\n", `api.allow_lan (line 8): got "maybe", want true or false`},
		{"schema version", "schema_version: 2\n" + minimal, "schema_version: 2 is not supported; this curfew reads version 1"},
		{"schema version zero", "schema_version: 0\n" + minimal, "schema_version: 0 is not supported; this curfew reads version 1"},
		{"schema version text", "schema_version: one\n" + minimal, `schema_version (line 1): got "one", want an integer`},
		{"relative state dir", "state_dir: var/curfew\n" + minimal, `state_dir: "var/curfew" is not an absolute path`},
		{"no lan", wan, "lan.interfaces: missing: want at least one interface name"},
		{"bad unknown_devices", lan + "  unknown_devices: block\n" + wan, `lan.unknown_devices: "block" is not allow or quarantine`},
		{"no wan", lan, "wan.interfaces: missing: want at least one interface name"},
		{"bad lan address", "lan:\n  interfaces: [br-lan]\n  address: 300.1.1.1\n" + wan, `lan.address: "300.1.1.1" is not an IP address`},
		{"lan address is IPv6", "lan:\n  interfaces: [br-lan]\n  address: fd00::1\n" + wan, `lan.address: "fd00::1" is an IPv6 address; want IPv4 here and IPv6 in lan.address6`},
		{"lan address is loopback", "lan:\n  interfaces: [br-lan]\n  address: 127.0.0.1\n" + wan, `lan.address: "127.0.0.1" is not a unicast address a client can reach`},
		{"lan address with zone", "lan:\n  interfaces: [br-lan]\n  address: 192.168.50.1\n  address6: fe80::1%br-lan\n" + wan, `lan.address6: "fe80::1%br-lan" has a zone; want a plain address`},
		{"lan address6 is IPv4", lan + "  address6: 10.0.0.1\n" + wan, `lan.address6: "10.0.0.1" is an IPv4 address; want IPv6 here and IPv4 in lan.address`},
		{"bad interface name", "lan:\n  interfaces: [br-lan, \"a/b\"]\n  address: 192.168.50.1\n" + wan, `lan.interfaces[1]: "a/b" is not an interface name`},
		{"long interface name", "lan:\n  interfaces: [abcdefghijklmnop]\n  address: 192.168.50.1\n" + wan, `lan.interfaces[0]: "abcdefghijklmnop" is not an interface name`},
		{"duplicate interface", "lan:\n  interfaces: [br-lan, br-lan]\n  address: 192.168.50.1\n" + wan, `lan.interfaces[1]: "br-lan" is listed twice`},
		{"wan is lan", lan + "wan:\n  interfaces: [br-lan]\n", `wan.interfaces: "br-lan" is also a LAN interface`},
		{"bad api listen", minimal + "api:\n  listen: localhost:8470\n", `api.listen: "localhost:8470" is not ADDR:PORT (such as 127.0.0.1:8470 or [::1]:8470)`},
		{"api listen without port", minimal + "api:\n  listen: 127.0.0.1\n", `api.listen: "127.0.0.1" is not ADDR:PORT …`},
		{"api on every address", minimal + "api:\n  listen: 0.0.0.0:8470\n", "api.listen: 0.0.0.0:8470 listens on every address, so controlled LAN clients could reach the admin API; use a management address such as 127.0.0.1:8470, or set api.allow_lan: true"},
		{"api on the lan address", minimal + "api:\n  listen: 192.168.50.1:8470\n", "api.listen: 192.168.50.1:8470 is on the LAN address, so controlled clients could reach the admin API; use a management address such as 127.0.0.1:8470, or set api.allow_lan: true"},
		{"bad dns listen", minimal + "dns:\n  listen: 192.168.50.1\n", `dns.listen: "192.168.50.1" is not ADDR:PORT …`},
		{"bad upstream", minimal + "dns:\n  upstreams: [10.0.0.53, dns.example]\n", `dns.upstreams[1]: "dns.example" is not ADDR or ADDR:PORT (such as 10.0.0.53 or [2001:db8::53]:53)`},
		{"wildcard upstream", minimal + "dns:\n  upstreams: [0.0.0.0]\n", `dns.upstreams[0]: "0.0.0.0" is not a resolver address`},
		{"relative blocklist", minimal + "dns:\n  blocklists: [ads.txt]\n", `dns.blocklists[0]: "ads.txt" is neither an absolute path nor an http(s) URL`},
		{"ftp blocklist", minimal + "dns:\n  blocklists: [\"ftp://example.org/x\"]\n", `dns.blocklists[0]: "ftp://example.org/x" is not an http or https URL`},
		{"bad allow_from", minimal + "dns:\n  allow_from: [10.60.0.0/16, 10.0.0.0/33]\n", `dns.allow_from[1]: "10.0.0.0/33" is not an address or ADDR/PREFIX`},
		{"cache_size without a number", minimal + "dns:\n  cache_size: MiB\n", `dns.cache_size: "MiB" is not a size such as 32MiB, 500KB or 1048576`},
		{"cache_size in an unknown unit", minimal + "dns:\n  cache_size: 32mb\n", `dns.cache_size: "32mb" is not a size such as 32MiB, 500KB or 1048576`},
		{"cache_size too small", minimal + "dns:\n  cache_size: 64KiB\n", `dns.cache_size: "64KiB" is outside 1MiB to 16GiB`},
		{"cache_size too large", minimal + "dns:\n  cache_size: 9999999999GiB\n", `dns.cache_size: "9999999999GiB" is too large`},
		{"memory_limit in an unknown unit", minimal + "memory_limit: 100M\n", `memory_limit: "100M" is not a size such as 32MiB, 500KB or 1048576`},
		{"memory_limit too small", minimal + "memory_limit: 16MiB\n", `memory_limit: "16MiB" is outside 32MiB to 64GiB`},
		{"memory_limit too large", minimal + "memory_limit: 65GiB\n", `memory_limit: "65GiB" is outside 32MiB to 64GiB`},
		{"mapped allow_from", minimal + "dns:\n  allow_from: [\"::ffff:10.0.0.0/104\"]\n", `dns.allow_from[0]: "::ffff:10.0.0.0/104" is an IPv4-mapped prefix; write it as IPv4`},
		{"bad notice listen", minimal + "notice:\n  listen: \":8480\"\n", `notice.listen: ":8480" is not ADDR:PORT …`},
		{"notice on the api address", minimal + "notice:\n  listen: 127.0.0.1:8470\n", "notice.listen: 127.0.0.1:8470 is also api.listen"},
		{"notice on the dns address", minimal + "notice:\n  listen: 192.168.50.1:53\n", "notice.listen: 192.168.50.1:53 is also dns.listen"},
		{"tls cert without key", minimal + "notice:\n  tls_cert: /etc/curfew/notice.pem\n", "notice.tls_key: missing: notice.tls_cert is set, so give the file of its private key too"},
		{"tls key without cert", minimal + "notice:\n  tls_key: /etc/curfew/notice.key\n", "notice.tls_cert: missing: notice.tls_key is set, so give the file of its certificate too"},
		{"relative tls cert", minimal + "notice:\n  tls_cert: notice.pem\n  tls_key: /etc/curfew/notice.key\n", `notice.tls_cert: "notice.pem" is not an absolute path`},
		{"bad log level", minimal + "log:\n  level: loud\n", `log.level: "loud" is not one of debug, info, warn, error`},
		{"several errors", "state_dir: x\nlan:\n  interfaces: [br-lan]\n  address: 1.2.3\n" + wan, `state_dir: "x" is not an absolute path; lan.address: "1.2.3" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(tt.file))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error %q", c, tt.want)
			}
			got := err.Error()
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("Parse error = %q, want it to start with %q", got, prefix)
				}
			} else if got != tt.want {
				t.Errorf("Parse error = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("Parse error %q spans lines", got)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curfew.yaml")
	if err := os.WriteFile(path, []byte("colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "config "+path+": ") {
		t.Errorf("Load error = %v, want it to name %s", err, path)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("Load of a missing file = %v, want a not-exist error", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	ref, err := os.ReadFile("testdata/reference.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(ref), minimal, "", "lan: [", "a: &a [*a]", "schema_version: 99999999999999999999", "---\n---\n", "lan:\n  interfaces: !!binary aGk=", minimal + "timezone: America/New_York\n", minimal + "timezone: ../zoneinfo/UTC\n", minimal + "timezone: \"Europe/London\\x00\"\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		c, err := config.Parse(strings.NewReader(file))
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned both a config and %v", err)
			}
			return
		}
		// lan.address may be left out (the daemon finds it on lan.interfaces
		// at start), but one given must be IPv4.
		if (c.LAN.Address.IsValid() && !c.LAN.Address.Is4()) || len(c.LAN.Interfaces) == 0 || len(c.WAN.Interfaces) == 0 || !c.API.Listen.IsValid() {
			t.Errorf("Parse(%q) accepted an incomplete config %+v", file, c)
		}
		if !c.API.AllowLAN && (c.API.Listen.Addr().IsUnspecified() || c.API.Listen.Addr() == c.LAN.Address) {
			t.Errorf("Parse(%q) put the API on the LAN without allow_lan", file)
		}
	})
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func TestNoticeErrors(t *testing.T) {
	base := "lan: {interfaces: [br-lan], address: 192.168.50.1}\nwan: {interfaces: [eth0]}\n"
	tests := []struct {
		notice string
		want   string
	}{
		{`portal_url: "ftp://x/"`, `notice.portal_url: "ftp://x/" is not an absolute http(s) URL`},
		{`portal_url: "/relative"`, `notice.portal_url: "/relative" is not an absolute http(s) URL`},
		{`time_zone: Mars/Olympus`, `notice.time_zone: "Mars/Olympus" is not a time zone name`},
		{`time_zone: ../../etc/passwd`, `notice.time_zone: "../../etc/passwd" is not a time zone name`},
		{`feeds: ["file:///etc/passwd"]`, `notice.feeds[0]: "file:///etc/passwd" is not an http(s) URL`},
		{`feed_interval: 5s`, `notice.feed_interval: "5s": want a duration between 1m and 168h`},
		{`contact: "a\tb"`, `notice.contact: "a\tb" contains a control character`},
	}
	for _, tt := range tests {
		t.Run(tt.notice, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(base + "notice: {" + tt.notice + "}\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(notice: {%s}) = %v, want an error containing %q", tt.notice, err, tt.want)
			}
		})
	}
}

func TestApprovals(t *testing.T) {
	tests := []struct {
		approvals string
		want      curfew.ApprovalPolicy
	}{
		{"{required_over: 24h}", curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour}},
		{"{required_over: 0s, modes: [cutoff]}", curfew.ApprovalPolicy{Enabled: true, Modes: []curfew.Mode{curfew.ModeCutoff}}},
		{"{required_over: 90m, modes: [blocklist, allowlist]}", curfew.ApprovalPolicy{Enabled: true, RequiredOver: 90 * time.Minute, Modes: []curfew.Mode{curfew.ModeBlocklist, curfew.ModeAllowlist}}},
	}
	for _, tt := range tests {
		t.Run(tt.approvals, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(minimal + "approvals: " + tt.approvals + "\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.Approvals); diff != "" {
				t.Errorf("Approvals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApprovalsErrors(t *testing.T) {
	tests := []struct {
		approvals string
		want      string
	}{
		{"{modes: [cutoff]}", "approvals.required_over: missing: the longest a restriction may last without a second operator, such as 24h (0s makes every restriction wait)"},
		{"{required_over: a day}", `approvals.required_over: "a day" is not a duration such as 24h or 168h`},
		{"{required_over: 1d}", `approvals.required_over: "1d" is not a duration such as 24h or 168h`},
		{"{required_over: -1h}", `approvals.required_over: "-1h" is negative`},
		{"{required_over: 8784h}", `approvals.required_over: "8784h" is at least the longest a restriction may last (8784h0m0s), so none would wait`},
		{"{required_over: 24h, modes: []}", "approvals.modes: empty: list the modes that need approval, or leave the key out for every mode"},
		{"{required_over: 24h, modes: [cutoff, slow]}", `approvals.modes[1]: "slow" is not cutoff, allowlist, blocklist or throttle`},
		{`{required_over: 24h, modes: [""]}`, `approvals.modes[0]: "" is not cutoff, allowlist, blocklist or throttle`},
		{"{required_over: 24h, modes: [cutoff, cutoff]}", `approvals.modes[1]: "cutoff" is listed twice`},
		{"{required_over: 24h, mode: [cutoff]}", `line 7: unknown key "approvals.mode"`},
	}
	for _, tt := range tests {
		t.Run(tt.approvals, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(minimal + "approvals: " + tt.approvals + "\n"))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse(approvals: %s) = %v, want %q", tt.approvals, err, tt.want)
			}
		})
	}
}
