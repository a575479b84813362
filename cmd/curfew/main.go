// Command curfew is the one binary of curfew: `curfew daemon` runs the
// gateway, `curfew init` creates its state, `curfew lab` builds a simulated
// network, and every other verb is a client of the daemon's API.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error (with a one-line
// message on stderr saying what is wrong).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const usage = `usage: curfew [--server URL] COMMAND [ARGS]

Restrictions:
  restrict SUBJECT (--for DURATION | --until TIME) --reason TEXT [--from TIME]
           [--mode cutoff|allowlist|blocklist] [--allow D,..] [--block D,..]
           [--notice TEXT] [--force]               prints the new restriction's id
  lift ID --reason TEXT
  extend ID (--for DURATION | --until TIME) --reason TEXT
  approve ID --reason TEXT                         a second operator's yes (four eyes)
  reject ID --reason TEXT                          a second operator's no
  list [--all] [-o json]
  show ID [-o json]

Schedules (recurring windows, such as school nights):
  schedule add SUBJECT --days DAYS --from HH:MM --to HH:MM --until DATE --reason TEXT
               [--tz ZONE] [--mode M] [--allow D,..] [--block D,..] [--rate R] [--notice TEXT]
                                                   prints the new schedule's id
  schedule remove ID --reason TEXT                 no window opens again; the open one is lifted
  schedules [--all] [-o json]                      each with its next window, local and UTC

Devices and persons:
  device add MAC [--name N] [--owner PERSON] [--ip ADDR]...
  device approve MAC --owner PERSON [--name N]     registers a seen or quarantined device
  device remove MAC --reason TEXT                  unregisters; restrictions on its MAC stay
  devices [-o json] [--seen]                       --seen adds unregistered devices seen on the LAN
  person add NAME
  person remove NAME --reason TEXT                 refused (exit 1) while a restriction names the person
  persons [-o json]
  group add NAME
  group member add|remove NAME person:P|device:MAC   restricting group:NAME covers every member's devices
  groups [-o json]

Accountability:
  audit [-o json]                                      the audit log, with its text
  audit export [--from SEQ]                            JSON lines: every event and signed checkpoint
  audit key                                            the gateway's public key (base64)
  audit verify                                         chain, signatures, latest checkpoint, state
  audit verify --file EXPORT --key PUBKEY              offline: needs no daemon, no database
  report --from DATE --to DATE [-o md|json|html]     the public report of a period (default Markdown)
         [--include-reasons] [--include-subjects]    add internal reasons, subjects and operators' names
  appeals [-o json]                                    questions sent from the notice page
  appeal answer ID --text TEXT                         the answer shows on that client's page

Operators and tokens (admin; listing: any role):
  operator add NAME --role viewer|operator|admin       prints a one-time console password
  operator list [-o json]
  operator disable NAME --reason TEXT                  its token and sessions stop at once
  operator password NAME                               prints a new one-time console password
  token create --name N --role viewer|operator|admin   prints the secret; adds operator N if new
  token list [-o json]                                 never shows a secret
  token revoke NAME                                    the token stops working at once

Resolver:
  queries [-o json]                                    recent DNS queries and per-client counts

Gateway:
  daemon --config FILE
  init --config FILE                                   prints the first admin token
  backup FILE [--config FILE]                          a consistent copy of the state, while the daemon runs
  lab

SUBJECT is device:MAC, person:NAME, group:NAME or ip:ADDR[/PREFIX].
DURATION is such as 90m, 2h30m or 3d. TIME is RFC 3339, "HH:MM" (the next
such time, local) or "YYYY-MM-DD HH:MM" (local); --from also takes
"YYYY-MM-DD" (the start of that local day). Local is the gateway's zone,
its config's timezone, which the daemon reports; times print in it too.
DAYS is daily, weekdays, weekends or days and ranges such as mon-thu,sun;
a --to before --from runs past midnight. A schedule's --until DATE is
"YYYY-MM-DD" (the end of that day) or a TIME; ZONE is an IANA name. An open
window is listed as a restriction: lifting it ends that window alone.
A report's DATE is "YYYY-MM-DD" (a local day; --to runs through its end) or
RFC 3339.
With approvals configured, a restriction longer than approvals.required_over
waits as pending, not enforced, until an operator other than its author
approves it.

Client commands talk to the API at --server, or $CURFEW_SERVER, or
http://127.0.0.1:8470, with the token in $CURFEW_TOKEN. Flags may come
before or after arguments. Run 'curfew COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run runs the command line args (without the program name) and returns
// the exit code. Client verbs read only the given streams and env; daemon,
// init and lab use the process's own environment as well.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
	return c.main(args)
}

// main runs the command line args with c's streams, environment and clock.
func (c *cli) main(args []string) int {
	stdout, stderr := c.stdout, c.stderr

	// Global flags come before the verb.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch {
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case name == "server" && hasValue:
			c.server, args = value, args[1:]
		case name == "server" && len(args) > 1:
			c.server, args = args[1], args[2:]
		case name == "server":
			return usageError(stderr, "", fmt.Errorf("flag needs an argument: %s", args[0]))
		default:
			return usageError(stderr, "", fmt.Errorf("unknown flag %s before the command; run 'curfew help'", args[0]))
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "daemon":
		return runDaemon(rest, stdout, stderr)
	case "init":
		return runInit(rest, stdout, stderr)
	case "lab":
		return runLab(rest, stdout, stderr)
	case "backup":
		return runBackup(rest, stdout, stderr)
	}
	cmd, ok := commands[verb]
	if !ok {
		return usageError(stderr, "", fmt.Errorf("unknown command %q; run 'curfew help'", verb))
	}
	return cmd(c, rest)
}

// commands are the client verbs.
var commands = map[string]func(c *cli, args []string) int{
	"restrict": (*cli).restrict,
	"lift":     (*cli).lift,
	"extend":   (*cli).extend,
	"approve":  (*cli).approve,
	"reject":   (*cli).reject,
	"list":     (*cli).list,
	"show":     (*cli).show,
	"device":   (*cli).device,
	"devices":  (*cli).devices,
	"person":   (*cli).person,
	"persons":  (*cli).persons,
	"group":    (*cli).group,
	"groups":   (*cli).groups,
	"audit":    (*cli).audit,
	"operator": (*cli).operator,
	"token":    (*cli).token,
	"queries":  (*cli).queries,
	"appeals":  (*cli).appeals,
	"appeal":   (*cli).appeal,
	"report":   (*cli).report,

	"schedule":  (*cli).schedule,
	"schedules": (*cli).schedules,
}

// flagError reports err from parsing the flags of verb, a command that
// runs without the API: for -h it prints the verb's usage (synopsis) and
// flags on stdout and returns 0, else it is a usage error.
func flagError(fs *flag.FlagSet, stdout, stderr io.Writer, verb, synopsis string, err error) int {
	if !errors.Is(err, flag.ErrHelp) {
		return usageError(stderr, verb, err)
	}
	fmt.Fprintf(stdout, "usage: curfew %s %s\n\nflags:\n", verb, synopsis)
	fs.SetOutput(stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return 0
}

// usageError writes "curfew: VERB: ERR" on one line to stderr and returns
// the exit code of a usage error, 2.
func usageError(stderr io.Writer, verb string, err error) int {
	fmt.Fprintln(stderr, errorLine(verb, err))
	return 2
}

// errorLine formats err as the one line curfew prints for it.
func errorLine(verb string, err error) string {
	msg := strings.ReplaceAll(err.Error(), "invalid: ", "")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	if verb == "" {
		return "curfew: " + msg
	}
	return "curfew: " + verb + ": " + msg
}
