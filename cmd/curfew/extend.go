package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// extend runs `curfew extend ID (--for D | --until T) --reason TEXT`. --for
// moves the end later by D; --until moves it to T, earlier or later. An
// extension that waits for a second operator leaves the end where it is,
// and the output says so.
func (c *cli) extend(args []string) int {
	cmd := c.newCommand("extend", "ID (--for DURATION | --until TIME) --reason TEXT [-o json]").withOutput()
	forS := cmd.fs.String("for", "", "move the end later by this much, such as 1h or 2d")
	untilS := cmd.fs.String("until", "", `move the end to this time: RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM" (local)`)
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	id, code, ok := cmd.parseOneID(args)
	if !ok {
		return code
	}
	d, end, err := c.endFlags(*forS, *untilS, c.now())
	if err != nil {
		return cmd.usage(err)
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: extending a restriction needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Extend(context.Background(), id, end, d, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.RestrictionToAPI(r, c.now()))
	}
	if w := c.waiting(r); w != "" {
		fmt.Fprintf(c.stdout, "restriction %d still ends %s: the %s\n", r.ID, c.formatTime(r.End), w)
		return 0
	}
	fmt.Fprintf(c.stdout, "restriction %d now ends %s\n", r.ID, c.formatTime(r.End))
	return 0
}
