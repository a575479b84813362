package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/lab"
)

// defaultLabAPI is where `curfew lab` forwards the gateway's API, unless
// the port is taken.
const defaultLabAPI = "127.0.0.1:18470"

// labRequiredOver is the lab gateway's approvals.required_over: a
// restriction longer than this waits for a second operator.
const labRequiredOver = "24h"

// runLab runs `curfew lab`: it builds the simulated network, starts curfew
// on its gateway, shows a restriction at work and then keeps the network
// up for the user until SIGINT, SIGTERM or SIGHUP (its terminal closed),
// when it removes it all.
func runLab(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	demo := fs.Bool("demo", false, "run the demonstration, then remove the lab and exit")
	prefix := fs.String("prefix", lab.DefaultPrefix, "prefix of the lab's namespace names")
	listen := fs.String("api", defaultLabAPI, "host address where the gateway's API is forwarded")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, labUsage)
			return 0
		}
		return usageError(stderr, "lab", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "lab", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := lab.CheckPrefix(*prefix); err != nil {
		return usageError(stderr, "lab", fmt.Errorf("--prefix: %w", err))
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, errorLine("lab", err))
		return 1
	}
	if os.Geteuid() != 0 {
		return fail(errors.New("must run as root: it creates network namespaces (try: sudo curfew lab)"))
	}
	self, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("finding the curfew binary: %w", err))
	}
	// A closed terminal (SIGHUP) must not leave namespaces behind either.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	addr := *listen
	if addr == defaultLabAPI && !portFree(addr) {
		addr = "127.0.0.1:0" // someone else has it; any port will do
	}
	out := stdout
	fmt.Fprintf(out, "Building the lab network (namespaces %s-*)…\n", *prefix)
	l, err := lab.New(ctx, lab.Config{Prefix: *prefix, Binary: self, APIListen: addr, Approvals: lab.Approvals{RequiredOver: labRequiredOver}, TimeZone: labTimeZone()})
	if err != nil {
		return fail(err)
	}
	defer func() {
		fmt.Fprintln(out, "Removing the lab network…")
		if err := l.Close(); err != nil {
			fmt.Fprintln(stderr, errorLine("lab", err))
		}
	}()
	printTopology(out, l)

	token, err := l.Init(ctx)
	if err != nil {
		return fail(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = l.StartDaemon(startCtx)
	cancel()
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "curfew daemon is running on the gateway; its API is at %s (log: %s)\n\n", l.APIURL(), l.LogPath())

	client, err := api.NewClient(l.APIURL(), token, nil)
	if err != nil {
		return fail(err)
	}
	if err := labDemo(ctx, out, l, client); err != nil {
		if ctx.Err() != nil {
			return 1 // interrupted
		}
		return fail(fmt.Errorf("demo: %w", err))
	}
	if *demo {
		return 0
	}
	// A console operator to sign in as; its one-time password is asked
	// for at the first sign-in.
	_, password, err := client.AddOperator(ctx, labConsoleOperator, curfew.RoleAdmin)
	if err != nil {
		return fail(fmt.Errorf("adding the console's operator: %w", err))
	}
	fmt.Fprintf(out, "\nThe web console: open %s/ and sign in as %s with the one-time password\n  %s\nthen choose your own. Restrict a client from its Restrict page (type part\nof its MAC into Who: the gateway finds it among any number of devices),\nwatch the countdown on Now, lift it there, and find it all under\nAccountability. Seen lists the clients the gateway saw that nobody\nregistered; Approve gives one to a person. Schedules shows each\nschedule's next window, and adds or removes one.\n",
		l.APIURL(), labConsoleOperator, password)
	printTryIt(out, l, token, commandName(self))
	<-ctx.Done()
	fmt.Fprintln(out)
	return 0
}

// labConsoleOperator is the admin the lab makes for the web console.
const labConsoleOperator = "lab"

