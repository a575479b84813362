package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/curfew/curfew/internal/curfew"
)

// device runs `curfew device add MAC [--name N] [--owner PERSON]
// [--ip ADDR]...` and prints the device's MAC.
func (c *cli) device(args []string) int {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "usage: curfew device add MAC [--name N] [--owner PERSON] [--ip ADDR]...")
			return 0
		}
		return usageError(c.stderr, "device", errors.New("want a subcommand: device add MAC [--name N] [--owner PERSON] [--ip ADDR] (--ip repeatable)"))
	}
	cmd := c.newCommand("device add", "MAC [--name N] [--owner PERSON] [--ip ADDR]...")
	name := cmd.fs.String("name", "", "a label for the device")
	owner := cmd.fs.String("owner", "", "the person who owns it; restricting them restricts it")
	var ips stringList
	cmd.fs.Var(&ips, "ip", "a static address of the device (repeatable)")
	pos, code, ok := cmd.parse(args[1:])
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return cmd.usage(errors.New("missing MAC, such as 02:00:00:00:00:01"))
	case len(pos) > 1:
		return cmd.usage(fmt.Errorf("unexpected argument %q after the MAC", pos[1]))
	}
	mac, err := curfew.ParseMAC(pos[0])
	if err != nil {
		return cmd.usage(err)
	}
	d := &curfew.Device{MAC: mac, Name: *name, Owner: *owner}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cmd.usage(fmt.Errorf("--ip: %q is not an IP address", s))
		}
		d.Addrs = append(d.Addrs, a)
	}
	if err := d.Validate(); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	d, err = client.AddDevice(context.Background(), d)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, d.MAC)
	return 0
}
