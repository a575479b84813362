package main

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/config"
)

// TestSetMemoryLimit: the daemon's soft memory limit is memory_limit when
// the file sets it, else the default for dns.cache_size, and GOMEMLIMIT
// from the environment holds only when the file sets none.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const (
		base      = "lan:\n  interfaces: [br-lan]\n  address: 192.168.50.1\nwan:\n  interfaces: [eth0]\n"
		fromEnv   = 50 << 20 // what the runtime took from GOMEMLIMIT=50MiB at start
		unlimited = math.MaxInt64
	)
	tests := []struct {
		name, file, env string
		want            int64
	}{
		{"default", base, "", 88 << 20},
		{"follows the cache", base + "dns:\n  cache_size: 100MiB\n", "", 224 << 20},
		{"set", base + "memory_limit: 300MiB\n", "", 300 << 20},
		{"set beats the environment", base + "memory_limit: 300MiB\n", "50MiB", 300 << 20},
		{"the environment, with none set", base, "50MiB", fromEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("GOMEMLIMIT", tt.env)
			// The runtime reads GOMEMLIMIT once, at start: stand in for it.
			if tt.env != "" {
				debug.SetMemoryLimit(fromEnv)
			} else {
				debug.SetMemoryLimit(unlimited)
			}
			got := setMemoryLimit(cfg)
			if runtime := debug.SetMemoryLimit(-1); got != tt.want || runtime != tt.want {
				t.Errorf("setMemoryLimit = %d (runtime %d), want %d", got, runtime, tt.want)
			}
		})
	}
}
