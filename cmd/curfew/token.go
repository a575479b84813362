package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

const tokenUsage = `usage: curfew token create --name N --role viewer|operator|admin   prints the secret
       curfew token list [-o json]
       curfew token revoke NAME`

// token runs `curfew token create|list|revoke`.
func (c *cli) token(args []string) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "create":
		return c.tokenCreate(args)
	case "list":
		return c.tokenList(args)
	case "revoke":
		return c.tokenRevoke(args)
	case "-h", "--help", "help":
		fmt.Fprintln(c.stdout, tokenUsage)
		return 0
	}
	return usageError(c.stderr, "token", errors.New("want a subcommand: token create --name N --role ROLE, token list or token revoke NAME"))
}

// tokenCreate runs `curfew token create --name N --role ROLE` and prints
// the new token's secret alone; it is shown only this once. The operator
// N is created if it does not exist.
func (c *cli) tokenCreate(args []string) int {
	cmd := c.newCommand("token create", "--name N --role viewer|operator|admin")
	name := cmd.fs.String("name", "", "the operator the token acts as, created if new (required)")
	roleS := cmd.fs.String("role", "", "viewer, operator or admin (required)")
	pos, code, ok := cmd.parse(args)
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
	role, code, ok := cmd.role(*roleS)
	if !ok {
		return code
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

// tokenList runs `curfew token list [-o json]`. No secret is ever shown:
// the server keeps only their hashes.
func (c *cli) tokenList(args []string) int {
	cmd := c.newCommand("token list", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ts, err := client.Tokens(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Token, 0, len(ts))
		for _, t := range ts {
			out = append(out, api.TokenToAPI(t))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tCREATED\tBY\tREVOKED\tBY")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Status(),
			c.formatTime(t.Created), dash(t.CreatedBy), c.formatTime(t.Revoked), dash(t.RevokedBy))
	}
	tw.Flush()
	return 0
}

// tokenRevoke runs `curfew token revoke NAME`: the token stops working
// with its next request.
func (c *cli) tokenRevoke(args []string) int {
	cmd := c.newCommand("token revoke", "NAME [-o json]").withOutput()
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	t, err := client.RevokeToken(context.Background(), name)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.TokenToAPI(t))
	}
	fmt.Fprintf(c.stdout, "token %s revoked\n", t.Name)
	return 0
}
