package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// APIAddr is where the daemon's API listens inside the gateway namespace.
const APIAddr = "127.0.0.1:8470"

// ConfigPath returns the path of the gateway's curfew configuration.
func (l *Lab) ConfigPath() string { return filepath.Join(l.dir, "curfew.yaml") }

// StateDir returns the daemon's state directory (database and keys).
func (l *Lab) StateDir() string { return filepath.Join(l.dir, "state") }

// LogPath returns the path of the daemon's log (its standard output and
// error, over every start).
func (l *Lab) LogPath() string { return filepath.Join(l.dir, "daemon.log") }

// writeConfig writes the gateway's curfew configuration.
func (l *Lab) writeConfig() error {
	if err := os.MkdirAll(l.StateDir(), 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	upstreams := l.conf.DNSUpstreams
	if len(upstreams) == 0 {
		upstreams = []string{netip.AddrPortFrom(UpstreamV4, 53).String(), netip.AddrPortFrom(UpstreamV6, 53).String()}
	}
	var listen string
	if l.conf.DNSListen != "" {
		listen = "  listen: " + yamlString(l.conf.DNSListen) + "\n"
	}
	var leases string
	if len(l.conf.DHCPLeases) > 0 {
		leases = "  dhcp_leases: " + yamlList(l.conf.DHCPLeases) + "\n"
	}
	conf := fmt.Sprintf(`# curfew on the lab gateway (namespace %s)
schema_version: 1
state_dir: %s
lan:
  interfaces: [%s]
  address: %s
  address6: %s
%swan:
  interfaces: [%s]
api:
  listen: %s
dns:
%s  upstreams: %s
`, l.Gateway.Name, l.StateDir(), LANInterface, LANV4, LANV6, leases, WANInterface, APIAddr, listen, yamlList(upstreams))
	if u := l.conf.UnknownDevices; u != "" {
		conf = strings.Replace(conf, "wan:\n", "  unknown_devices: "+yamlString(u)+"\nwan:\n", 1)
	}
	if z := l.conf.TimeZone; z != "" {
		conf = strings.Replace(conf, "state_dir:", "timezone: "+yamlString(z)+"\nstate_dir:", 1)
	}
	if len(l.conf.Blocklists) > 0 {
		conf += "  blocklists: " + yamlList(l.conf.Blocklists) + "\n"
	}
	if len(l.conf.DNSAllowFrom) > 0 {
		conf += "  allow_from: " + yamlList(l.conf.DNSAllowFrom) + "\n"
	}
	if n := l.conf.Notice; n.NetworkName != "" || n.Contact != "" || n.PortalURL != "" || n.TimeZone != "" ||
		n.TLSCert != "" || len(n.Feeds) > 0 {
		conf += "notice:\n"
		for _, kv := range [][2]string{
			{"network_name", n.NetworkName}, {"contact", n.Contact},
			{"portal_url", n.PortalURL}, {"time_zone", n.TimeZone},
			{"tls_cert", n.TLSCert}, {"tls_key", n.TLSKey},
		} {
			if kv[1] != "" {
				conf += "  " + kv[0] + ": " + yamlString(kv[1]) + "\n"
			}
		}
		if len(n.Feeds) > 0 {
			conf += "  feeds: " + yamlList(n.Feeds) + "\n"
		}
	}
	if a := l.conf.Approvals; a.RequiredOver != "" {
		conf += "approvals:\n  required_over: " + yamlString(a.RequiredOver) + "\n"
		if len(a.Modes) > 0 {
			conf += "  modes: " + yamlList(a.Modes) + "\n"
		}
	}
	if err := os.WriteFile(l.ConfigPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("writing curfew configuration: %w", err)
	}
	return nil
}

// yamlString quotes s for YAML: a JSON string is a YAML double-quoted
// scalar.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// yamlList returns ss as a YAML flow sequence of quoted strings.
func yamlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = yamlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Init runs `curfew init` for the gateway and returns the first admin
// token it prints.
func (l *Lab) Init(ctx context.Context) (token string, err error) {
	if l.binary == "" {
		return "", errors.New("running curfew init: no curfew binary configured")
	}
	out, err := l.Gateway.Run(ctx, l.binary, "init", "--config", l.ConfigPath())
	if err != nil {
		return "", err
	}
	token = strings.TrimSpace(out)
	if token == "" || strings.ContainsAny(token, " \n") {
		return "", fmt.Errorf("running curfew init: want one token on stdout, got %q", out)
	}
	return token, nil
}

// StartDaemon starts `curfew daemon` in the gateway namespace and waits,
// at most until ctx is done, for its API to answer and its nftables table
// to exist. The daemon's output is appended to LogPath. It fails if a
// daemon is already running.
func (l *Lab) StartDaemon(ctx context.Context) error {
	if l.binary == "" {
		return errors.New("starting curfew daemon: no curfew binary configured")
	}
	return l.StartDaemonCommand(ctx, l.binary, "daemon", "--config", l.ConfigPath())
}

// StartDaemonCommand is StartDaemon with the daemon's command line given,
// such as a systemd unit's ExecStart run in a chroot: the command must
// run curfew's daemon with its API on APIAddr.
func (l *Lab) StartDaemonCommand(ctx context.Context, name string, args ...string) error {
	l.mu.Lock()
	if l.daemon != nil {
		l.mu.Unlock()
		return errors.New("starting curfew daemon: already running")
	}
	if l.logf == nil {
		f, err := os.OpenFile(l.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("opening daemon log: %w", err)
		}
		l.logf = f
	}
	// `ip netns exec` execs the daemon after entering the namespace, so
	// the process we start is the daemon itself and signals reach it.
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.Gateway.Name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = l.logf, l.logf
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("starting curfew daemon: %w", err)
	}
	exited := make(chan struct{})
	l.daemon, l.exited = cmd, exited
	l.mu.Unlock()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := l.waitAPI(ctx, exited); err != nil {
		return err
	}
	return l.waitTable(ctx, exited)
}

