package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/curfew"
)

// token runs `curfew token create --name N --role ROLE` and prints the new
// token's secret alone; it is shown only this once.
func (c *cli) token(args []string) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "usage: curfew token create --name N --role viewer|operator|admin")
			return 0
		}
		return usageError(c.stderr, "token", errors.New("want a subcommand: token create --name N --role ROLE"))
	}
	cmd := c.newCommand("token create", "--name N --role viewer|operator|admin")
	name := cmd.fs.String("name", "", "the operator name the token acts as (required)")
	roleS := cmd.fs.String("role", "", "viewer, operator or admin (required)")
	pos, code, ok := cmd.parse(args[1:])
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if *name == "" {
		return cmd.usage(errors.New("missing --name N"))
	}
	if err := curfew.ValidateName(*name); err != nil {
		return cmd.usage(fmt.Errorf("--name: %w", err))
	}
	if *roleS == "" {
		return cmd.usage(errors.New("missing --role viewer|operator|admin"))
	}
	role, err := curfew.ParseRole(*roleS)
	if err != nil {
		return cmd.usage(fmt.Errorf("--role: %q is not viewer, operator or admin", *roleS))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	secret, err := client.CreateToken(context.Background(), *name, role)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, secret)
	return 0
}
