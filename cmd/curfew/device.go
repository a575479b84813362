package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/curfew/curfew/internal/curfew"
)

const deviceUsage = `usage: curfew device add MAC [--name N] [--owner PERSON] [--ip ADDR]...
       curfew device approve MAC --owner PERSON [--name N]
       curfew device remove MAC --reason TEXT`

// device runs `curfew device add|remove`.
func (c *cli) device(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return c.deviceAdd(args[1:])
		case "remove":
			return c.deviceRemove(args[1:])
		case "approve":
			return c.deviceApprove(args[1:])
		case "-h", "--help", "help":
			fmt.Fprintln(c.stdout, deviceUsage)
			return 0
		}
	}
	return usageError(c.stderr, "device", errors.New("want a subcommand: device add MAC [--name N] [--owner PERSON] [--ip ADDR] (--ip repeatable), device approve MAC --owner PERSON [--name N], or device remove MAC --reason TEXT"))
}

// deviceAdd runs `curfew device add MAC [--name N] [--owner PERSON]
// [--ip ADDR]...` and prints the device's MAC.
func (c *cli) deviceAdd(args []string) int {
	cmd := c.newCommand("device add", "MAC [--name N] [--owner PERSON] [--ip ADDR]...")
	name := cmd.fs.String("name", "", "a label for the device")
	owner := cmd.fs.String("owner", "", "the person who owns it; restricting them restricts it")
	var ips stringList
	cmd.fs.Var(&ips, "ip", "a static address of the device (repeatable)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	mac, code, ok := cmd.oneMAC(pos)
	if !ok {
		return code
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
	d, err := client.AddDevice(context.Background(), d)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, d.MAC)
	return 0
}

// deviceApprove runs `curfew device approve MAC --owner PERSON [--name N]`,
// which registers a device seen on the LAN, or held by quarantine, to its
// owner, and prints the MAC.
func (c *cli) deviceApprove(args []string) int {
	cmd := c.newCommand("device approve", "MAC --owner PERSON [--name N]")
	owner := cmd.fs.String("owner", "", "the person who owns it (required)")
	name := cmd.fs.String("name", "", "a label for the device")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	mac, code, ok := cmd.oneMAC(pos)
	if !ok {
		return code
	}
	if *owner == "" {
		return cmd.usage(errors.New("missing --owner PERSON: an approved device belongs to someone"))
	}
	d := &curfew.Device{MAC: mac, Name: *name, Owner: *owner}
	if err := d.Validate(); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	d, err := client.ApproveDevice(context.Background(), d)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, d.MAC)
	return 0
}

// deviceRemove runs `curfew device remove MAC --reason TEXT` and prints
// the MAC.
func (c *cli) deviceRemove(args []string) int {
	cmd := c.newCommand("device remove", "MAC --reason TEXT")
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	mac, code, ok := cmd.oneMAC(pos)
	if !ok {
		return code
	}
	if err := checkReasonFlag(*reason, "removing a device"); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	d, err := client.RemoveDevice(context.Background(), mac, *reason)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, d.MAC)
	return 0
}

// oneMAC parses the one positional argument, a MAC address.
func (cmd *command) oneMAC(pos []string) (mac net.HardwareAddr, code int, ok bool) {
	switch {
	case len(pos) == 0:
		return nil, cmd.usage(errors.New("missing MAC, such as 02:00:00:00:00:01")), false
	case len(pos) > 1:
		return nil, cmd.usage(fmt.Errorf("unexpected argument %q after the MAC", pos[1])), false
	}
	m, err := curfew.ParseMAC(pos[0])
	if err != nil {
		return nil, cmd.usage(err), false
	}
	return m, 0, true
}

// checkReasonFlag checks the value of --reason as the server would; doing
// names what needs it.
func checkReasonFlag(reason, doing string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("missing --reason TEXT: %s needs one", doing)
	}
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return fmt.Errorf("--reason: %w", err)
	}
	return nil
}
