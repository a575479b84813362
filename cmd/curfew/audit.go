package main

import (
	"context"
	"fmt"

	"github.com/curfew/curfew/internal/api"
)

// audit runs `curfew audit [-o json]` and `curfew audit verify`.
func (c *cli) audit(args []string) int {
	if len(args) > 0 && args[0] == "verify" {
		return c.auditVerify(args[1:])
	}
	cmd := c.newCommand("audit", "[-o json] | verify").withOutput()
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q (the only subcommand is verify)", pos[0]))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	es, err := client.Audit(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.AuditEntry, 0, len(es))
		for _, e := range es {
			out = append(out, api.AuditEntryToAPI(e))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tTARGET\tREASON")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, c.formatTime(e.At), e.Actor, e.Action, short(e.Target, 40), short(e.Reason, 50))
	}
	tw.Flush()
	return 0
}

// auditVerify runs `curfew audit verify`: exit 0 if the chain is intact,
// 1 with the problem on stderr if not.
func (c *cli) auditVerify(args []string) int {
	cmd := c.newCommand("audit verify", "").withOutput()
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	rep, err := client.VerifyAudit(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		if code := cmd.writeJSON(api.AuditReportToAPI(rep)); code != 0 {
			return code
		}
	} else if rep.OK {
		fmt.Fprintf(c.stdout, "audit log intact: %d entries verified\n", rep.Entries)
	}
	if !rep.OK {
		fmt.Fprintf(c.stderr, "curfew: audit verify: audit log broken: %s\n", short(rep.Problem, 500))
		return 1
	}
	return 0
}
