package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

// devices runs `curfew devices [-o json] [--seen]`: the registered
// devices, with what the gateway saw of them; --seen adds the unregistered
// devices seen on the LAN.
func (c *cli) devices(args []string) int {
	cmd := c.newCommand("devices", "[-o json] [--seen]").withOutput()
	withSeen := cmd.fs.Bool("seen", false, "add the devices seen on the LAN that are not registered")
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ctx := context.Background()
	ds, err := client.Devices(ctx)
	if err != nil {
		return cmd.fail(err)
	}
	var seen []*curfew.SeenDevice
	if cmd.json() || *withSeen {
		if seen, err = client.SeenDevices(ctx); err != nil {
			return cmd.fail(err)
		}
	}
	out := mergeSeen(ds, seen, *withSeen)
	if cmd.json() {
		return cmd.writeJSON(out)
	}
	tw := c.table()
	if !*withSeen {
		fmt.Fprintln(tw, "MAC\tNAME\tOWNER\tHOSTNAME\tADDRESSES")
		for _, d := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.MAC, short(d.Name, 30), short(d.Owner, 30), short(d.Hostname, 30), short(strings.Join(knownAddrs(d), ","), 80))
		}
		tw.Flush()
		return 0
	}
	fmt.Fprintln(tw, "MAC\tREGISTERED\tNAME\tOWNER\tLAST SEEN\tHOSTNAME\tADDRESSES\tNOTE")
	for _, d := range out {
		last := "-"
		if d.LastSeenAt != nil {
			last = c.formatTime(*d.LastSeenAt)
		}
		reg := "no"
		if d.Registered {
			reg = "yes"
		}
		var note []string
		if d.RandomMAC {
			note = append(note, "random MAC")
		}
		if len(d.Resembles) > 0 {
			note = append(note, "resembles "+strings.Join(d.Resembles, ","))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.MAC, reg, short(d.Name, 30), short(d.Owner, 30), last,
			short(d.Hostname, 30), short(strings.Join(knownAddrs(d), ","), 60), strings.Join(note, "; "))
	}
	tw.Flush()
	return 0
}

// mergeSeen returns the registered devices ds with what seen says of them,
// followed (sorted by MAC) by the unregistered seen devices if all is set.
func mergeSeen(ds []*curfew.Device, seen []*curfew.SeenDevice, all bool) []api.Device {
	bySeen := make(map[string]*curfew.SeenDevice, len(seen))
	for _, s := range seen {
		bySeen[string(s.MAC)] = s
	}
	out := make([]api.Device, 0, len(ds))
	registered := map[string]bool{}
	for _, d := range ds {
		w := api.DeviceToAPI(d)
		if s := bySeen[string(d.MAC)]; s != nil {
			addSeen(&w, s)
		}
		registered[string(d.MAC)] = true
		out = append(out, w)
	}
	if !all {
		return out
	}
	for _, s := range seen {
		if registered[string(s.MAC)] {
			continue
		}
		w := api.Device{MAC: s.MAC.String(), Addrs: []string{}, Learned: []string{}, RandomMAC: s.RandomMAC()}
		addSeen(&w, s)
		for _, m := range s.Resembles {
			w.Resembles = append(w.Resembles, m.String())
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b api.Device) int { return strings.Compare(a.MAC, b.MAC) })
	return out
}

// knownAddrs returns the registered addresses of d, then those the
// gateway learned, then those it saw, each once.
func knownAddrs(d api.Device) []string {
	var addrs []string
	for _, a := range slices.Concat(d.Addrs, d.Learned, d.SeenAddrs) {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

func addSeen(w *api.Device, s *curfew.SeenDevice) {
	first, last := s.FirstSeen.UTC(), s.LastSeen.UTC()
	w.FirstSeenAt, w.LastSeenAt = &first, &last
	if w.Hostname == "" {
		w.Hostname = s.Hostname
	}
	w.ClientID = s.ClientID
	w.SeenAddrs = make([]string, 0, len(s.Addrs))
	for _, a := range s.Addrs {
		w.SeenAddrs = append(w.SeenAddrs, a.String())
	}
	if w.Resembles == nil {
		w.Resembles = []string{}
	}
}
