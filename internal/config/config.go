// Package config reads curfew's configuration file: YAML decoded strictly
// (unknown keys are errors) into a raw form, then validated into a Config
// whose errors name the field and quote the bad value.
//
// testdata/reference.yaml documents every option; a test parses it.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/curfew/curfew/internal/curfew"
)

// SchemaVersion is the version of the configuration format this curfew
// reads. A file without schema_version is taken to be of this version.
const SchemaVersion = 1

// Defaults for optional settings.
const (
	DefaultStateDir   = "/var/lib/curfew"
	DefaultAPIListen  = "127.0.0.1:8470"
	DefaultDNSPort    = 53
	DefaultNoticePort = 8480
)

// maxFileBytes bounds the configuration file.
const maxFileBytes = 1 << 20

// Config is a validated configuration. Parse returns it with every default
// filled in, so consumers need no defaulting of their own.
type Config struct {
	// StateDir holds the database and keys. Absolute and clean.
	StateDir string
	// MemoryLimit is the soft limit on the daemon's memory, in bytes, set
	// with debug.SetMemoryLimit; 0 if the file does not set it (see
	// MemoryLimitOrDefault).
	MemoryLimit int64
	// TimeZone is the gateway's zone, the file's timezone or the machine's
	// own (LocalZone). Read it with Location.
	TimeZone *time.Location
	LAN      LAN
	WAN      WAN
	API      API
	DNS      DNS
	Notice   Notice
	Log      Log
	Audit    Audit
	// Approvals says which restrictions wait for a second operator; its
	// zero value (no approvals section) makes none wait.
	Approvals curfew.ApprovalPolicy

	// Digest is the SHA-256 (hex) of the file as read, which the audit log
	// records at each start of the daemon.
	Digest string
}

// LAN is the side of the gateway where the controlled clients are.
type LAN struct {
	// Interfaces are the interfaces the clients are behind; at least one.
	Interfaces []string
	// Address is the gateway's IPv4 address that clients use (DNS, the
	// notice page). Parse leaves it zero if the file does not set it;
	// Settle then takes it from the LAN interfaces, and it is valid after.
	Address netip.Addr
	// Address6 is the gateway's IPv6 address that clients use; the zero
	// Addr if not configured and, after Settle, if no LAN interface has a
	// global IPv6 address either.
	Address6 netip.Addr
	// DHCPLeases are lease files of the LAN's DHCP server (dnsmasq's
	// format), from which curfew learns devices' IPv4 addresses besides
	// the neighbour table. May be empty.
	DHCPLeases []string
	// Quarantine is set by unknown_devices: quarantine: a device whose MAC
	// is not registered reaches only curfew's resolver and notice server.
	// The default, allow, admits every device.
	Quarantine bool
}

// WAN is the side of the gateway towards the internet.
type WAN struct {
	// Interfaces lead to the internet; at least one, none of them a LAN
	// interface.
	Interfaces []string
}

// API is the management interface (HTTP API and CLI endpoint).
type API struct {
	// Listen is the TCP address of the API; 127.0.0.1:8470 by default.
	// It is never on the LAN address or a wildcard address unless
	// AllowLAN is set.
	Listen netip.AddrPort
	// AllowLAN permits a Listen address that LAN clients can reach.
	AllowLAN bool
}

