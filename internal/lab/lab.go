package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// The addresses of the lab network. They are fixed: the lab is always the
// same picture, and several labs run side by side in separate namespaces.
var (
	UpstreamV4 = netip.MustParseAddr("198.51.100.10")
	UpstreamV6 = netip.MustParseAddr("2001:db8:100::10")
	WANV4      = netip.MustParseAddr("198.51.100.1") // the gateway's WAN side
	WANV6      = netip.MustParseAddr("2001:db8:100::1")
	LANV4      = netip.MustParseAddr("10.50.0.1") // the gateway on br-lan
	LANV6      = netip.MustParseAddr("fd00:50::1")
	// A second site on the upstream, with the same web server.
	Upstream2V4 = netip.MustParseAddr("198.51.100.20")
	Upstream2V6 = netip.MustParseAddr("2001:db8:100::20")
)

// Interface names inside the gateway namespace.
const (
	LANInterface = "br-lan"
	WANInterface = "wan0"
)

// Ports of the upstream web server. Both serve the same pages; port 80 is
// the one a restricted client's HTTP is redirected from (to the notice
// page), AltPort is an ordinary TCP port.
const (
	HTTPPort = 80
	AltPort  = 8080
)

// Hello starts the body of the upstream's page at /.
const Hello = "hello from the internet"

// NumClients is how many client namespaces the lab has.
const NumClients = 3

// DefaultPrefix is the namespace name prefix of `curfew lab`.
const DefaultPrefix = "curfew-lab"

// Config configures New.
type Config struct {
	// Prefix starts every namespace name: PREFIX-up, PREFIX-gw,
	// PREFIX-c1…. Letters, digits and '-', at most 32 characters.
	// Empty means DefaultPrefix.
	Prefix string
	// Dir holds the gateway's configuration, state and daemon log. Empty
	// means a new temporary directory, removed by Close.
	Dir string
	// Binary is the curfew binary that Init and StartDaemon run.
	Binary string
	// APIListen is the host address where the gateway's API is
	// forwarded. Empty means 127.0.0.1 on a free port.
	APIListen string
	// Blocklists are the gateway's network-wide DNS blocklists
	// (dns.blocklists): file paths or URLs. Optional.
	Blocklists []string
	// DNSAllowFrom are prefixes beyond the LAN whose clients the
	// gateway's resolver serves (dns.allow_from). Optional.
	DNSAllowFrom []string
	// DNSUpstreams replaces the gateway resolver's upstreams
	// (dns.upstreams), which are the upstream namespace's DNS server by
	// default: for a DNS server on the gateway itself, say. Optional.
	DNSUpstreams []string
	// DNSListen is the gateway resolver's address (dns.listen), the LAN
	// address on port 53 by default: another port leaves 53 on the LAN
	// address to a DNS server already there (the firewall redirects the
	// LAN's port 53 to curfew whatever the address). Optional.
	DNSListen string
	// DHCPLeases are lease files of a DHCP server on the gateway
	// (lan.dhcp_leases). Optional.
	DHCPLeases []string
	// Notice sets options of the gateway's notice page; its zero value
	// keeps curfew's defaults.
	Notice Notice
	// Approvals turns on four eyes on the gateway; its zero value leaves
	// the approvals section out.
	Approvals Approvals
	// UnknownDevices is the gateway's lan.unknown_devices ("allow" or
	// "quarantine"); empty leaves curfew's default, allow.
	UnknownDevices string
	// TimeZone is the gateway's timezone, an IANA name; empty leaves
	// curfew's default, the machine's own zone.
	TimeZone string
}

// Approvals holds the gateway's approvals section (four eyes). Empty
// fields are left out; without RequiredOver there is no section.
type Approvals struct {
	RequiredOver string   // approvals.required_over, such as "24h"
	Modes        []string // approvals.modes
}

// Notice holds options of the gateway's notice page (the notice section of
// curfew's configuration). Empty fields are left out.
type Notice struct {
	NetworkName string   // notice.network_name
	Contact     string   // notice.contact
	PortalURL   string   // notice.portal_url
	TimeZone    string   // notice.time_zone
	TLSCert     string   // notice.tls_cert
	TLSKey      string   // notice.tls_key
	Feeds       []string // notice.feeds
}

// Lab is a running simulated network. Its methods, and those of its
// namespaces and clients, may be called from several goroutines; Close
// comes last.
type Lab struct {
	prefix  string
	dir     string
	tempDir bool // dir is ours to remove
	binary  string

	Upstream *Netns
	Gateway  *Netns
	Clients  []*Client // NumClients of them, in order

	web      []*http.Server
	dns      []*dns.Server // the upstream's DNS server, UDP and TCP
	dnsLog   dnsLog
	conf     Config
	apiLn    net.Listener
	apiWG    sync.WaitGroup // the forwarder's goroutines
	apiConns sync.Map       // net.Conn → struct{}: forwarded connections, closed by Close

	mu     sync.Mutex    // guards the fields below
	daemon *exec.Cmd     // nil unless a daemon was started
	exited chan struct{} // closed when daemon has exited
	logf   *os.File      // the daemon's log, appended to by every start
}

