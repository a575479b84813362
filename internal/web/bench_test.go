package web_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Sizes of the store BenchmarkPages renders from, besides its devices:
// ten devices per person.
const (
	benchRestrictions = 1000
	benchSeen         = 1000 // unregistered devices seen on the LAN
)

// seed fills f's store through the engine, as operators would: persons,
// benchDevices devices, restrictions on devices, persons and addresses.
func seed(b testing.TB, f *fixture, benchDevices int) {
	b.Helper()
	start := time.Now()
	benchPersons := benchDevices / 10
	for p := range benchPersons {
		if _, err := f.eng.AddPerson(f.admin, fmt.Sprintf("person%04d", p)); err != nil {
			b.Fatal(err)
		}
	}
	// Devices go to the store in one go, with the audit events the engine
	// writes for them, and the engine reads them back: adding 100,000 one
	// by one through the engine takes most of an hour on a busy machine.
	now := time.Now().UTC().Truncate(time.Millisecond)
	for d := range benchDevices {
		mac := net.HardwareAddr{0x02, 0, 0, byte(d >> 16), byte(d >> 8), byte(d)}
		dev := &curfew.Device{MAC: mac, Name: fmt.Sprintf("device %d", d), Owner: fmt.Sprintf("person%04d", d%benchPersons), Created: now}
		ev := &audit.Event{At: now, Kind: audit.Kind(curfew.ActionDevice), Actor: "root", Subject: audit.DeviceSubject(dev), After: audit.DeviceFields(dev)}
		if err := f.db.CreateDevice(f.admin, dev, ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.eng.Reconcile(f.admin); err != nil {
		b.Fatal(err)
	}
	for r := range benchRestrictions {
		req := curfew.RestrictRequest{Reason: fmt.Sprintf("benchmark %d", r), Notice: "Back soon.", For: time.Duration(1+r%72) * time.Hour}
		switch r % 10 {
		case 0:
			req.Subject = fmt.Sprintf("ip:198.51.%d.%d", r/250, r%250+1)
		case 1, 2, 3:
			req.Subject = fmt.Sprintf("person:person%04d", r)
		default:
			req.Subject = fmt.Sprintf("device:02:00:00:00:%02x:%02x", byte(r>>8), byte(r))
		}
		if _, err := f.eng.Restrict(f.admin, req); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d persons, %d devices, %d restrictions in %v", benchPersons, benchDevices, benchRestrictions, time.Since(start).Round(time.Millisecond))
}

// cpuTime returns the CPU time the process has used, user and system:
// on a loaded machine it says what a page costs better than the time it
// took. It counts the benchmark's client too, so it is an upper bound.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPages renders every page of the console, server-side, from a
// SQLite store holding 1,000 restrictions and 10,000 or 100,000 devices:
// one operation is one GET of the page, signed in, over loopback. Besides
// the time per page it reports the CPU time per page (cpu-ms/op).
func BenchmarkPages(b *testing.B) {
	for _, devices := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) { benchPages(b, devices) })
	}
}

func benchPages(b *testing.B, devices int) {
	f := newFixture(b)
	seed(b, f, devices)
	var sightings []curfew.Sighting
	for d := range benchSeen {
		sightings = append(sightings, curfew.Sighting{MAC: net.HardwareAddr{0x06, 1, 0, 0, byte(d >> 8), byte(d)}, At: time.Now(), Hostname: fmt.Sprintf("host-%d", d)})
	}
	if _, err := f.db.RecordSeen(f.admin, sightings, curfew.SeenLimits{MaxUnregistered: curfew.DefaultMaxUnregistered, MaxAge: curfew.DefaultSeenMaxAge}, time.Now()); err != nil {
		b.Fatal(err)
	}
	br := f.browser(b)
	br.signIn("ada", f.operator(b, "ada", curfew.RoleAdmin), password)
	for _, path := range []string{"/", "/restrict", "/restrict?find=device+4242", "/people", "/people?q=person0042", "/seen", "/accountability", "/report", "/health"} {
		b.Run(url.PathEscape(path), func(b *testing.B) {
			if a := br.get(path); a.status == http.StatusNotFound {
				b.Skipf("GET %s: not served by this build", path)
			}
			cpu := cpuTime(b)
			for b.Loop() {
				if a := br.get(path); a.status != http.StatusOK {
					b.Fatalf("GET %s = %d", path, a.status)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
