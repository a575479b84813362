package curfew

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A Rate is a throttle's limit on a subject's traffic, in bits per second,
// in each direction. Zero is no limit.
type Rate int64

// The bounds of a throttle's rate: below MinRate not even a notice page
// loads; MaxRate is far above any LAN link.
const (
	MinRate Rate = 8_000             // 8kbit, 1 kbyte/s
	MaxRate Rate = 1_000_000_000_000 // 1000gbit
)

// rateUnits are the units ParseRate takes, in bits per second. The
// prefixes are decimal, as tc's are: 1kbit is 1000 bit/s, 1mbyte is
// 8,000,000 bit/s.
var rateUnits = []struct {
	name string
	bits int64
}{
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"gbyte", 8e9}, {"mbyte", 8e6}, {"kbyte", 8e3}, {"byte", 8},
}

// ParseRate parses a throttle's rate: a whole number and a unit, such as
// 512kbit, 2mbit or 1mbyte. The units are bit, kbit, mbit, gbit, byte,
// kbyte, mbyte and gbyte, in any case; the prefixes are decimal. The rate
// must lie between MinRate and MaxRate.
func ParseRate(s string) (Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	digits := len(t) - len(strings.TrimLeft(t, "0123456789"))
	num, unit := t[:digits], t[digits:]
	if num == "" {
		return 0, fmt.Errorf("%w: rate %q: want a whole number and a unit, such as 512kbit, 2mbit or 1mbyte", ErrInvalid, s)
	}
	if unit == "" {
		return 0, fmt.Errorf("%w: rate %q has no unit: add bit, kbit, mbit, gbit, byte, kbyte, mbyte or gbyte", ErrInvalid, s)
	}
	var per int64
	for _, u := range rateUnits {
		if unit == u.name {
			per = u.bits
		}
	}
	if per == 0 {
		return 0, fmt.Errorf("%w: rate %q: unknown unit %q: want bit, kbit, mbit, gbit, byte, kbyte, mbyte or gbyte", ErrInvalid, s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/per || Rate(n*per) > MaxRate {
		return 0, fmt.Errorf("%w: rate %q is more than the maximum of %s", ErrInvalid, s, MaxRate)
	}
	r := Rate(n * per)
	if r == 0 {
		return 0, fmt.Errorf("%w: rate %q is zero: a throttle needs a rate (to cut access, use mode cutoff)", ErrInvalid, s)
	}
	if r < MinRate {
		return 0, fmt.Errorf("%w: rate %q is less than the minimum of %s", ErrInvalid, s, MinRate)
	}
	return r, nil
}

// String renders r in the largest bit unit that divides it, as ParseRate
// reads it back: 2mbit, 512kbit, 1500bit. Zero is "none".
func (r Rate) String() string {
	if r == 0 {
		return "none"
	}
	for _, u := range rateUnits[:4] {
		if int64(r)%u.bits == 0 {
			return strconv.FormatInt(int64(r)/u.bits, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(r), 10) + "bit"
}

// check reports a rate outside MinRate and MaxRate.
func (r Rate) check() error {
	if r < MinRate || r > MaxRate {
		return fmt.Errorf("%w: rate %d bit/s: want between %s and %s", ErrInvalid, int64(r), MinRate, MaxRate)
	}
	return nil
}
