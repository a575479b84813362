package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/curfew/curfew/internal/curfew"
)

// person runs `curfew person add NAME` and prints the name.
func (c *cli) person(args []string) int {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "usage: curfew person add NAME")
			return 0
		}
		return usageError(c.stderr, "person", errors.New("want a subcommand: person add NAME"))
	}
	cmd := c.newCommand("person add", "NAME")
	pos, code, ok := cmd.parse(args[1:])
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return cmd.usage(errors.New("missing NAME"))
	case len(pos) > 1:
		return cmd.usage(fmt.Errorf("unexpected argument %q after the name", pos[1]))
	}
	if err := curfew.ValidateName(pos[0]); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	p, err := client.AddPerson(context.Background(), pos[0])
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, p.Name)
	return 0
}
