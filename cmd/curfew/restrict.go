package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// restrict runs `curfew restrict SUBJECT (--for D | --until T) --reason TEXT
// [--from T] [--mode M] [--allow D,..] [--block D,..] [--rate R]
// [--notice TEXT] [--force]` and prints the new restriction's id alone. If it waits for a
// second operator, a line on stderr says who must approve it.
func (c *cli) restrict(args []string) int {
	cmd := c.newCommand("restrict", "SUBJECT (--for DURATION | --until TIME) --reason TEXT [--from TIME] [flags]")
	forS := cmd.fs.String("for", "", "how long the restriction lasts, such as 90m, 2h or 3d (from --from, if given)")
	untilS := cmd.fs.String("until", "", `when it ends: RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM" (local)`)
	fromS := cmd.fs.String("from", "", `when it starts, if later than now: as --until, or "YYYY-MM-DD" (the start of that local day)`)
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	pf := addPolicyFlags(cmd.fs, "text shown to the restricted person")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}

	// Check everything here, so that a mistake sends nothing.
	switch {
	case len(pos) == 0:
		return cmd.usage(errors.New("missing SUBJECT, such as device:02:00:00:00:00:01, person:NAME or ip:192.0.2.7"))
	case len(pos) > 1:
		return cmd.usage(fmt.Errorf("unexpected argument %q after the subject", pos[1]))
	}
	if _, err := curfew.ParseSubject(pos[0]); err != nil {
		return cmd.usage(err)
	}
	m, rate, err := pf.parse()
	if err != nil {
		return cmd.usage(err)
	}
	now := c.now()
	req := curfew.RestrictRequest{
		Subject: pos[0],
		Mode:    m,
		Allow:   pf.allow,
		Block:   pf.block,
		Rate:    rate,
		Reason:  *reason,
		Notice:  *pf.notice,
		Force:   *pf.force,
	}
	if *fromS != "" {
		if req.Start, err = parseFrom(*fromS, now, cmd.zone()); err != nil {
			return cmd.usage(err)
		}
	}
	if req.For, req.End, err = c.endFlags(*forS, *untilS, now); err != nil {
		return cmd.usage(err)
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: every restriction needs one"))
	}
	if _, err := req.Restriction(now, "cli"); err != nil {
		return cmd.usage(err)
	}

	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Restrict(context.Background(), req)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, strconv.FormatInt(int64(r.ID), 10))
	if sub, err := curfew.ParseSubject(req.Subject); err == nil && sub.Kind == curfew.SubjectDevice && curfew.RandomMAC(sub.MAC) {
		// With unknown devices allowed, a restriction by MAC binds only
		// as long as the device keeps its made-up address.
		if mode, err := client.UnknownDevices(context.Background()); err == nil && mode != "quarantine" {
			fmt.Fprintf(c.stderr, "warning: %s is a randomised (locally administered) MAC: the device can pick another and be out of restriction %d; "+
				"restrict its owner (person:NAME) or set lan.unknown_devices: quarantine\n", sub.MAC, r.ID)
		}
	}
	if w := c.waiting(r); w != "" {
		fmt.Fprintf(c.stderr, "restriction %d is pending, not enforced: it %s (curfew approve %d --reason TEXT)\n", r.ID, w, r.ID)
	}
	return 0
}

// endFlags checks the pair --for and --until, of which exactly one is set.
func (c *cli) endFlags(forS, untilS string, now time.Time) (time.Duration, time.Time, error) {
	switch {
	case forS == "" && untilS == "":
		return 0, time.Time{}, errors.New("missing --for DURATION or --until TIME: every restriction must end")
	case forS != "" && untilS != "":
		return 0, time.Time{}, errors.New("give --for or --until, not both")
	case forS != "":
		d, err := parseFor(forS)
		return d, time.Time{}, err
	}
	t, err := parseUntil(untilS, now, c.zone())
	return 0, t, err
}

// rateFlag checks --rate against --mode m and the lists, as restrict and
// schedule add take them, and parses it.
// policyFlags are the flags of restrict and schedule add that say what
// is left to the subject: --mode, its --allow or --block list, --rate,
// --notice and --force, checked alike for both.
type policyFlags struct {
	mode, rate, notice *string
	force              *bool
	allow, block       stringList
}

// addPolicyFlags defines the policy flags on fs; notice is the help of
// --notice.
func addPolicyFlags(fs *flag.FlagSet, notice string) *policyFlags {
	p := &policyFlags{
		mode:   fs.String("mode", "cutoff", "cutoff, allowlist, blocklist or throttle"),
		rate:   fs.String("rate", "", "throttle mode: the limit each way, such as 512kbit, 2mbit or 1mbyte"),
		notice: fs.String("notice", "", notice),
		force:  fs.Bool("force", false, "allow an ip: prefix wider than /16 (IPv4) or /48 (IPv6)"),
	}
	fs.Var(&p.allow, "allow", "allowlist mode: domains and prefixes still reachable (comma-separated, repeatable)")
	fs.Var(&p.block, "block", "blocklist mode: domains refused (comma-separated, repeatable)")
	return p
}

// parse returns the mode and the rate the flags ask for, refusing a
// combination they cannot make.
func (p *policyFlags) parse() (curfew.Mode, curfew.Rate, error) {
	m, err := curfew.ParseMode(*p.mode)
	if err != nil {
		return "", 0, fmt.Errorf("--mode: %q is not cutoff, allowlist, blocklist or throttle", *p.mode)
	}
	rate, err := rateFlag(m, *p.rate, p.allow, p.block)
	return m, rate, err
}

func rateFlag(m curfew.Mode, rateS string, allow, block []string) (curfew.Rate, error) {
	switch {
	case m == curfew.ModeThrottle && rateS == "":
		return 0, errors.New("--mode throttle needs --rate R, such as 2mbit")
	case m != curfew.ModeThrottle && rateS != "":
		return 0, fmt.Errorf("--rate applies to --mode throttle only, not %s", m)
	case m == curfew.ModeThrottle && (len(allow) > 0 || len(block) > 0):
		return 0, errors.New("--mode throttle takes no --allow or --block: restrict again with --mode allowlist or blocklist for those; both apply")
	case rateS == "":
		return 0, nil
	}
	rate, err := curfew.ParseRate(rateS)
	if err != nil {
		return 0, fmt.Errorf("--rate: %w", err)
	}
	return rate, nil
}