// waitTable polls until the daemon's table (inet curfew) exists in the
// gateway, the daemon exits or ctx is done. Traffic that starts while the
// daemon installs its table may see its first packets dropped, so callers
// measure only after this.
func (l *Lab) waitTable(ctx context.Context, exited <-chan struct{}) error {
	for {
		if _, err := l.Gateway.Run(ctx, "nft", "list", "table", "inet", "curfew"); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("curfew daemon exited before installing its nftables table; see %s:\n%s", l.LogPath(), l.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("waiting for curfew's nftables table: %w; see %s:\n%s", ctx.Err(), l.LogPath(), l.LogTail(20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitAPI polls the API through the forwarder until it answers, the daemon
// exits or ctx is done.
func (l *Lab) waitAPI(ctx context.Context, exited <-chan struct{}) error {
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.APIURL()+"/api/v1/restrictions", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("curfew daemon exited before its API answered; see %s:\n%s", l.LogPath(), l.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("waiting for the curfew API: %w; see %s:\n%s", ctx.Err(), l.LogPath(), l.LogTail(20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DaemonPID returns the daemon's process id, or 0 if none runs.
func (l *Lab) DaemonPID() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daemon == nil {
		return 0
	}
	return l.daemon.Process.Pid
}

// StopDaemon stops the daemon with SIGTERM (SIGKILL after 10 seconds) and
// waits for it to exit. It does nothing if no daemon runs.
func (l *Lab) StopDaemon() error {
	return l.stop(syscall.SIGTERM, 10*time.Second)
}

// KillDaemon kills the daemon with SIGKILL, as a crash would, and waits
// for it to be gone. It does nothing if no daemon runs.
func (l *Lab) KillDaemon() error {
	return l.stop(syscall.SIGKILL, 10*time.Second)
}

func (l *Lab) stop(sig syscall.Signal, grace time.Duration) error {
	l.mu.Lock()
	cmd, exited := l.daemon, l.exited
	l.daemon, l.exited = nil, nil
	l.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("curfew daemon ignored %v for %v; killed", sig, grace)
	}
	if sig == syscall.SIGTERM && cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		return fmt.Errorf("curfew daemon: %v", cmd.ProcessState)
	}
	return nil
}

// LogTail returns the last n lines of the daemon's log.
func (l *Lab) LogTail(n int) string {
	b, err := os.ReadFile(l.LogPath())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// APIURL returns the host URL of the gateway's API, such as
// http://127.0.0.1:18470.
func (l *Lab) APIURL() string { return "http://" + l.apiLn.Addr().String() }

// startForwarder listens on addr (127.0.0.1 on a free port if empty) and
// forwards each connection to APIAddr in the gateway namespace.
func (l *Lab) startForwarder(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for the API forwarder: %w", err)
	}
	l.apiLn = ln
	l.apiWG.Add(1)
	go l.forward(ln)
	return nil
}

// forward accepts connections on ln until it is closed, and relays each
// to the daemon's API.
func (l *Lab) forward(ln net.Listener) {
	defer l.apiWG.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		l.apiWG.Add(1)
		go func() {
			defer l.apiWG.Done()
			l.relay(c)
		}()
	}
}

// relay copies between the host connection c and a new connection to the
// API until either side closes.
func (l *Lab) relay(c net.Conn) {
	l.apiConns.Store(c, struct{}{})
	defer l.apiConns.Delete(c)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	up, err := l.Gateway.Dial(ctx, "tcp", APIAddr)
	cancel()
	if err != nil {
		return
	}
	l.apiConns.Store(up, struct{}{})
	defer l.apiConns.Delete(up)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}
