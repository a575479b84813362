package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

// appeals runs `curfew appeals [-o json]`: the questions restricted
// persons sent from the notice page, oldest first, with their answers.
func (c *cli) appeals(args []string) int {
	cmd := c.newCommand("appeals", "[-o json]").withOutput()
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	as, err := client.Appeals(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		out := make([]api.Appeal, 0, len(as))
		for _, a := range as {
			out = append(out, api.AppealToAPI(a))
		}
		return cmd.writeJSON(out)
	}
	if len(as) == 0 {
		fmt.Fprintln(c.stdout, "no appeals")
		return 0
	}
	for i, a := range as {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		c.printAppeal(a)
	}
	return 0
}

// printAppeal prints one appeal as "key: value" lines, its texts indented
// under their key.
func (c *cli) printAppeal(a *curfew.Appeal) {
	tw := c.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, strings.ReplaceAll(terminalSafe(v), "\n", "\n\t")) }
	ids := make([]string, len(a.Restrictions))
	for i, id := range a.Restrictions {
		ids[i] = strconv.FormatInt(int64(id), 10)
	}
	row("appeal", strconv.FormatInt(int64(a.ID), 10))
	row("sent", c.formatTime(a.Created))
	row("device", fmt.Sprintf("%s (from %s)", a.From, a.Addr))
	row("restrictions", strings.Join(ids, ", "))
	row("message", a.Message)
	if a.Answer == "" {
		row("answer", "-")
	} else {
		row("answer", a.Answer)
		row("answered", c.formatTime(a.Answered)+" by "+a.AnsweredBy)
	}
	tw.Flush()
}

// terminalSafe replaces the control characters of s but newline and tab,
// which a terminal would obey, with U+FFFD. The daemon refuses them in
// appeals; this keeps the CLI safe from any server.
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

// appeal runs `curfew appeal answer ID --text TEXT [-o json]`.
func (c *cli) appeal(args []string) int {
	if len(args) == 0 || args[0] != "answer" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "usage: curfew appeal answer ID --text TEXT [-o json]")
			return 0
		}
		return usageError(c.stderr, "appeal", errors.New("want a subcommand: appeal answer ID --text TEXT"))
	}
	cmd := c.newCommand("appeal answer", "ID --text TEXT [-o json]").withOutput()
	text := cmd.fs.String("text", "", "the answer, shown on the notice page of the client that asked (required)")
	pos, code, ok := cmd.parse(args[1:])
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return cmd.usage(errors.New("want exactly one appeal ID"))
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return cmd.usage(fmt.Errorf("ID: %q is not an appeal id (a positive integer)", pos[0]))
	}
	if strings.TrimSpace(*text) == "" {
		return cmd.usage(errors.New("missing --text TEXT: the answer to show"))
	}
	if _, err := curfew.CleanAppealText("--text", *text); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	a, err := client.AnswerAppeal(context.Background(), curfew.AppealID(id), *text)
	if err != nil {
		return cmd.fail(err)
	}
	if cmd.json() {
		return cmd.writeJSON(api.AppealToAPI(a))
	}
	fmt.Fprintf(c.stdout, "appeal %d answered; %s sees the answer on its notice page\n", a.ID, a.From)
	return 0
}
