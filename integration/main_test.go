//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// curfewBin is the curfew binary TestMain builds for every test.
var curfewBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "curfew-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	curfewBin = filepath.Join(dir, "curfew")
	gobin := "go"
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		gobin = p
	}
	build := exec.Command(gobin, "build", "-o", curfewBin, "./cmd/curfew")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: building curfew: %v\n%s", err, out)
		return 1
	}
	removeStaleLabs()
	code := m.Run()
	if debDir != "" {
		os.RemoveAll(debDir)
	}
	return code
}

// staleLab matches the namespaces of labs made by this package (see
// labPrefix); the number after "cfi" is the test process's id.
var staleLab = regexp.MustCompile(`^(cfi(\d+)-\d+)-(up|gw|c\d+)$`)

// removeStaleLabs removes the labs of earlier test processes that died
// without cleaning up (killed by a timeout, say).
func removeStaleLabs() {
	entries, _ := os.ReadDir("/run/netns")
	done := map[string]bool{}
	for _, e := range entries {
		m := staleLab.FindStringSubmatch(e.Name())
		if m == nil || done[m[1]] {
			continue
		}
		if _, err := os.Stat("/proc/" + m[2]); err == nil {
			continue // its process still runs
		}
		done[m[1]] = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := lab.Remove(ctx, m[1]); err != nil {
			fmt.Fprintf(os.Stderr, "integration: removing a stale lab: %v\n", err)
		}
		cancel()
	}
}
