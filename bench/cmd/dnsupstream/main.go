// Command dnsupstream is the resolver benchmark's upstream: a DNS server on
// a loopback address that answers every A question with an address derived
// from the name and every other question with no records, all with a long
// TTL, so that resolvers under test cache what they forward.
//
//	dnsupstream -listen 127.0.0.1:5399
package main

import (
	"flag"
	"hash/fnv"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/miekg/dns"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5399", "UDP and TCP address to serve")
	ttl := flag.Uint("ttl", 3600, "TTL of every answer")
	flag.Parse()

	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeA {
			f := fnv.New32a()
			f.Write([]byte(req.Question[0].Name))
			s := f.Sum32()
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: uint32(*ttl)},
				A:   net.IPv4(198, 18, byte(s>>8), byte(s)),
			}}
		}
		if o := req.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), false)
		}
		_ = w.WriteMsg(m)
	})
	errs := make(chan error, 2)
	for _, network := range []string{"udp", "tcp"} {
		s := &dns.Server{Addr: *listen, Net: network, Handler: h}
		go func() { errs <- s.ListenAndServe() }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errs:
		log.Fatal(err)
	case <-sig:
	}
}