const labUsage = `usage: curfew lab [--demo] [--prefix NAME] [--api ADDR]

Builds a simulated network on this machine out of network namespaces (an
upstream "internet", a gateway running curfew, three clients), shows a
restriction at work, and keeps the network up until Ctrl-C (or SIGTERM,
or SIGHUP when its terminal closes), then removes it all. Needs root.

  --demo         run the demonstration, then remove the lab and exit
  --prefix NAME  prefix of the namespace names (default curfew-lab)
  --api ADDR     host address where the gateway's API is forwarded
                 (default 127.0.0.1:18470, or a free port if that is taken)
`

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func printTopology(w io.Writer, l *lab.Lab) {
	fmt.Fprintf(w, "  internet  %-14s %-16s %s\n", l.Upstream.Name, lab.UpstreamV4, lab.UpstreamV6)
	fmt.Fprintf(w, "  gateway   %-14s %-16s %s   (%s; curfew runs here)\n", l.Gateway.Name, lab.LANV4, lab.LANV6, lab.LANInterface)
	for _, c := range l.Clients {
		fmt.Fprintf(w, "  client %d  %-14s %-16s %-12s %s\n", c.Index, c.Name, c.V4, c.V6, c.MAC)
	}
	fmt.Fprintln(w)
}

// labDemo narrates a restriction of client 1: before, during and after.
func labDemo(ctx context.Context, w io.Writer, l *lab.Lab, svc curfew.Service) error {
	c1, c2 := l.Clients[0], l.Clients[1]
	subject := "device:" + c1.MAC.String()

	fmt.Fprintln(w, "1. Everyone is online.")
	if err := fetchAll(ctx, w, []*lab.Client{c1, c2}, true); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n2. curfew restrict %s --for 2m --reason \"lab demo\"\n", subject)
	start := time.Now()
	r, err := svc.Restrict(ctx, curfew.RestrictRequest{Subject: subject, For: 2 * time.Minute, Reason: "lab demo"})
	if err != nil {
		return fmt.Errorf("restricting client 1: %w", err)
	}
	fmt.Fprintf(w, "   → restriction %d, until %s (took %s)\n", r.ID, r.End.Local().Format("15:04:05"), ms(time.Since(start)))
	fmt.Fprintln(w, "   Client 1 is cut off at once; client 2 carries on:")
	if err := fetchAll(ctx, w, []*lab.Client{c1}, false); err != nil {
		return err
	}
	// Anything but plain HTTP is refused with a reset, so apps fail fast.
	for _, a := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
		addr := net.JoinHostPort(a.String(), strconv.Itoa(lab.AltPort))
		res := c1.Connect(ctx, addr, 5*time.Second)
		fmt.Fprintf(w, "   client 1  TCP %-28s %s in %s\n", addr, res.Outcome(), ms(res.Elapsed))
		if !res.Refused() {
			return fmt.Errorf("client 1 should be refused at %s but got: %s", addr, res.Outcome())
		}
	}
	if err := fetchAll(ctx, w, []*lab.Client{c2}, true); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n3. curfew lift %d --reason \"lab demo over\"\n", r.ID)
	if _, err := svc.Lift(ctx, r.ID, "lab demo over"); err != nil {
		return fmt.Errorf("lifting restriction %d: %w", r.ID, err)
	}
	fmt.Fprintln(w, "   Client 1 is back:")
	if err := fetchAll(ctx, w, []*lab.Client{c1}, true); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n4. curfew restrict %s --mode throttle --rate %s --for 2m --reason \"lab demo: slow lane\"\n", subject, labRate)
	if err := timedDownload(ctx, w, c1, lab.UpstreamV4, 0); err != nil {
		return err
	}
	r, err = svc.Restrict(ctx, curfew.RestrictRequest{Subject: subject, Mode: curfew.ModeThrottle, Rate: labRate, For: 2 * time.Minute, Reason: "lab demo: slow lane"})
	if err != nil {
		return fmt.Errorf("throttling client 1: %w", err)
	}
	fmt.Fprintf(w, "   → restriction %d; client 1 is held to %s each way, v4 and v6, by the kernel; client 2 is not:\n", r.ID, labRate)
	for _, a := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
		if err := timedDownload(ctx, w, c1, a, labRate); err != nil {
			return err
		}
	}
	if err := timedDownload(ctx, w, c2, lab.UpstreamV4, 0); err != nil {
		return err
	}
	fmt.Fprintf(w, "   curfew lift %d --reason \"lab demo: slow lane over\"\n", r.ID)
	if _, err := svc.Lift(ctx, r.ID, "lab demo: slow lane over"); err != nil {
		return fmt.Errorf("lifting restriction %d: %w", r.ID, err)
	}

	fmt.Fprintln(w, "\n5. curfew audit verify")
	rep, err := svc.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verifying the audit log: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("the audit log does not verify: %s", rep.Problem)
	}
	fmt.Fprintf(w, "   → %d events, signed through event %d by the gateway's key; the rows match the log\n", rep.Entries, rep.SignedSeq)
	fmt.Fprintln(w, "\nDemo done.")
	return nil
}

