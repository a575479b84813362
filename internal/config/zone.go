package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Location is the gateway's time zone: the file's timezone, else the
// machine's own (see LocalZone). Local days (a DATE such as 2026-12-02),
// clock times (--until 18:00), schedules' windows and the notice page are
// read and shown in it. It is never nil.
func (c *Config) Location() *time.Location {
	if c == nil || c.TimeZone == nil {
		return LocalZone()
	}
	return c.TimeZone
}

// LoadZone returns the zone of an IANA name such as Europe/Madrid or UTC.
// It refuses file paths and "Local", so that a name in a file means the
// same zone on every machine that reads it.
func LoadZone(name string) (*time.Location, error) {
	switch {
	case name == "":
		return nil, errors.New("empty")
	case len(name) > 64, name == "Local", strings.HasPrefix(name, "/"), strings.Contains(name, ".."),
		strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return nil, errors.New("not a time zone name")
	}
	if slices.Contains(utcNames, name) {
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}

// utcNames are the tz database's other names of UTC, which LoadZone
// reads as UTC itself, so that a gateway set to Etc/UTC shows times in
// UTC alone rather than beside themselves.
var utcNames = []string{"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"}

// LocalZone returns the machine's own zone, by its IANA name where the
// machine tells it: TZ if set (empty TZ is UTC, as for every program),
// else the zone /etc/localtime links to, else /etc/timezone (Debian's),
// else time.Local.
func LocalZone() *time.Location {
	if tz, ok := os.LookupEnv("TZ"); ok {
		if tz == "" {
			return time.UTC
		}
		if loc, err := LoadZone(strings.TrimPrefix(tz, ":")); err == nil {
			return loc
		}
		return time.Local
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			if loc, err := LoadZone(name); err == nil {
				return loc
			}
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if loc, err := LoadZone(strings.TrimSpace(string(b))); err == nil {
			return loc
		}
	}
	return time.Local
}
