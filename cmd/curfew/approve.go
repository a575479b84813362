package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// approve runs `curfew approve ID --reason TEXT [-o json]`: a second
// operator's yes to what restriction ID waits for. A restriction is
// enforced at once (or from its start); an extension moves its end. The
// operator who asked for it cannot approve it: that exits 1.
func (c *cli) approve(args []string) int {
	cmd := c.newCommand("approve", "ID --reason TEXT [-o json]").withOutput()
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	id, code, ok := cmd.parseOneID(args)
	if !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: approving a restriction needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Approve(context.Background(), id, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	now := c.now()
	if cmd.json() {
		return cmd.writeJSON(api.RestrictionToAPI(r, now))
	}
	switch {
	case r.Approval.Extension():
		fmt.Fprintf(c.stdout, "extension of restriction %d approved; it now ends %s\n", r.ID, c.formatTime(r.End))
	case now.Before(r.Start):
		fmt.Fprintf(c.stdout, "restriction %d approved; enforced from %s until %s\n", r.ID, c.formatTime(r.Start), c.formatTime(r.End))
	default:
		fmt.Fprintf(c.stdout, "restriction %d approved; enforced now until %s\n", r.ID, c.formatTime(r.End))
	}
	return 0
}
