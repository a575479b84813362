package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/curfew/curfew/internal/config"
)

// A setupError is a configuration that does not fit the machine: a key
// whose value the machine cannot honour (an address it lacks, a port
// another program holds, a file that is not there). The daemon prints it
// on one line, which names the key, the value and the fix, and exits 1
// before it touches the kernel.
type setupError struct {
	msg string
}

func (e *setupError) Error() string { return e.msg }

// settle completes cfg from the machine and checks that every address the
// daemon will listen on is free, so that nothing is half started when one
// is not. It binds and releases each address; the kernel's firewall is not
// touched.
func settle(cfg *config.Config, m config.Machine) error {
	if err := cfg.Settle(m); err != nil {
		return &setupError{msg: err.Error()}
	}
	type listen struct {
		key   string
		ap    netip.AddrPort
		proto []string
	}
	ls := []listen{{"dns.listen", cfg.DNS.Listen, []string{"udp", "tcp"}}}
	if a := on6(cfg, cfg.DNS.Listen.Port()); a.IsValid() {
		ls = append(ls, listen{"dns.listen (on lan.address6)", a, []string{"udp", "tcp"}})
	}
	ls = append(ls, listen{"notice.listen", cfg.Notice.Listen, []string{"tcp"}})
	if a := on6(cfg, cfg.Notice.Listen.Port()); a.IsValid() {
		ls = append(ls, listen{"notice.listen (on lan.address6)", a, []string{"tcp"}})
	}
	ls = append(ls, listen{"api.listen", cfg.API.Listen, []string{"tcp"}})
	for _, l := range ls {
		for _, proto := range l.proto {
			if err := tryListen(proto, l.ap); err != nil {
				return &setupError{msg: fmt.Sprintf("%s %s: %s", l.key, l.ap, describeListenError(err, proto, l.key, l.ap))}
			}
		}
	}
	return nil
}

// tryListen binds ap with proto and releases it at once.
func tryListen(proto string, ap netip.AddrPort) error {
	if proto == "udp" {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return err
		}
		return c.Close()
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
	if err != nil {
		return err
	}
	return ln.Close()
}

// describeListenError says why ap could not be bound, and what to do.
func describeListenError(err error, proto, key string, ap netip.AddrPort) string {
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Sprintf("%s is not an address of this machine; give it to the LAN interface, or set %s to an address it has", ap.Addr(), strings.Fields(key)[0])
	case errors.Is(err, syscall.EACCES):
		return fmt.Sprintf("port %d needs root or CAP_NET_BIND_SERVICE; run the daemon as the systemd unit does", ap.Port())
	case !errors.Is(err, syscall.EADDRINUSE):
		return err.Error()
	}
	name, pid := portHolder(proto, ap.Port())
	who := "another program"
	if name != "" {
		who = fmt.Sprintf("%s (pid %d)", name, pid)
	}
	taken := fmt.Sprintf("port %d/%s is taken by %s", ap.Port(), proto, who)
	switch {
	case ap.Port() == 53 && name == "dnsmasq":
		return taken + `; leave DNS to curfew: put port=0 in dnsmasq's configuration (it keeps serving DHCP), or make dnsmasq listen on 127.0.0.1 only (listen-address=127.0.0.1, bind-interfaces) and set dns.upstreams: ["127.0.0.1"] so local names keep resolving; then restart dnsmasq (see docs/dnsmasq.md)`
	case ap.Port() == 53 && (name == "systemd-resolve" || name == "systemd-resolved"): // comm is cut to 15 bytes
		return taken + `; its stub listener covers this address: set DNSStubListener=no (or remove the DNSStubListenerExtra= line naming it) in /etc/systemd/resolved.conf and run systemctl restart systemd-resolved (see "Beside systemd-resolved" in docs/operation.md)`
	case name == "curfew":
		return taken + "; another curfew daemon runs here: stop it first (systemctl stop curfew)"
	case name == "":
		return fmt.Sprintf("%s; find it with `ss -lnp 'sport = :%d'` and stop it, or set %s to another address", taken, ap.Port(), strings.Fields(key)[0])
	}
	return fmt.Sprintf("%s; stop it, or set %s to another address", taken, strings.Fields(key)[0])
}

// portHolder returns the name and pid of a process holding a socket bound
// to port of proto ("udp" or "tcp", listening), in this network
// namespace, read from /proc. It returns "" if none is found or /proc
// does not say (another user's processes may be hidden).
func portHolder(proto string, port uint16) (name string, pid int) {
	inodes := map[string]bool{}
	for _, file := range []string{proto, proto + "6"} {
		b, err := os.ReadFile(filepath.Join("/proc/net", file))
		if err != nil {
			continue
		}
		for _, ino := range socketInodes(string(b), proto, port) {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return "", 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		id, err := strconv.Atoi(p.Name())
		if err != nil || id == os.Getpid() {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[target] {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				return strings.TrimSpace(string(comm)), id
			}
		}
	}
	return "", 0
}

// socketInodes returns the inodes of the sockets in a /proc/net/{tcp,udp}
// table bound to port: for TCP only listening ones.
func socketInodes(table, proto string, port uint16) []string {
	var out []string
	want := fmt.Sprintf(":%04X", port)
	for i, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 10 || !strings.HasSuffix(f[1], want) {
			continue
		}
		if proto == "tcp" && f[3] != "0A" { // TCP_LISTEN
			continue
		}
		out = append(out, f[9])
	}
	return out
}
