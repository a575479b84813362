package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

const groupUsage = `usage: curfew group add NAME
       curfew group member add NAME person:P|device:MAC
       curfew group member remove NAME person:P|device:MAC`

var errGroupSubcommand = errors.New("want a subcommand: group add NAME, group member add NAME MEMBER or group member remove NAME MEMBER (MEMBER is person:P or device:MAC)")

// group runs `curfew group add|member`.
func (c *cli) group(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return c.groupAdd(args[1:])
		case "member":
			if len(args) > 1 && (args[1] == "add" || args[1] == "remove") {
				return c.groupMember(args[1], args[2:])
			}
			if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
				fmt.Fprintln(c.stdout, groupUsage)
				return 0
			}
		case "-h", "--help", "help":
			fmt.Fprintln(c.stdout, groupUsage)
			return 0
		}
	}
	return usageError(c.stderr, "group", errGroupSubcommand)
}

// groupAdd runs `curfew group add NAME` and prints the name.
func (c *cli) groupAdd(args []string) int {
	cmd := c.newCommand("group add", "NAME")
	name, code, ok := cmd.oneName(args)
	if !ok {
		return code
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	g, err := client.AddGroup(context.Background(), name)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, g.Name)
	return 0
}

// groupMember runs `curfew group member add|remove NAME MEMBER` and prints
// the group's members, one a line.
func (c *cli) groupMember(op string, args []string) int {
	cmd := c.newCommand("group member "+op, "NAME person:P|device:MAC")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) < 2:
		return cmd.usage(errors.New("want NAME and MEMBER (person:P or device:MAC)"))
	case len(pos) > 2:
		return cmd.usage(fmt.Errorf("unexpected argument %q after the member", pos[2]))
	}
	if err := curfew.ValidateName(pos[0]); err != nil {
		return cmd.usage(err)
	}
	member, err := curfew.ParseSubject(pos[1])
	if err == nil {
		err = curfew.CheckMember(member)
	}
	if err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	change := client.AddGroupMember
	if op == "remove" {
		change = client.RemoveGroupMember
	}
	g, err := change(context.Background(), pos[0], member)
	if err != nil {
		return cmd.fail(err)
	}
	for _, m := range g.Members {
		fmt.Fprintln(c.stdout, m)
	}
	return 0
}

// groups runs `curfew groups [-o json]`.
func (c *cli) groups(args []string) int {
	cmd := c.newCommand("groups", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	gs, err := client.Groups(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Group, 0, len(gs))
		for _, g := range gs {
			out = append(out, api.GroupToAPI(g))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tMEMBERS")
	for _, g := range gs {
		ms := make([]string, len(g.Members))
		for i, m := range g.Members {
			ms[i] = m.String()
		}
		fmt.Fprintf(tw, "%s\t%s\n", g.Name, short(strings.Join(ms, ","), 100))
	}
	tw.Flush()
	return 0
}