// DNS is curfew's resolver, to which clients' DNS is redirected.
type DNS struct {
	// Listen is the UDP and TCP address of the resolver; LAN.Address:53 by
	// default.
	Listen netip.AddrPort
	// Upstreams are the resolvers queries are forwarded to, in order of
	// preference; port 53 unless given. Parse leaves it empty if the file
	// does not list any; Settle then takes the system's resolvers from
	// resolv.conf and sets SystemResolvers.
	Upstreams []netip.AddrPort
	// SystemResolvers reports that Upstreams came from the system's
	// resolv.conf rather than from the file.
	SystemResolvers bool
	// Blocklists are network-wide blocklists: absolute file paths or
	// http(s) URLs. May be empty.
	Blocklists []string
	// DoHList is a file of DNS-over-HTTPS endpoint addresses that
	// restricted clients may not reach, added to the list curfew ships;
	// empty uses the shipped list alone.
	DoHList string
	// AllowFrom are prefixes routed behind the LAN whose clients the
	// resolver serves besides those on the LAN interfaces' own subnets;
	// queries from anywhere else are refused.
	AllowFrom []netip.Prefix
	// CacheSize is how many bytes the resolver's cache may take; 0 leaves
	// the resolver's default (32 MiB).
	CacheSize int64
}

// Notice is the server of the page restricted clients are shown.
type Notice struct {
	// Listen is the TCP address of the notice server; LAN.Address:8480 by
	// default.
	Listen netip.AddrPort
	// NetworkName names the network on the page ("the Embassy guest
	// network"); empty means "this network".
	NetworkName string
	// Contact is whom a restricted person can ask: an email address, a
	// URL or free text. Empty shows no contact.
	Contact string
	// PortalURL is the address browsers are redirected to and the
	// captive-portal API announces; empty serves the page in place.
	PortalURL string
	// TimeZone is the zone the page shows times in first, before UTC;
	// the gateway's (Config.Location) unless notice.time_zone sets another.
	TimeZone *time.Location
	// Feeds are RSS or Atom feeds whose headlines the page shows (the
	// bulletin); empty shows none.
	Feeds []string
	// FeedInterval is how often the feeds are fetched; 30 minutes by
	// default.
	FeedInterval time.Duration
	// TLSCert and TLSKey are the absolute paths of the PEM certificate
	// (with its chain) and private key the notice server answers TLS
	// with, on its own port beside plain HTTP; both or neither. They are
	// read at start, on SIGHUP and whenever the files change. Empty: no
	// TLS.
	TLSCert, TLSKey string
}

// Audit is where the audit log's checkpoints are published besides the
// state directory.
type Audit struct {
	// SyslogNetwork and SyslogAddr say where every new checkpoint is sent
	// with log/syslog: both empty for no syslog, SyslogNetwork "local"
	// for the local syslog daemon, or "udp" or "tcp" and a HOST:PORT.
	SyslogNetwork string
	SyslogAddr    string
}

// Log is the daemon's logging.
type Log struct {
	// Level is the least severe level logged; slog.LevelInfo by default.
	Level slog.Level
}

// raw is the file as written. Every value is kept as text so that
// validation can quote it in errors.
type raw struct {
	SchemaVersion *int          `yaml:"schema_version"`
	StateDir      string        `yaml:"state_dir"`
	MemoryLimit   string        `yaml:"memory_limit"`
	TimeZone      *string       `yaml:"timezone"`
	LAN           rawLAN        `yaml:"lan"`
	WAN           rawWAN        `yaml:"wan"`
	API           rawAPI        `yaml:"api"`
	DNS           rawDNS        `yaml:"dns"`
	Notice        rawNotice     `yaml:"notice"`
	Log           rawLog        `yaml:"log"`
	Approvals     *rawApprovals `yaml:"approvals"`
	Audit         rawAudit      `yaml:"audit"`
}

type rawApprovals struct {
	RequiredOver string    `yaml:"required_over"`
	Modes        *[]string `yaml:"modes"` // nil: every mode; empty is an error
}

type rawAudit struct {
	Syslog string `yaml:"syslog"`
}

type rawLAN struct {
	Interfaces []string `yaml:"interfaces"`
	Address    string   `yaml:"address"`
	Address6   string   `yaml:"address6"`
	DHCPLeases []string `yaml:"dhcp_leases"`
	// UnknownDevices is "allow" (the default) or "quarantine".
	UnknownDevices string `yaml:"unknown_devices"`
}

type rawWAN struct {
	Interfaces []string `yaml:"interfaces"`
}

