package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// reject runs `curfew reject ID --reason TEXT [-o json]`: a second
// operator's no to what restriction ID waits for. A restriction is then
// never enforced; an extension is dropped and the end stays.
func (c *cli) reject(args []string) int {
	cmd := c.newCommand("reject", "ID --reason TEXT [-o json]").withOutput()
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	id, code, ok := cmd.parseOneID(args)
	if !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: rejecting a restriction needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	r, err := client.Reject(context.Background(), id, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.RestrictionToAPI(r, c.now()))
	}
	if r.Approval.Extension() {
		fmt.Fprintf(c.stdout, "extension of restriction %d rejected; it still ends %s\n", r.ID, c.formatTime(r.End))
		return 0
	}
	fmt.Fprintf(c.stdout, "restriction %d rejected; it will never be enforced\n", r.ID)
	return 0
}
