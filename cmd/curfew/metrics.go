package main

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/resolver"
)

// metrics implements engine.Metrics with Prometheus collectors on their own
// registry.
type metrics struct {
	registry     *prometheus.Registry
	last         atomic.Pointer[curfew.Snapshot] // the last snapshot applied, read at scrape time
	targets      *prometheus.GaugeVec
	applySeconds prometheus.Histogram
	applyErrors  prometheus.Counter
	repairs      prometheus.Counter
	expired      prometheus.Counter

	dnsQueries  *prometheus.CounterVec
	dnsUpstream *prometheus.HistogramVec
	dnsErrors   *prometheus.CounterVec

	upstreams *upstreamLog // the last exchange with each upstream, for the console; nil: not kept
}

var _ engine.Metrics = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "curfew_restricted_targets",
			Help: "Devices (by MAC) and routed prefixes restricted at the last reconcile.",
		}, []string{"kind"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "curfew_apply_duration_seconds",
			Help:    "Time to apply a snapshot to every enforcer (kernel batch and conntrack flush included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "curfew_apply_errors_total",
			Help: "Applies of a snapshot that failed and were retried.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "curfew_drift_repairs_total",
			Help: "Kernel objects repaired because they differed from what curfew installed.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "curfew_restrictions_expired_total",
			Help: "Restrictions recorded as expired at their end.",
		}),
	}
	m.dnsQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "curfew_dns_queries_total",
		Help: "DNS queries answered, by how: forwarded, cached, restricted, blocked, canary, failed, invalid, dropped, stale.",
	}, []string{"result"})
	m.dnsUpstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "curfew_dns_upstream_duration_seconds",
		Help:    "Time of exchanges with upstream resolvers.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
	}, []string{"upstream"})
	m.dnsErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "curfew_dns_upstream_errors_total",
		Help: "Exchanges with upstream resolvers that failed (timeout, network error, bad answer).",
	}, []string{"upstream"})
	m.registry.MustRegister(m.dnsQueries, m.dnsUpstream, m.dnsErrors)
	// Counting distinct restrictions walks every restricted device, so it
	// is done when Prometheus scrapes, not on every apply.
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "curfew_active_restrictions",
		Help: "Restrictions in force at the last reconcile.",
	}, m.activeRestrictions)
	m.registry.MustRegister(active, m.targets, m.applySeconds, m.applyErrors, m.repairs, m.expired,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Applied implements [engine.Metrics].
func (m *metrics) Applied(s *curfew.Snapshot, took time.Duration, err error) {
	m.applySeconds.Observe(took.Seconds())
	if err != nil {
		m.applyErrors.Inc()
		return
	}
	m.last.Store(s)
	m.targets.WithLabelValues("device").Set(float64(len(s.Devices)))
	m.targets.WithLabelValues("prefix").Set(float64(len(s.Prefixes)))
}

// activeRestrictions counts the distinct restrictions of the last snapshot.
func (m *metrics) activeRestrictions() float64 {
	s := m.last.Load()
	if s == nil {
		return 0
	}
	ids := map[curfew.RestrictionID]bool{}
	for _, d := range s.Devices {
		for _, id := range d.Restrictions {
			ids[id] = true
		}
	}
	for _, p := range s.Prefixes {
		for _, id := range p.Restrictions {
			ids[id] = true
		}
	}
	return float64(len(ids))
}

// Repaired implements [engine.Metrics].
func (m *metrics) Repaired(n int) { m.repairs.Add(float64(n)) }

// Expired implements [engine.Metrics].
func (m *metrics) Expired() { m.expired.Inc() }

// resolverMetrics implements resolver.Metrics. The per-result counters are
// looked up once: Query is on every query's path.
type resolverMetrics struct {
	m       *metrics
	results []prometheus.Counter // by resolver.Result
}

var _ resolver.Metrics = resolverMetrics{}

func (m *metrics) resolver() resolverMetrics {
	r := resolverMetrics{m: m}
	for res := resolver.ResultForwarded; res <= resolver.ResultStale; res++ {
		r.results = append(r.results, m.dnsQueries.WithLabelValues(res.String()))
	}
	return r
}

// Query implements [resolver.Metrics].
func (r resolverMetrics) Query(res resolver.Result) {
	if int(res) < len(r.results) {
		r.results[res].Inc()
	}
}

// Upstream implements [resolver.Metrics].
func (r resolverMetrics) Upstream(server netip.AddrPort, d time.Duration, err error) {
	r.m.dnsUpstream.WithLabelValues(server.String()).Observe(d.Seconds())
	if r.m.upstreams != nil {
		r.m.upstreams.seen(server, d, err)
	}
	if err != nil {
		r.m.dnsErrors.WithLabelValues(server.String()).Inc()
	}
}
