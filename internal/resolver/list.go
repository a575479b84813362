package resolver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// MaxSamples is how many problem lines a ListReport quotes.
const MaxSamples = 10

// maxLineLen is the longest line a list parser reads; longer lines are
// reported invalid.
const maxLineLen = 4096

// A ListReport says what parsing one blocklist found.
type ListReport struct {
	Source      string        // the file or URL it was read from
	Lines       int           // lines read
	Domains     int           // names taken from the list, duplicates included
	Ignored     int           // blank lines, comments, list headers and local names such as localhost
	Unsupported int           // adblock rules other than "||domain^": exceptions, modifiers, cosmetic and regular-expression rules
	Invalid     int           // lines in none of the supported forms
	Samples     []LineProblem // the first MaxSamples unsupported or invalid lines
}

// A LineProblem is one line of a list that was not used.
type LineProblem struct {
	Line   int    // 1-based
	Text   string // the line, cut to 100 bytes
	Reason string
}

func (r *ListReport) problem(line int, text string, unsupported bool, reason string) {
	if unsupported {
		r.Unsupported++
	} else {
		r.Invalid++
	}
	if len(r.Samples) < MaxSamples {
		if len(text) > 100 {
			text = text[:100]
		}
		r.Samples = append(r.Samples, LineProblem{Line: line, Text: text, Reason: reason})
	}
}

// String summarises r on one line for logs.
func (r ListReport) String() string {
	s := fmt.Sprintf("%s: %d lines, %d domains, %d ignored, %d unsupported, %d invalid",
		r.Source, r.Lines, r.Domains, r.Ignored, r.Unsupported, r.Invalid)
	for _, p := range r.Samples {
		s += fmt.Sprintf("; line %d %q: %s", p.Line, p.Text, p.Reason)
	}
	return s
}

// localNames are names hosts files map to local addresses; they are not
// entries of a blocklist.
var localNames = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

// ParseList reads a blocklist from r and calls add with each domain it
// lists, lower case and without a trailing dot. Each line may be in any of
// the supported forms, so lists that mix them are read whole:
//
//	0.0.0.0 ads.example.com tracker.example.net   # hosts: the address is ignored
//	ads.example.com                               # plain domain list
//	||ads.example.com^                            # adblock
//
// Lines starting with '#' or '!' are comments, as is the rest of a hosts or
// plain line from " #". Every listed name blocks its subdomains too. Other
// adblock syntax (exceptions "@@", modifiers "$", cosmetic "##" and regular
// expression rules) is counted as unsupported, and lines in no supported
// form as invalid; neither stops the parse. ParseList returns an error only
// if reading r fails.
func ParseList(r io.Reader, add func(domain string)) (ListReport, error) {
	var rep ListReport
	br := bufio.NewReaderSize(r, maxLineLen)
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil || errors.Is(err, errLineTooLong) {
			rep.Lines++
			if errors.Is(err, errLineTooLong) {
				rep.problem(rep.Lines, string(line), false, "line too long")
			} else {
				parseLine(&rep, rep.Lines, string(line), add)
			}
		}
		if err == io.EOF {
			return rep, nil
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return rep, fmt.Errorf("reading line %d: %w", rep.Lines+1, err)
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its end of line. A line longer
// than the reader's buffer is consumed whole and returned cut, with
// errLineTooLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		head := string(line[:100])
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return []byte(head), errLineTooLong
	}
	line = bytes.TrimRight(line, "\r\n")
	return line, err
}

func parseLine(rep *ListReport, n int, line string, add func(string)) {
	s := strings.TrimSpace(line)
	switch {
	case s == "" || s[0] == '#' || s[0] == '!' || s[0] == '[':
		rep.Ignored++
		return
	case strings.HasPrefix(s, "||"):
		parseAdblock(rep, n, s, add)
		return
	case strings.HasPrefix(s, "@@") || s[0] == '|' || s[0] == '/' ||
		strings.Contains(s, "##") || strings.Contains(s, "#@#") || strings.Contains(s, "#?#") || strings.Contains(s, "#$#"):
		rep.problem(n, line, true, "unsupported adblock rule")
		return
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "\t#"); i >= 0 {
		s = s[:i]
	}
	fields := strings.Fields(s)
	if _, err := netip.ParseAddr(fields[0]); err == nil && len(fields) > 1 {
		for _, f := range fields[1:] {
			addName(rep, n, line, f, add)
		}
		return
	}
	if len(fields) != 1 {
		rep.problem(n, line, false, "neither a hosts line, a domain nor an adblock rule")
		return
	}
	if strings.ContainsAny(fields[0], "$^*/") && !strings.HasPrefix(fields[0], "*.") {
		rep.problem(n, line, true, "unsupported adblock rule")
		return
	}
	addName(rep, n, line, fields[0], add)
}

// addName adds one name of a hosts, plain or adblock line, or counts why
// it cannot.
func addName(rep *ListReport, n int, line, name string, add func(string)) {
	lower := strings.ToLower(strings.TrimSuffix(name, "."))
	if localNames[lower] {
		rep.Ignored++
		return
	}
	if _, err := netip.ParseAddr(name); err == nil {
		rep.Ignored++
		return
	}
	d, ok := normalizeDomain(name)
	if !ok {
		rep.problem(n, line, false, fmt.Sprintf("%q is not a domain name", name))
		return
	}
	if !strings.Contains(d, ".") {
		rep.problem(n, line, false, fmt.Sprintf("%q is a single label", name))
		return
	}
	rep.Domains++
	add(d)
}

func parseAdblock(rep *ListReport, n int, s string, add func(string)) {
	rest := s[2:]
	i := strings.IndexByte(rest, '^')
	if i < 0 {
		rep.problem(n, s, true, "adblock rule without '^'")
		return
	}
	name, tail := rest[:i], rest[i+1:]
	if tail != "" && tail != "|" {
		rep.problem(n, s, true, "adblock rule with modifiers")
		return
	}
	if strings.ContainsAny(name, "*/:") {
		rep.problem(n, s, true, "adblock rule with a pattern")
		return
	}
	addName(rep, n, s, name, add)
}
