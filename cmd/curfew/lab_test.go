package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestLabUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr, which is then one line
	}{
		{"help", []string{"lab", "-h"}, 0, "usage: curfew lab", ""},
		{"unknown flag", []string{"lab", "--keep"}, 2, "", "curfew: lab: flag provided but not defined: -keep"},
		{"argument", []string{"lab", "now"}, 2, "", `curfew: lab: unexpected argument "now"`},
		{"bad prefix", []string{"lab", "--prefix", "-x"}, 2, "", "curfew: lab: --prefix: lab prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
			if code != tt.wantCode {
				t.Errorf("curfew %s: exit %d, want %d (stderr %q)", strings.Join(tt.args, " "), code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("curfew %s: stdout %q, want it to contain %q", strings.Join(tt.args, " "), stdout.String(), tt.wantOut)
			}
			if tt.wantErr != "" && (!strings.HasPrefix(stderr.String(), tt.wantErr) || strings.Count(stderr.String(), "\n") != 1) {
				t.Errorf("curfew %s: stderr %q, want one line starting %q", strings.Join(tt.args, " "), stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestLabNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root")
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"lab", "--demo"}, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "must run as root") {
		t.Errorf("curfew lab as a normal user: exit %d, stderr %q; want 1 and a message saying it must run as root", code, stderr.String())
	}
}
