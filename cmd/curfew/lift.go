package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// lift runs `curfew lift ID --reason TEXT`.
func (c *cli) lift(args []string) int {
	cmd := c.newCommand("lift", "ID --reason TEXT [-o json]").withOutput()
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	id, code, ok := cmd.parseOneID(args)
	if !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: lifting a restriction needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Lift(context.Background(), id, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.RestrictionToAPI(r, c.now()))
	}
	fmt.Fprintf(c.stdout, "restriction %d lifted\n", r.ID)
	return 0
}
