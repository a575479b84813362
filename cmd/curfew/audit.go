package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// audit runs `curfew audit [-o json]` and its subcommands export, key and
// verify.
func (c *cli) audit(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return c.auditExport(args[1:])
		case "key":
			return c.auditKey(args[1:])
		case "verify":
			return c.auditVerify(args[1:])
		}
	}
	cmd := c.newCommand("audit", "[-o json] | export [--from SEQ] | key | verify [--file EXPORT --key PUBKEY]").withOutput()
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q (the subcommands are export, key and verify)", pos[0]))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	var b bytes.Buffer
	if err := client.ExportAudit(context.Background(), 1, &b); err != nil {
		return cmd.fail(err)
	}
	var entries []api.AuditEntry
	for line := range bytes.Lines(b.Bytes()) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		e, _, err := audit.ParseLine(line)
		if err != nil {
			return cmd.fail(fmt.Errorf("reading the server's audit log: %w", err))
		}
		if e != nil {
			entries = append(entries, api.AuditEntryToAPI(e, line))
		}
	}
	if cmd.json() {
		if entries == nil {
			entries = []api.AuditEntry{}
		}
		return cmd.writeJSON(entries)
	}
	tw := c.table()
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tTARGET\tREASON\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, c.formatTime(e.At), e.Actor, e.Action, short(e.Target, 40), short(e.Reason, 50), short(e.Detail, 80))
	}
	tw.Flush()
	return 0
}

// auditExport runs `curfew audit export [--from SEQ]`: the log as JSON
// lines on stdout, as the offline verifier reads it.
func (c *cli) auditExport(args []string) int {
	cmd := c.newCommand("audit export", "[--from SEQ]")
	from := cmd.fs.String("from", "1", "the first event to export (a sequence number)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	seq, err := strconv.ParseInt(*from, 10, 64)
	if err != nil || seq < 1 {
		return cmd.usage(fmt.Errorf("--from: %q is not an event's sequence number (1 or more)", *from))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	if err := client.ExportAudit(context.Background(), seq, c.stdout); err != nil {
		return cmd.fail(err)
	}
	return 0
}

// auditKey runs `curfew audit key`: the gateway's public key, base64, on
// one line. It asks the daemon, which holds the private key.
func (c *cli) auditKey(args []string) int {
	cmd := c.newCommand("audit key", "")
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	pub, err := client.AuditKey(context.Background())
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, audit.EncodePublicKey(pub))
	return 0
}

// auditVerify runs `curfew audit verify`: the daemon verifies its log and
// state; with --file and --key, curfew verifies an export by itself,
// without daemon or database. Exit 0 if intact, 1 with the first problem
// on stderr if not.
func (c *cli) auditVerify(args []string) int {
	cmd := c.newCommand("audit verify", "[--file EXPORT --key PUBKEY]").withOutput()
	file := cmd.fs.String("file", "", "verify this export (`curfew audit export`; - for standard input) offline, with --key")
	key := cmd.fs.String("key", "", "the gateway's public key (`curfew audit key`): base64, or a file holding it")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usage(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	var rep *curfew.AuditReport
	switch {
	case *file == "" && *key == "":
		client, code, ok := cmd.client()
		if !ok {
			return code
		}
		var err error
		if rep, err = client.VerifyAudit(context.Background()); err != nil {
			return cmd.fail(err)
		}
	case *file == "" || *key == "":
		return cmd.usage(errors.New("--file and --key go together: an export is verified with the gateway's public key"))
	default:
		pub, err := readPublicKey(*key)
		if err != nil {
			return cmd.usage(fmt.Errorf("--key: %w", err))
		}
		in := c.stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return cmd.usage(fmt.Errorf("--file: %w", err))
			}
			defer f.Close()
			in = f
		}
		r, err := audit.Verify(in, pub)
		if err != nil {
			fmt.Fprintln(c.stderr, errorLine(cmd.verb, err))
			return 1
		}
		rep = offlineReport(r)
	}
	if cmd.json() {
		if code := cmd.writeJSON(api.AuditReportToAPI(rep)); code != 0 {
			return code
		}
	} else if rep.OK {
		fmt.Fprintf(c.stdout, "audit log intact: %d events verified%s\n", rep.Entries, signedText(rep))
	}
	if !rep.OK {
		msg := rep.Problem
		if n := len(rep.Problems); n > 1 {
			msg += fmt.Sprintf(" (and %d more problems)", n-1)
		}
		fmt.Fprintf(c.stderr, "curfew: audit verify: audit log broken: %s\n", short(msg, 500))
		return 1
	}
	return 0
}

// offlineReport returns the verdict on an export as the daemon words its
// own.
func offlineReport(r *audit.Report) *curfew.AuditReport {
	rep := &curfew.AuditReport{Entries: r.Events, Checkpoints: int64(r.Checkpoints), Unsigned: r.Unsigned(), OK: r.OK(), Problems: r.Messages()}
	if r.Signed != nil {
		rep.SignedSeq, rep.SignedAt = r.Signed.Seq, r.Signed.At
	}
	if len(rep.Problems) > 0 {
		rep.Problem = rep.Problems[0]
	}
	return rep
}

func signedText(rep *curfew.AuditReport) string {
	if rep.SignedSeq == 0 {
		return ", none signed yet"
	}
	s := fmt.Sprintf(", signed through event %d at %s", rep.SignedSeq, rep.SignedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	if rep.Unsigned > 0 {
		s += fmt.Sprintf(" (%d newer, signed within a minute)", rep.Unsigned)
	}
	return s
}

// readPublicKey reads a public key given as base64, or as the name of a
// file holding it.
func readPublicKey(s string) (ed25519.PublicKey, error) {
	if pub, err := audit.ParsePublicKey(s); err == nil {
		return pub, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an ed25519 public key in base64 nor a file holding one", s)
	}
	pub, err := audit.ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", s, err)
	}
	return pub, nil
}
