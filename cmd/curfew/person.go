package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/curfew"
)

const personUsage = `usage: curfew person add NAME
       curfew person remove NAME --reason TEXT`

// person runs `curfew person add|remove`.
func (c *cli) person(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return c.personAdd(args[1:])
		case "remove":
			return c.personRemove(args[1:])
		case "-h", "--help", "help":
			fmt.Fprintln(c.stdout, personUsage)
			return 0
		}
	}
	return usageError(c.stderr, "person", errors.New("want a subcommand: person add NAME, or person remove NAME --reason TEXT"))
}

// personAdd runs `curfew person add NAME` and prints the name.
func (c *cli) personAdd(args []string) int {
	cmd := c.newCommand("person add", "NAME")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	p, err := client.AddPerson(context.Background(), name)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, p.Name)
	return 0
}

// personRemove runs `curfew person remove NAME --reason TEXT` and prints
// the name. A person named by a restriction that is not over is refused
// with exit 1: the request is well formed, the state forbids it.
func (c *cli) personRemove(args []string) int {
	cmd := c.newCommand("person remove", "NAME --reason TEXT")
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	if err := checkReasonFlag(*reason, "removing a person"); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	p, err := client.RemovePerson(context.Background(), name, *reason)
	if errors.Is(err, curfew.ErrConflict) {
		fmt.Fprintln(c.stderr, errorLine(cmd.verb, err))
		return 1
	}
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, p.Name)
	return 0
}
