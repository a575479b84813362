package main

import (
	"context"
	"fmt"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

// list runs `curfew list [--all] [-o json]`: the active, scheduled and
// pending restrictions, or all of them. Under the table, it says who must
// act on each that waits for a second operator.
func (c *cli) list(args []string) int {
	cmd := c.newCommand("list", "[--all] [-o json]").withOutput()
	all := cmd.fs.Bool("all", false, "include lifted, expired and rejected restrictions")
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	rs, err := client.Restrictions(context.Background(), curfew.RestrictionFilter{All: *all})
	if err != nil {
		return cmd.fail(err)
	}
	now := c.now()
	if cmd.json() {
		out := make([]api.Restriction, 0, len(rs))
		for _, r := range rs {
			out = append(out, api.RestrictionToAPI(r, now))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "ID\tSUBJECT\tMODE\tSTATUS\tENDS\tREASON")
	for _, r := range rs {
		reason := short(r.Reason, 50)
		if r.Schedule != 0 {
			// A window of a schedule: lifting it ends this window alone.
			reason = fmt.Sprintf("[schedule %d] %s", r.Schedule, short(r.Reason, 38))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Subject, modeText(r), r.StatusAt(now), c.formatTime(r.EffectiveEnd()), reason)
	}
	tw.Flush()
	var waits []string
	for _, r := range rs {
		if w := c.waiting(r); w != "" && !r.Over(now) {
			waits = append(waits, fmt.Sprintf("  %d\t%s\t(curfew approve %d --reason TEXT, or reject)", r.ID, w, r.ID))
		}
	}
	if len(waits) > 0 {
		fmt.Fprintln(c.stdout, "\nWaiting for a second operator:")
		tw = c.table()
		for _, w := range waits {
			fmt.Fprintln(tw, w)
		}
		tw.Flush()
	}
	return 0
}

// modeText is a restriction's mode as the table shows it: a throttle with
// its rate, such as "throttle 2mbit".
func modeText(r *curfew.Restriction) string {
	if r.Mode == curfew.ModeThrottle {
		return string(r.Mode) + " " + r.Rate.String()
	}
	return string(r.Mode)
}
