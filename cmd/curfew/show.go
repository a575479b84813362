package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// show runs `curfew show ID [-o json]`.
func (c *cli) show(args []string) int {
	cmd := c.newCommand("show", "ID [-o json]").withOutput()
	id, code, ok := cmd.parseOneID(args)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Restriction(context.Background(), id)
	if err != nil {
		return cmd.fail(err)
	}
	now := c.now()
	if cmd.json() {
		return cmd.writeJSON(api.RestrictionToAPI(r, now))
	}
	tw := c.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, strings.ReplaceAll(v, "\n", "\n\t")) }
	row("id", fmt.Sprint(r.ID))
	row("subject", r.Subject.String())
	row("mode", string(r.Mode))
	if len(r.Allow) > 0 {
		row("allow", strings.Join(r.Allow, ", "))
	}
	if len(r.Block) > 0 {
		row("block", strings.Join(r.Block, ", "))
	}
	if r.Rate > 0 {
		row("rate", fmt.Sprintf("%s (%d bit/s each way)", r.Rate, int64(r.Rate)))
	}
	row("status", string(r.StatusAt(now)))
	if r.Schedule != 0 {
		row("schedule", fmt.Sprintf("a window of schedule %d (lifting it ends this window alone)", r.Schedule))
	}
	row("starts", c.formatTimeUTC(r.Start))
	row("ends", c.formatTimeUTC(r.End))
	row("reason", r.Reason)
	if r.Notice != "" {
		row("notice", r.Notice)
	}
	row("created", c.formatTime(r.Created)+" by "+r.Author)
	if !r.Lifted.IsZero() {
		row("lifted", c.formatTime(r.Lifted)+" by "+r.LiftedBy)
		row("lift reason", r.LiftReason)
	}
	if !r.Expired.IsZero() {
		row("expired", c.formatTime(r.Expired))
	}
	switch a := r.Approval; {
	case a.State == "":
	case a.Pending():
		row("approval", c.waiting(r))
	default:
		what := string(a.State)
		if a.Extension() {
			what = "extension to " + c.formatTime(a.ExtendTo) + " " + what
		}
		row("approval", fmt.Sprintf("%s %s by %s (asked for by %s)", what, c.formatTime(a.Decided), a.By, a.Asker))
		row("approval reason", a.Reason)
	}
	tw.Flush()
	return 0
}