type rawAPI struct {
	Listen   string `yaml:"listen"`
	AllowLAN bool   `yaml:"allow_lan"`
}

type rawDNS struct {
	Listen     string   `yaml:"listen"`
	Upstreams  []string `yaml:"upstreams"`
	Blocklists []string `yaml:"blocklists"`
	DoHList    string   `yaml:"doh_list"`
	AllowFrom  []string `yaml:"allow_from"`
	CacheSize  string   `yaml:"cache_size"`
}

type rawNotice struct {
	Listen       string   `yaml:"listen"`
	NetworkName  string   `yaml:"network_name"`
	Contact      string   `yaml:"contact"`
	PortalURL    string   `yaml:"portal_url"`
	TimeZone     string   `yaml:"time_zone"`
	Feeds        []string `yaml:"feeds"`
	FeedInterval string   `yaml:"feed_interval"`
	TLSCert      string   `yaml:"tls_cert"`
	TLSKey       string   `yaml:"tls_key"`
}

type rawLog struct {
	Level string `yaml:"level"`
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads and validates a configuration. Its error names every field
// that is wrong, on one line.
func Parse(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d KiB", maxFileBytes>>10)
	}
	rc, err := decode(b)
	if err != nil {
		return nil, err
	}
	c, err := rc.validate()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	c.Digest = hex.EncodeToString(sum[:])
	return c, nil
}

// decode decodes b strictly into a raw configuration.
func decode(b []byte) (*raw, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var rc raw
	if err := dec.Decode(&rc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty: want a YAML mapping such as the reference configuration")
		}
		return nil, describeYAMLError(b, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; want exactly one")
	}
	return &rc, nil
}