// labRate is the demo's throttle.
const labRate = curfew.Rate(2_000_000)

// labDownload is the size of the demo's timed download: 2 s at labRate.
const labDownload = 500_000

// timedDownload downloads labDownload bytes from the upstream at a to c,
// prints how long it took, and fails if the rate does not show what it
// should: held to about limit, or, with limit 0, far faster than the
// demo's throttle.
func timedDownload(ctx context.Context, w io.Writer, c *lab.Client, a netip.Addr, limit curfew.Rate) error {
	url := lab.UpstreamURL(a, lab.AltPort, "/download?bytes="+strconv.Itoa(labDownload))
	t, err := c.Download(ctx, url, 30*time.Second)
	if err != nil {
		return fmt.Errorf("client %d downloading %s: %w", c.Index, url, err)
	}
	fmt.Fprintf(w, "   client %d  GET %-44s %d kB in %s: %.1f Mbit/s\n", c.Index, url, labDownload/1000, ms(t.Elapsed), t.Rate()/1e6)
	switch {
	case limit > 0 && t.Rate() > 1.3*float64(limit):
		return fmt.Errorf("client %d downloads at %.1f Mbit/s, above its throttle of %s", c.Index, t.Rate()/1e6, limit)
	case limit == 0 && t.Rate() < 5*float64(labRate):
		return fmt.Errorf("client %d downloads at only %.1f Mbit/s without a throttle", c.Index, t.Rate()/1e6)
	}
	return nil
}

// fetchAll fetches the upstream page over IPv4 and IPv6 from each client,
// prints the outcomes and fails unless each one reached the page exactly
// when want says so.
func fetchAll(ctx context.Context, w io.Writer, clients []*lab.Client, want bool) error {
	for _, c := range clients {
		for _, a := range []netip.Addr{lab.UpstreamV4, lab.UpstreamV6} {
			url := lab.UpstreamURL(a, lab.HTTPPort, "/")
			res := c.Get(ctx, url, 5*time.Second)
			outcome := res.Outcome()
			if res.Err == nil && !res.Reached() {
				outcome = fmt.Sprintf("HTTP %d from the gateway (the notice page), not the internet", res.Status)
			}
			fmt.Fprintf(w, "   client %d  GET %-28s %s in %s\n", c.Index, url, outcome, ms(res.Elapsed))
			if res.Reached() != want {
				if want {
					return fmt.Errorf("client %d should reach %s but got: %s", c.Index, url, outcome)
				}
				return fmt.Errorf("client %d should be cut off from %s but reached it", c.Index, url)
			}
		}
	}
	return nil
}

// ms formats d in milliseconds, with a decimal below 10 ms.
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// commandName returns how the user runs this binary: "curfew" if that is
// what the PATH finds, its full path otherwise.
func commandName(self string) string {
	if p, err := exec.LookPath("curfew"); err == nil {
		if a, err := filepath.EvalSymlinks(p); err == nil {
			if b, err := filepath.EvalSymlinks(self); err == nil && a == b {
				return "curfew"
			}
		}
	}
	return self
}

