package access

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

var t0 = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)

// addr returns the i-th of many IPv4 addresses.
func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestGuardMemoryIsBounded floods the guard from many more sources than
// it tracks: it never holds more than Sources of them, the sources beyond
// share one allowance (so a flood from many addresses is limited too),
// and idle sources are dropped once their allowance is whole again.
func TestGuardMemoryIsBounded(t *testing.T) {
	g := newGuard(Limit{Failures: 10, Every: 6 * time.Second, Sources: 100})
	now := t0
	reports := 0
	for i := range 10_000 {
		reports += len(g.fail(addr(i), now, "unknown token"))
		if n := g.size(); n > 100 {
			t.Fatalf("after %d sources the guard tracks %d, want at most 100", i+1, n)
		}
	}
	// 100 tracked sources reported their first failure at once; the
	// shared allowance one more.
	if reports != 101 {
		t.Errorf("%d reports during the flood, want 101: one per tracked source and one for the rest", reports)
	}
	if _, err := g.admit(addr(20_000), now); !errors.Is(err, curfew.ErrRateLimited) {
		t.Errorf("a new source while the shared allowance is spent = %v, want ErrRateLimited", err)
	}
	if _, err := g.admit(addr(5), now); err != nil {
		t.Errorf("a tracked source with one failure = %v, want it admitted", err)
	}
	due := g.due(now, true)
	if len(due) != 1 || due[0].source != otherSources || due[0].reasons["unknown token"] != 10_000-100-1 || due[0].refused != 1 {
		t.Errorf("due reports = %+v, want one for the other sources counting %d failures and 1 refusal", due, 10_000-101)
	}

	now = now.Add(time.Minute)
	if _, err := g.admit(addr(20_000), now); err != nil {
		t.Errorf("a new source a minute later = %v, want it admitted", err)
	}
	if n := g.size(); n != 0 {
		t.Errorf("a minute after the flood the guard tracks %d sources, want 0", n)
	}
}

// TestGuardBucket checks the token bucket of one source against its
// definition: Failures in a row, then one more every Every.
func TestGuardBucket(t *testing.T) {
	g := newGuard(Limit{Failures: 3, Every: 10 * time.Second})
	src := netip.MustParseAddr("192.0.2.1")
	now := t0
	admitted := func() bool {
		_, err := g.admit(src, now)
		var le *curfew.LimitError
		if err != nil && !errors.As(err, &le) {
			t.Fatalf("admit = %v", err)
		}
		return err == nil
	}
	for i := range 3 {
		if !admitted() {
			t.Fatalf("failure %d refused, want 3 in a row", i+1)
		}
		g.fail(src, now, "x")
	}
	if admitted() {
		t.Fatal("a fourth attempt admitted")
	}
	for _, step := range []struct {
		after time.Duration
		want  bool
	}{{9 * time.Second, false}, {time.Second, true}} {
		now = now.Add(step.after)
		if got := admitted(); got != step.want {
			t.Errorf("%v later: admitted = %v, want %v", step.after, got, step.want)
		}
	}
	g.fail(src, now, "x")
	if admitted() {
		t.Error("admitted right after the failure that used the regained allowance")
	}
	now = now.Add(30 * time.Second)
	for i := range 3 {
		if !admitted() {
			t.Fatalf("after 30s: attempt %d refused, want the whole allowance back", i+1)
		}
		g.fail(src, now, "x")
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":              "192.0.2.7",
		"::ffff:192.0.2.7":       "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"fe80::1%eth0":           "fe80::/64",
		"2001:db8:1:3::1":        "2001:db8:1:3::/64",
		"::1":                    "::/64",
		"2001:db8:ffff:ffff::ff": "2001:db8:ffff:ffff::/64",
	} {
		if got := sourceKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("sourceKey(%s) = %q, want %q", in, got, want)
		}
	}
	if got := sourceKey(netip.Addr{}); got != "unknown address" {
		t.Errorf("sourceKey(zero) = %q", got)
	}
}

func TestPHCRefusesWhatItDidNotMake(t *testing.T) {
	good, err := hashPassword(Argon2Params{Time: 1, Memory: 64, Threads: 1}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := checkPassword(good, "pw"); !ok || err != nil {
		t.Fatalf("checkPassword(own hash) = %v, %v", ok, err)
	}
	for _, bad := range []string{
		"",
		"pw",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5",
	} {
		if _, err := checkPassword(bad, "pw"); err == nil {
			t.Errorf("checkPassword(%q) accepted it", bad)
		}
	}
}
