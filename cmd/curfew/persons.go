package main

import (
	"context"
	"fmt"

	"github.com/curfew/curfew/internal/api"
)

// persons runs `curfew persons [-o json]`.
func (c *cli) persons(args []string) int {
	cmd := c.newCommand("persons", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ps, err := client.Persons(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Person, 0, len(ps))
		for _, p := range ps {
			out = append(out, api.PersonToAPI(p))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tREGISTERED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\n", p.Name, c.formatTime(p.Created))
	}
	tw.Flush()
	return 0
}
