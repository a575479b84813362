package main

import (
	"context"
	"fmt"
	"slices"
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
	fmt.Fprintln(tw, "MAC\tNAME\tOWNER\tHOSTNAME\tADDRESSES")
	for _, d := range ds {
		// The registered addresses, then those the gateway learned.
		var addrs []string
		for _, a := range append(slices.Clone(d.Addrs), d.Learned.Addrs...) {
			if s := a.String(); !slices.Contains(addrs, s) {
				addrs = append(addrs, s)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.MAC, short(d.Name, 30), short(d.Owner, 30), short(d.Learned.Hostname, 30), short(strings.Join(addrs, ","), 80))
	}
	tw.Flush()
	return 0
}
