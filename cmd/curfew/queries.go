package main

import (
	"context"
	"fmt"
)

// queries runs `curfew queries [-o json]`: the resolver's recent queries
// and the query counts of each client.
func (c *cli) queries(args []string) int {
	cmd := c.newCommand("queries", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	log, err := client.DNSLog(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(log)
	}
	tw := c.table()
	fmt.Fprintln(tw, "AT\tCLIENT\tTYPE\tNAME\tRESULT\tRCODE")
	for _, q := range log.Queries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", q.At.Local().Format("15:04:05.000"), q.Client, q.Type, q.Name, q.Result, q.Rcode)
	}
	tw.Flush()
	fmt.Fprintln(c.stdout)
	tw = c.table()
	fmt.Fprintln(tw, "CLIENT\tQUERIES\tREFUSED\tLAST")
	for _, cl := range log.Clients {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", cl.Client, cl.Queries, cl.Refused, c.formatTime(cl.Last))
	}
	tw.Flush()
	return 0
}