var (
	unknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	badType    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// describeYAMLError rewrites yaml's errors to name the configuration key
// instead of Go types.
func describeYAMLError(b []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("parsing YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	keys := keyLines(b)
	var errs fieldErrors
	for _, msg := range te.Errors {
		if m := unknownKey.FindStringSubmatch(msg); m != nil {
			key := m[2]
			if p := keys[m[1]]; p != "" {
				key = p
			}
			errs = append(errs, fmt.Errorf("line %s: unknown key %q", m[1], key))
			continue
		}
		if m := badType.FindStringSubmatch(msg); m != nil {
			key := keys[m[1]]
			if key == "" {
				key = "line " + m[1]
			} else {
				key += " (line " + m[1] + ")"
			}
			errs = append(errs, fmt.Errorf("%s: got %s, want %s", key, yamlValue(m[2], m[3]), goTypeName(m[4])))
			continue
		}
		errs = append(errs, errors.New(msg))
	}
	return errs
}

// keyLines maps the line of every key and sequence item in b to its dotted
// path, such as "lan.interfaces" or "dns.upstreams[1]".
func keyLines(b []byte) map[string]string {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil {
		return nil
	}
	m := map[string]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				m[strconv.Itoa(n.Content[i].Line)] = p
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := m[strconv.Itoa(c.Line)]; !ok {
					m[strconv.Itoa(c.Line)] = p
				}
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
	return m
}

func yamlValue(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return strconv.Quote(value)
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case t == "int", t == "*int":
		return "an integer"
	}
	return "a mapping"
}

// fieldErrors is every validation error of one file; it prints on one line.
type fieldErrors []error

func (e fieldErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e fieldErrors) Unwrap() []error { return e }

// validate builds the Config rc describes, or reports every field at fault.
func (rc *raw) validate() (*Config, error) {
	var errs fieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c := &Config{}

	if v := rc.SchemaVersion; v != nil && *v != SchemaVersion {
		bad("schema_version", "%d is not supported; this curfew reads version %d", *v, SchemaVersion)
	}

	c.StateDir = DefaultStateDir
	if rc.StateDir != "" {
		if !filepath.IsAbs(rc.StateDir) {
			bad("state_dir", "%q is not an absolute path", rc.StateDir)
		}
		c.StateDir = filepath.Clean(rc.StateDir)
	}

	if v := rc.MemoryLimit; v != "" {
		if n, err := parseByteSize(v); err != nil {
			bad("memory_limit", "%q %s", v, err)
		} else if n < minMemoryLimit || n > maxMemoryLimit {
			bad("memory_limit", "%q is outside 32MiB to 64GiB", v)
		} else {
			c.MemoryLimit = n
		}
	}

	c.TimeZone = LocalZone()
	if z := rc.TimeZone; z != nil {
		if loc, err := LoadZone(*z); err != nil {
			bad("timezone", "%q is not an IANA time zone name such as Europe/Madrid; leave the key out for the gateway's own zone", *z)
		} else {
			c.TimeZone = loc
		}
	}

	// LAN.
	c.LAN.Interfaces = interfaces(rc.LAN.Interfaces, "lan.interfaces", bad)
	switch a, err := hostAddr(rc.LAN.Address); {
	case rc.LAN.Address == "":
		// Settle takes the first LAN interface's address.
	case err != nil:
		bad("lan.address", "%q %s", rc.LAN.Address, err)
	case !a.Is4():
		bad("lan.address", "%q is an IPv6 address; want IPv4 here and IPv6 in lan.address6", rc.LAN.Address)
	default:
		c.LAN.Address = a
	}
	if rc.LAN.Address6 != "" {
		switch a, err := hostAddr(rc.LAN.Address6); {
		case err != nil:
			bad("lan.address6", "%q %s", rc.LAN.Address6, err)
		case !a.Is6():
			bad("lan.address6", "%q is an IPv4 address; want IPv6 here and IPv4 in lan.address", rc.LAN.Address6)
		default:
			c.LAN.Address6 = a
		}
	}
	for i, f := range rc.LAN.DHCPLeases {
		if !filepath.IsAbs(f) {
			bad(fmt.Sprintf("lan.dhcp_leases[%d]", i), "%q is not an absolute path", f)
			continue
		}
		c.LAN.DHCPLeases = append(c.LAN.DHCPLeases, filepath.Clean(f))
	}
	switch rc.LAN.UnknownDevices {
	case "", "allow":
	case "quarantine":
		c.LAN.Quarantine = true
	default:
		bad("lan.unknown_devices", "%q is not allow or quarantine", rc.LAN.UnknownDevices)
	}

	// WAN.
	c.WAN.Interfaces = interfaces(rc.WAN.Interfaces, "wan.interfaces", bad)
	for _, w := range c.WAN.Interfaces {
		for _, l := range c.LAN.Interfaces {
			if w == l {
				bad("wan.interfaces", "%q is also a LAN interface", w)
			}
		}
	}

	// API.
	c.API.AllowLAN = rc.API.AllowLAN
	c.API.Listen = netip.MustParseAddrPort(DefaultAPIListen)
	if rc.API.Listen != "" {
		if ap, err := listenAddr(rc.API.Listen, 0); err != nil {
			bad("api.listen", "%q %s", rc.API.Listen, err)
		} else {
			c.API.Listen = ap
		}
	}
	if !c.API.AllowLAN {
		switch a := c.API.Listen.Addr(); {
		case a.IsUnspecified():
			bad("api.listen", "%s listens on every address, so controlled LAN clients could reach the admin API; use a management address such as %s, or set api.allow_lan: true", c.API.Listen, DefaultAPIListen)
		case a == c.LAN.Address || c.LAN.Address6.IsValid() && a == c.LAN.Address6:
			bad("api.listen", "%s is on the LAN address, so controlled clients could reach the admin API; use a management address such as %s, or set api.allow_lan: true", c.API.Listen, DefaultAPIListen)
		}
	}

	// DNS.
	if rc.DNS.Listen != "" {
		if ap, err := listenAddr(rc.DNS.Listen, 0); err != nil {
			bad("dns.listen", "%q %s", rc.DNS.Listen, err)
		} else {
			c.DNS.Listen = ap
		}
	} else if c.LAN.Address.IsValid() {
		c.DNS.Listen = netip.AddrPortFrom(c.LAN.Address, DefaultDNSPort)
	}
	for i, s := range rc.DNS.Upstreams {
		field := fmt.Sprintf("dns.upstreams[%d]", i)
		ap, err := listenAddr(s, DefaultDNSPort)
		switch {
		case err != nil:
			bad(field, "%q %s", s, err)
		case ap.Addr().IsUnspecified() || ap.Port() == 0:
			bad(field, "%q is not a resolver address", s)
		default:
			c.DNS.Upstreams = append(c.DNS.Upstreams, ap)
		}
	}
	for i, s := range rc.DNS.Blocklists {
		field := fmt.Sprintf("dns.blocklists[%d]", i)
		if strings.Contains(s, "://") {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(field, "%q is not an http or https URL", s)
				continue
			}
		} else if !filepath.IsAbs(s) {
			bad(field, "%q is neither an absolute path nor an http(s) URL", s)
			continue
		}
		c.DNS.Blocklists = append(c.DNS.Blocklists, s)
	}
	if v := rc.DNS.DoHList; v != "" {
		if !filepath.IsAbs(v) {
			bad("dns.doh_list", "%q is not an absolute path", v)
		} else {
			c.DNS.DoHList = filepath.Clean(v)
		}
	}

	for i, v := range rc.DNS.AllowFrom {
		field := fmt.Sprintf("dns.allow_from[%d]", i)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			if a, aerr := netip.ParseAddr(v); aerr == nil && a.Zone() == "" {
				p, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err != nil {
			bad(field, "%q is not an address or ADDR/PREFIX", v)
			continue
		}
		if p.Addr().Is4In6() {
			bad(field, "%q is an IPv4-mapped prefix; write it as IPv4", v)
			continue
		}
		c.DNS.AllowFrom = append(c.DNS.AllowFrom, p.Masked())
	}

	if v := rc.DNS.CacheSize; v != "" {
		if n, err := parseByteSize(v); err != nil {
			bad("dns.cache_size", "%q %s", v, err)
		} else if n < minCacheSize || n > maxCacheSize {
			bad("dns.cache_size", "%q is outside 1MiB to 16GiB", v)
		} else {
			c.DNS.CacheSize = n
		}
	}

	// Notice.
	if rc.Notice.Listen != "" {
		if ap, err := listenAddr(rc.Notice.Listen, 0); err != nil {
			bad("notice.listen", "%q %s", rc.Notice.Listen, err)
		} else {
			c.Notice.Listen = ap
		}
	} else if c.LAN.Address.IsValid() {
		c.Notice.Listen = netip.AddrPortFrom(c.LAN.Address, DefaultNoticePort)
	}
	for _, f := range []struct {
		name, value string
		max         int
		dst         *string
	}{
		{"notice.network_name", rc.Notice.NetworkName, 100, &c.Notice.NetworkName},
		{"notice.contact", rc.Notice.Contact, 200, &c.Notice.Contact},
	} {
		switch {
		case len(f.value) > f.max:
			bad(f.name, "is %d bytes, more than %d", len(f.value), f.max)
		case strings.ContainsFunc(f.value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			bad(f.name, "%q contains a control character", f.value)
		default:
			*f.dst = strings.TrimSpace(f.value)
		}
	}
	if u := rc.Notice.PortalURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad("notice.portal_url", "%q is not an absolute http(s) URL", u)
		} else {
			c.Notice.PortalURL = u
		}
	}
	c.Notice.TimeZone = c.TimeZone
	if z := rc.Notice.TimeZone; z != "" {
		if loc, err := LoadZone(z); err != nil {
			bad("notice.time_zone", "%q is not a time zone name such as Europe/Madrid", z)
		} else {
			c.Notice.TimeZone = loc
		}
	}
	for i, f := range rc.Notice.Feeds {
		field := fmt.Sprintf("notice.feeds[%d]", i)
		if fu, err := url.Parse(f); err != nil || (fu.Scheme != "http" && fu.Scheme != "https") || fu.Host == "" {
			bad(field, "%q is not an http(s) URL", f)
			continue
		}
		c.Notice.Feeds = append(c.Notice.Feeds, f)
	}
	c.Notice.FeedInterval = 30 * time.Minute
	if v := rc.Notice.FeedInterval; v != "" {
		if d, err := time.ParseDuration(v); err != nil || d < time.Minute || d > 7*24*time.Hour {
			bad("notice.feed_interval", "%q: want a duration between 1m and 168h, such as 30m", v)
		} else {
			c.Notice.FeedInterval = d
		}
	}
	for _, f := range []struct {
		name, value string
		dst         *string
	}{{"notice.tls_cert", rc.Notice.TLSCert, &c.Notice.TLSCert}, {"notice.tls_key", rc.Notice.TLSKey, &c.Notice.TLSKey}} {
		if f.value != "" && !filepath.IsAbs(f.value) {
			bad(f.name, "%q is not an absolute path", f.value)
			continue
		}
		*f.dst = f.value
	}
	switch {
	case rc.Notice.TLSCert != "" && rc.Notice.TLSKey == "":
		bad("notice.tls_key", "missing: notice.tls_cert is set, so give the file of its private key too")
	case rc.Notice.TLSKey != "" && rc.Notice.TLSCert == "":
		bad("notice.tls_cert", "missing: notice.tls_key is set, so give the file of its certificate too")
	}

	// Two TCP servers cannot share an address.
	if c.API.Listen.Port() != 0 {
		if c.API.Listen == c.Notice.Listen {
			bad("notice.listen", "%s is also api.listen", c.Notice.Listen)
		}
		if c.API.Listen == c.DNS.Listen {
			bad("dns.listen", "%s is also api.listen", c.DNS.Listen)
		}
	}
	if c.DNS.Listen.Port() != 0 && c.DNS.Listen == c.Notice.Listen {
		bad("notice.listen", "%s is also dns.listen", c.Notice.Listen)
	}

	// Log.
	switch strings.ToLower(rc.Log.Level) {
	case "", "info":
		c.Log.Level = slog.LevelInfo
	case "debug":
		c.Log.Level = slog.LevelDebug
	case "warn":
		c.Log.Level = slog.LevelWarn
	case "error":
		c.Log.Level = slog.LevelError
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", rc.Log.Level)
	}

	// Approvals.
	if a := rc.Approvals; a != nil {
		c.Approvals.Enabled = true
		switch d, err := time.ParseDuration(a.RequiredOver); {
		case a.RequiredOver == "":
			bad("approvals.required_over", "missing: the longest a restriction may last without a second operator, such as 24h (0s makes every restriction wait)")
		case err != nil:
			bad("approvals.required_over", "%q is not a duration such as 24h or 168h", a.RequiredOver)
		case d < 0:
			bad("approvals.required_over", "%q is negative", a.RequiredOver)
		case d >= curfew.MaxDuration:
			bad("approvals.required_over", "%q is at least the longest a restriction may last (%s), so none would wait", a.RequiredOver, curfew.MaxDuration)
		default:
			c.Approvals.RequiredOver = d
		}
		if a.Modes != nil && len(*a.Modes) == 0 {
			bad("approvals.modes", "empty: list the modes that need approval, or leave the key out for every mode")
		}
		if a.Modes != nil {
			for i, m := range *a.Modes {
				field := fmt.Sprintf("approvals.modes[%d]", i)
				mode, err := curfew.ParseMode(m)
				switch {
				case err != nil || m == "":
					bad(field, "%q is not cutoff, allowlist, blocklist or throttle", m)
				case slices.Contains(c.Approvals.Modes, mode):
					bad(field, "%q is listed twice", m)
				default:
					c.Approvals.Modes = append(c.Approvals.Modes, mode)
				}
			}
		}
	}

	// Audit.
	switch s := rc.Audit.Syslog; {
	case s == "":
	case s == "local":
		c.Audit.SyslogNetwork = "local"
	default:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Port() == "" || u.Hostname() == "" || u.Path != "" || u.User != nil {
			bad("audit.syslog", "%q: want local, udp://HOST:PORT or tcp://HOST:PORT", s)
			break
		}
		c.Audit.SyslogNetwork, c.Audit.SyslogAddr = u.Scheme, u.Host
	}

	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// interfaces checks a list of interface names.
func interfaces(names []string, field string, bad func(field, format string, args ...any)) []string {
	if len(names) == 0 {
		bad(field, "missing: want at least one interface name")
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n"):
			bad(f, "%q is not an interface name", n)
		case seen[n]:
			bad(f, "%q is listed twice", n)
		default:
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// hostAddr parses the address of a host: unicast, no zone, IPv4-mapped
// addresses unmapped. Its error reads after the quoted input.
func hostAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("is not an IP address")
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, errors.New("has a zone; want a plain address")
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
		return netip.Addr{}, errors.New("is not a unicast address a client can reach")
	}
	return a, nil
}

// listenAddr parses "ADDR:PORT" or "[ADDR6]:PORT"; if defaultPort is not
// zero, a bare address is also accepted and given that port. Its error reads
// after the quoted input.
func listenAddr(s string, defaultPort uint16) (netip.AddrPort, error) {
	if defaultPort != 0 {
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				return netip.AddrPort{}, errors.New("has a zone; want a plain address")
			}
			return netip.AddrPortFrom(a.Unmap(), defaultPort), nil
		}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		if defaultPort != 0 {
			return netip.AddrPort{}, errors.New("is not ADDR or ADDR:PORT (such as 10.0.0.53 or [2001:db8::53]:53)")
		}
		return netip.AddrPort{}, errors.New("is not ADDR:PORT (such as 127.0.0.1:8470 or [::1]:8470)")
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, errors.New("has a zone; want a plain address")
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Bounds of dns.cache_size.
const (
	minCacheSize = 1 << 20
	maxCacheSize = 16 << 30
)

// Bounds of memory_limit.
const (
	minMemoryLimit = 32 << 20
	maxMemoryLimit = 64 << 30
)

// DefaultCacheSize is the resolver's cache size when dns.cache_size is
// not set.
const DefaultCacheSize = 32 << 20

// DefaultMemoryLimit is the daemon's soft memory limit for a resolver
// cache of cacheSize bytes (DefaultCacheSize if 0): room for the cache
// twice over (its entries, and the answers on their way in and out) and
// 24 MiB for the rest of the daemon and a blocklist of a million names;
// 88 MiB for the default cache.
func DefaultMemoryLimit(cacheSize int64) int64 {
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return 2*cacheSize + 24<<20
}

// MemoryLimitOrDefault returns memory_limit if the file sets it, else
// DefaultMemoryLimit for dns.cache_size.
func (c *Config) MemoryLimitOrDefault() int64 {
	if c.MemoryLimit > 0 {
		return c.MemoryLimit
	}
	return DefaultMemoryLimit(c.DNS.CacheSize)
}

// byteUnits are the units parseByteSize takes, longest first.
var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// parseByteSize parses a size such as 32MiB, 500KB or 1048576: a whole
// number and an optional unit, binary (KiB, MiB, GiB) or decimal (KB, MB,
// GB).
func parseByteSize(s string) (int64, error) {
	num, unit := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, unit = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("is not a size such as 32MiB, 500KB or 1048576")
	}
	if n > math.MaxInt64/unit {
		return 0, errors.New("is too large")
	}
	return n * unit, nil
}
