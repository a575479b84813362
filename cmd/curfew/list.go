package main

import (
	"context"
	"fmt"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

// list runs `curfew list [--all] [-o json]`: the active and scheduled
// restrictions, or all of them.
func (c *cli) list(args []string) int {
	cmd := c.newCommand("list", "[--all] [-o json]").withOutput()
	all := cmd.fs.Bool("all", false, "include lifted and expired restrictions")
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
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Subject, r.Mode, r.StatusAt(now), c.formatTime(r.EffectiveEnd()), short(r.Reason, 50))
	}
	tw.Flush()
	return 0
}