// New builds the lab network: it removes what a previous lab with the same
// prefix left behind, creates the namespaces and links, starts the upstream
// web server and the API forwarder, and writes the gateway's curfew
// configuration. It does not start curfew (see Init and StartDaemon). On
// error, what was built is removed again. The caller must Close the lab.
func New(ctx context.Context, c Config) (*Lab, error) {
	prefix := c.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("the lab needs iproute2: %w", err)
	}
	l := &Lab{prefix: prefix, dir: c.Dir, binary: c.Binary, conf: c}
	if l.dir == "" {
		d, err := os.MkdirTemp("", "curfew-lab-")
		if err != nil {
			return nil, fmt.Errorf("creating lab directory: %w", err)
		}
		l.dir, l.tempDir = d, true
	}
	if err := l.build(ctx, c); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// CheckPrefix reports whether p is a valid Config.Prefix.
func CheckPrefix(p string) error {
	if len(p) > 32 {
		return fmt.Errorf("lab prefix %q: longer than 32 characters", p)
	}
	for i, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && r == '-') {
			return fmt.Errorf("lab prefix %q: only letters, digits and '-' are allowed, starting with a letter or digit", p)
		}
	}
	return nil
}

// names returns the namespace names of a lab with prefix p.
func names(p string) (up, gw string, clients []string) {
	for i := 1; i <= NumClients; i++ {
		clients = append(clients, fmt.Sprintf("%s-c%d", p, i))
	}
	return p + "-up", p + "-gw", clients
}

// Prefix returns the namespace name prefix.
func (l *Lab) Prefix() string { return l.prefix }

// Dir returns the directory of the gateway's configuration and state.
func (l *Lab) Dir() string { return l.dir }

