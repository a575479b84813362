package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/curfew/curfew/internal/api"
)

// devices runs `curfew devices [-o json]`.
func (c *cli) devices(args []string) int {
	cmd := c.newCommand("devices", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ds, err := client.Devices(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Device, 0, len(ds))
		for _, d := range ds {
			out = append(out, api.DeviceToAPI(d))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "MAC\tNAME\tOWNER\tADDRESSES")
	for _, d := range ds {
		addrs := make([]string, len(d.Addrs))
		for i, a := range d.Addrs {
			addrs[i] = a.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.MAC, short(d.Name, 30), short(d.Owner, 30), short(strings.Join(addrs, ","), 80))
	}
	tw.Flush()
	return 0
}
