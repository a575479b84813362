package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

const operatorUsage = `usage: curfew operator add NAME --role viewer|operator|admin   prints a one-time password
       curfew operator list [-o json]
       curfew operator disable NAME --reason TEXT
       curfew operator password NAME                          prints a new one-time password`

// operator runs `curfew operator add|list|disable|password`.
func (c *cli) operator(args []string) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "add":
		return c.operatorAdd(args)
	case "list":
		return c.operatorList(args)
	case "disable":
		return c.operatorDisable(args)
	case "password":
		return c.operatorPassword(args)
	case "-h", "--help", "help":
		fmt.Fprintln(c.stdout, operatorUsage)
		return 0
	}
	return usageError(c.stderr, "operator", errors.New("want a subcommand: operator add|list|disable|password"))
}

// oneName parses args for a verb that takes one operator name and flags;
// ok is false, with the exit code, on bad input.
func (cmd *command) oneName(args []string) (name string, code int, ok bool) {
	pos, code, ok := cmd.parse(args)
	if !ok {
		return "", code, false
	}
	switch {
	case len(pos) == 0:
		return "", cmd.usage(errors.New("missing NAME")), false
	case len(pos) > 1:
		return "", cmd.usage(fmt.Errorf("unexpected argument %q after the name", pos[1])), false
	}
	if err := curfew.ValidateName(pos[0]); err != nil {
		return "", cmd.usage(err), false
	}
	return pos[0], 0, true
}

// operatorAdd runs `curfew operator add NAME --role ROLE` and prints the
// operator's one-time console password alone; it is shown only this once.
func (c *cli) operatorAdd(args []string) int {
	cmd := c.newCommand("operator add", "NAME --role viewer|operator|admin")
	roleS := cmd.fs.String("role", "", "viewer, operator or admin (required)")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	role, code, ok := cmd.role(*roleS)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	_, password, err := client.AddOperator(context.Background(), name, role)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, password)
	return 0
}

// role parses a required --role flag.
func (cmd *command) role(s string) (curfew.Role, int, bool) {
	if s == "" {
		return "", cmd.usage(errors.New("missing --role viewer|operator|admin")), false
	}
	role, err := curfew.ParseRole(s)
	if err != nil {
		return "", cmd.usage(fmt.Errorf("--role: %q is not viewer, operator or admin", s)), false
	}
	return role, 0, true
}

// operatorList runs `curfew operator list [-o json]`.
func (c *cli) operatorList(args []string) int {
	cmd := c.newCommand("operator list", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ops, err := client.Operators(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Operator, 0, len(ops))
		for _, op := range ops {
			out = append(out, api.OperatorToAPI(op))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tPASSWORD\tCREATED\tBY\tDISABLED\tREASON")
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", op.Name, op.Role, op.Status(), op.Password,
			c.formatTime(op.Created), dash(op.CreatedBy), c.formatTime(op.Disabled), short(op.DisableReason, 40))
	}
	tw.Flush()
	return 0
}

// operatorDisable runs `curfew operator disable NAME --reason TEXT`.
func (c *cli) operatorDisable(args []string) int {
	cmd := c.newCommand("operator disable", "NAME --reason TEXT [-o json]").withOutput()
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: disabling an operator needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	op, err := client.DisableOperator(context.Background(), name, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.OperatorToAPI(op))
	}
	fmt.Fprintf(c.stdout, "operator %s disabled; its token and sessions no longer work\n", op.Name)
	return 0
}

// operatorPassword runs `curfew operator password NAME` and prints the
// operator's new one-time console password alone.
func (c *cli) operatorPassword(args []string) int {
	cmd := c.newCommand("operator password", "NAME")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	password, err := client.ResetPassword(context.Background(), name)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, password)
	return 0
}

// dash returns s, or "-" if it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