func (l *Lab) build(ctx context.Context, c Config) error {
	if err := removeNamespaces(ctx, l.prefix); err != nil {
		return err
	}
	up, gw, clients := names(l.prefix)
	all := append([]string{up, gw}, clients...)
	for _, n := range all {
		if err := ip(ctx, "netns", "add", n); err != nil {
			return err
		}
		ns, err := openNetns(n)
		if err != nil {
			return err
		}
		switch n {
		case up:
			l.Upstream = ns
		case gw:
			l.Gateway = ns
		default:
			i := len(l.Clients) + 1
			l.Clients = append(l.Clients, &Client{
				Netns: ns,
				Index: i,
				MAC:   net.HardwareAddr{0x02, 0xc0, 0xff, 0xee, 0x00, byte(i)},
				V4:    netip.AddrFrom4([4]byte{10, 50, 0, byte(10 + i)}),
				V6:    netip.MustParseAddr(fmt.Sprintf("fd00:50::%d", 10+i)),
			})
		}
		// No duplicate address detection, so v6 addresses (link-local
		// ones too) work at once; forwarding only on the gateway.
		sysctls := []string{"-q", "-w",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0"}
		if n == gw {
			sysctls = append(sysctls, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
		}
		if _, err := ns.Run(ctx, "sysctl", sysctls...); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"-n", up, "link", "set", "lo", "up"},
		{"-n", gw, "link", "set", "lo", "up"},
		{"-n", gw, "link", "add", WANInterface, "type", "veth", "peer", "name", "eth0", "netns", up},
		{"-n", gw, "addr", "add", pfx(WANV4, 24), "dev", WANInterface},
		{"-n", gw, "addr", "add", pfx(WANV6, 64), "dev", WANInterface, "nodad"},
		{"-n", gw, "link", "set", WANInterface, "up"},
		{"-n", up, "addr", "add", pfx(UpstreamV4, 24), "dev", "eth0"},
		{"-n", up, "addr", "add", pfx(UpstreamV6, 64), "dev", "eth0", "nodad"},
		{"-n", up, "addr", "add", pfx(Upstream2V4, 24), "dev", "eth0"},
		{"-n", up, "addr", "add", pfx(Upstream2V6, 64), "dev", "eth0", "nodad"},
		{"-n", up, "link", "set", "eth0", "up"},
		{"-n", up, "route", "add", "10.50.0.0/24", "via", WANV4.String()},
		{"-n", up, "route", "add", "fd00:50::/64", "via", WANV6.String()},
		{"-n", gw, "route", "add", "default", "via", UpstreamV4.String()},
		{"-n", gw, "route", "add", "default", "via", UpstreamV6.String()},
		// No multicast snooping: with no MLD querier on the LAN it can
		// starve neighbour discovery of its solicited-node multicast.
		{"-n", gw, "link", "add", LANInterface, "type", "bridge", "mcast_snooping", "0"},
		{"-n", gw, "addr", "add", pfx(LANV4, 24), "dev", LANInterface},
		{"-n", gw, "addr", "add", pfx(LANV6, 64), "dev", LANInterface, "nodad"},
		{"-n", gw, "link", "set", LANInterface, "up"},
	}
	for _, cl := range l.Clients {
		port := fmt.Sprintf("lan%d", cl.Index)
		n := cl.Name
		steps = append(steps,
			[]string{"-n", gw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", cl.MAC.String(), "netns", n},
			[]string{"-n", gw, "link", "set", port, "master", LANInterface, "up"},
			[]string{"-n", n, "link", "set", "lo", "up"},
			[]string{"-n", n, "addr", "add", pfx(cl.V4, 24), "dev", "eth0"},
			[]string{"-n", n, "addr", "add", pfx(cl.V6, 64), "dev", "eth0", "nodad"},
			[]string{"-n", n, "link", "set", "eth0", "up"},
			[]string{"-n", n, "route", "add", "default", "via", LANV4.String()},
			[]string{"-n", n, "route", "add", "default", "via", LANV6.String()},
		)
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("building lab network: %w", err)
		}
	}
	if err := l.waitLinks(ctx); err != nil {
		return err
	}
	if err := l.startWeb(); err != nil {
		return err
	}
	if err := l.startDNS(); err != nil {
		return err
	}
	if err := l.startForwarder(c.APIListen); err != nil {
		return err
	}
	return l.writeConfig()
}

// waitLinks waits, for at most 5 seconds, until every link of the lab is
// operationally up. Until the kernel has processed a link's carrier (which
// it does at most once a second per batch of links), the link drops what
// it is given, and the first connection of a client would stall for a
// TCP retransmission.
func (l *Lab) waitLinks(ctx context.Context) error {
	all := append([]*Netns{l.Upstream, l.Gateway}, l.clientNetns()...)
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range all {
		for {
			out, err := run(exec.CommandContext(ctx, "ip", "-n", n.Name, "-o", "link", "show"))
			if err != nil {
				return err
			}
			down := ""
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[1] != "lo:" && !strings.Contains(line, " state UP ") {
					down = strings.TrimSuffix(f[1], ":")
				}
			}
			if down == "" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("building lab network: link %s in %s is not up after 5s", down, n.Name)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func (l *Lab) clientNetns() []*Netns {
	var ns []*Netns
	for _, c := range l.Clients {
		ns = append(ns, c.Netns)
	}
	return ns
}

func pfx(a netip.Addr, bits int) string { return netip.PrefixFrom(a, bits).String() }

// Remove deletes the namespaces of a lab with prefix p, if they exist,
// after killing the processes that run in them (a daemon that a previous
// lab left running). New does this before building; Remove is for
// cleaning up after a process that died without closing its lab.
func Remove(ctx context.Context, p string) error {
	if err := CheckPrefix(p); err != nil {
		return err
	}
	return removeNamespaces(ctx, p)
}

func removeNamespaces(ctx context.Context, p string) error {
	up, gw, clients := names(p)
	var errs []error
	for _, n := range append([]string{up, gw}, clients...) {
		if _, err := os.Stat("/run/netns/" + n); err != nil {
			continue
		}
		out, _ := run(exec.CommandContext(ctx, "ip", "netns", "pids", n))
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := ip(ctx, "netns", "delete", n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the daemon, the web server and the API forwarder, and
// removes the namespaces and, if New created it, the lab directory. It may
// be called more than once.
func (l *Lab) Close() error {
	var errs []error
	if err := l.StopDaemon(); err != nil {
		errs = append(errs, err)
	}
	for _, s := range l.web {
		s.Close()
	}
	l.web = nil
	for _, s := range l.dns {
		s.Shutdown()
	}
	l.dns = nil
	if l.apiLn != nil {
		l.apiLn.Close()
		l.apiConns.Range(func(k, _ any) bool {
			k.(net.Conn).Close()
			return true
		})
		l.apiWG.Wait()
		l.apiLn = nil
	}
	l.Upstream.close()
	l.Gateway.close()
	for _, c := range l.Clients {
		c.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := removeNamespaces(ctx, l.prefix); err != nil {
		errs = append(errs, err)
	}
	l.mu.Lock()
	if l.logf != nil {
		l.logf.Close()
		l.logf = nil
	}
	l.mu.Unlock()
	if l.tempDir {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, err)
		}
		l.tempDir = false
	}
	return errors.Join(errs...)
}