// printTryIt tells the user how to drive the running lab by hand.
func printTryIt(w io.Writer, l *lab.Lab, token, curfewCmd string) {
	c2 := l.Clients[1]
	// The schedule's window opens at a whole minute far enough ahead to
	// type the command.
	from := time.Now().Add(90 * time.Second).Truncate(time.Minute)
	fmt.Fprintf(w, `
The lab keeps running; try it by hand in another shell (as root):

  export CURFEW_SERVER=%[1]s CURFEW_TOKEN=%[2]s
  %[3]s restrict device:%[4]s --for 10m --reason "trying curfew"
  ip netns exec %[5]s curl -m 3 %[6]s
  ip netns exec %[5]s curl -m 3 %[7]s
  %[3]s list
  ip netns exec %[8]s nft list map inet curfew reach_mac   # the client, jumping to its reach's chain
  %[3]s lift ID --reason "done"
  ip netns exec %[8]s nft list table inet curfew
  ip netns exec %[8]s nft list table inet curfew_windows   # schedules' windows, which the kernel opens and closes by itself

The gateway's own firewall cannot take the restriction away: the daemon
owns its table (Linux 6.9 and later), so a reload of the host's rules,
which begins with flush ruleset, leaves it in place:

  ip netns exec %[8]s nft flush ruleset
  ip netns exec %[5]s curl -m 3 %[6]s        # still the notice page
  ip netns exec %[8]s nft delete table inet curfew   # Operation not permitted

A slow lane instead of a cut: a throttle holds the client to a rate each
way, v4 and v6, kept by the kernel's HTB classes on the gateway:

  %[3]s restrict device:%[4]s --mode throttle --rate 2mbit --for 10m --reason "trying a slow lane"
  ip netns exec %[5]s curl -so /dev/null -w '%%{speed_download} bytes/s\n' %[19]s   # about 240000
  ip netns exec %[5]s curl -so /dev/null -w '%%{speed_download} bytes/s\n' %[20]s
  ip netns exec %[8]s tc -s class show dev %[21]s     # its class, and what it sent
  ip netns exec %[8]s nft list table inet curfew_shaper

Four eyes: this gateway makes a restriction longer than %[9]s wait, not
enforced, until an operator other than its author approves it:

  %[3]s restrict device:%[4]s --for 2d --reason "trying four eyes"   # pending
  %[3]s approve ID --reason "mine"         # refused (exit 1): you asked for it
  export CURFEW_TOKEN=$(%[3]s token create --name bob --role operator)
  %[3]s approve ID --reason "agreed"       # bob's approval: enforced at once

A schedule restricts in a window that comes back on some days: this one
opens at the next minute on this machine's clock and lasts two, and its
window shows in the list as a restriction that can be lifted alone:

  %[3]s schedule add device:%[4]s --days daily --from %[17]s --to %[18]s --until $(date -d tomorrow +%%F) --reason "trying schedules"
  %[3]s schedules                          # the next window, local and UTC
  ip netns exec %[5]s curl -m 3 %[6]s      # from %[17]s: the notice page, until %[18]s
  %[3]s list                               # the window, marked [schedule ID]
  %[3]s schedule remove ID --reason "done"

A restricted person can ask the operator from the notice page (the form
"Ask the operator"), and the answer shows there:

  ip netns exec %[5]s curl -m 3 -d message="Why?" http://%[10]s:8480/appeal
  %[3]s appeals
  %[3]s appeal answer ID --text "Until Friday's review."

Groups: a restriction on a group covers its persons' devices, even ones
added later, and stops covering a member taken out at once:

  %[3]s person add alice && %[3]s device add %[4]s --owner alice
  %[3]s group add residents && %[3]s group member add residents person:alice
  %[3]s restrict group:residents --for 10m --reason "quiet hours"
  %[3]s group member remove residents person:alice    # client 2 is back
  %[3]s devices --seen                                 # every MAC the gateway saw
  ip netns exec %[5]s dig +short @%[10]s example.org  # a client that only asks for names
  %[3]s devices --seen -o json                         # is seen too: its last_seen_at moves

A slow lane instead of a cut: a throttle leaves the device everything at a
rate, and combines with a blocklist on the same device (both apply). Its
notice page says how slow and until when; DNS answers are unchanged, and
the captive-portal API does not call it captive:

  %[3]s restrict device:%[4]s --mode throttle --rate 2mbit --for 10m --reason "slow lane"
  %[3]s restrict device:%[4]s --mode blocklist --block example.org --for 5m --reason "no games"
  %[3]s list                                           # throttle 2mbit, and the blocklist
  ip netns exec %[5]s curl -m 3 http://%[10]s:8480/    # "slowed to 2 Mbit/s"
  ip netns exec %[5]s curl -m 3 http://%[10]s:8480/captive-portal/api   # "captive": true while the blocklist lasts, then false

Unknown devices: with lan.unknown_devices: quarantine in %[11]s (restart
the lab's daemon, or write it before starting a gateway of your own), a
MAC that is not registered reaches only curfew's DNS and notice page until
it is approved, and a restricted device that changes its MAC stays off:

  ip netns exec %[5]s ip link set eth0 address 06:c0:ff:ee:00:99
  ip netns exec %[5]s curl -m 3 %[6]s      # the "Device not registered" page
  %[3]s device approve 06:c0:ff:ee:00:99 --owner alice   # or Approve on the console's Seen page

Time zone: a clock time or a day means the gateway's timezone (%[16]s
in %[11]s, this machine's own zone): --until 18:00 is the next 18:00
there, show prints the end there and in UTC, and the notice page shows
times there first, in the visitor's language:

  %[3]s restrict device:%[4]s --until 18:00 --reason "until dinner"
  %[3]s show ID
  ip netns exec %[5]s curl -s -m 3 -H "Accept-Language: es" http://%[10]s:8480/ | grep -o '<time[^<]*</time>'

The public report of today: counts, durations and notices, no reasons
and no identities:

  %[3]s report --from $(date +%%F) --to $(date +%%F)

The audit log: every step above, and the gateway's own (applied, expired,
started), signed with the gateway's key. Verify it here, or anywhere with
the export and the public key alone:

  %[3]s audit
  %[3]s audit verify
  %[3]s audit export > audit.jsonl
  %[3]s audit key > gateway.pub
  %[3]s audit verify --file audit.jsonl --key gateway.pub   # no daemon, no token

A backup of the gateway's state, taken while its daemon runs (restore it
as docs/operation.md says):

  %[3]s backup /tmp/curfew-lab-backup.tar --config %[11]s

When the WAN drops, the resolver still answers the names it has seen,
for up to a day, with a TTL of 30 s and Extended DNS Error 3 (Stale
Answer, RFC 8767), once their own TTL (%[12]d s here) has run out:

  ip netns exec %[5]s dig @%[10]s %[13]s          # from the upstream
  ip netns exec %[8]s ip link set %[14]s down     # the WAN drops
  sleep %[15]d; ip netns exec %[5]s dig @%[10]s %[13]s   # still answered: EDE 3
  ip netns exec %[8]s ip link set %[14]s up

Press Ctrl-C to stop curfew and remove the lab.
`, l.APIURL(), token, curfewCmd, c2.MAC, c2.Name, lab.UpstreamURL(lab.UpstreamV4, lab.HTTPPort, "/"),
		lab.UpstreamURL(lab.UpstreamV6, lab.HTTPPort, "/"), l.Gateway.Name, labRequiredOver, lab.LANV4, l.ConfigPath(),
		lab.DNSTTL, lab.OtherName, lab.WANInterface, lab.DNSTTL+1, labTimeZone(),
		from.Format("15:04"), from.Add(2*time.Minute).Format("15:04"),
		lab.UpstreamURL(lab.UpstreamV4, lab.AltPort, "/download"), lab.UpstreamURL(lab.UpstreamV6, lab.AltPort, "/download"), lab.LANInterface)
}

// labTimeZone is the lab gateway's timezone: this machine's own, written
// out so that the configuration shows the key.
func labTimeZone() string {
	if z := config.LocalZone().String(); z != "Local" {
		return z
	}
	return "UTC"
}
