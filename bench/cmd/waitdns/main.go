// Command waitdns waits until a DNS server answers a name with an expected
// address and prints how many seconds have passed since a given instant:
// the benchmark's measure of how long a resolver takes to load its
// blocklist and start answering from it.
//
//	waitdns -server 127.0.0.1:5301 -name some.blocked.name -want 0.0.0.0 -since "$(date +%s.%N)"
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("server", "127.0.0.1:53", "server address")
	name := flag.String("name", "", "name to ask for (A)")
	want := flag.String("want", "0.0.0.0", "address the answer must hold")
	since := flag.String("since", "", "Unix time, in seconds with a fraction, to measure from (default: now)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()

	start := time.Now()
	if *since != "" {
		f, err := strconv.ParseFloat(*since, 64)
		if err != nil {
			log.Fatalf("parsing -since %q: %v", *since, err)
		}
		start = time.Unix(0, int64(f*1e9))
	}
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(*name), dns.TypeA)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		if m, _, err := c.Exchange(q, *server); err == nil {
			for _, rr := range m.Answer {
				if a, ok := rr.(*dns.A); ok && a.A.String() == *want {
					fmt.Printf("%.3f\n", time.Since(start).Seconds())
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "waitdns: %s did not answer %s with %s within %s\n", *server, *name, *want, *timeout)
	os.Exit(1)
}
