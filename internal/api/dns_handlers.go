package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A DNSLog is the resolver's bounded query log.
type DNSLog interface {
	// Queries returns the most recent queries, oldest first.
	Queries() []curfew.DNSQuery
	// Clients returns each client's query counts.
	Clients() []curfew.DNSClient
}

// DNSQuery is the wire form of curfew.DNSQuery.
type DNSQuery struct {
	At         time.Time `json:"at"`
	Client     string    `json:"client"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Result     string    `json:"result"`
	Rcode      string    `json:"rcode"`
	DurationMS float64   `json:"duration_ms"`
}

// DNSClient is the wire form of curfew.DNSClient.
type DNSClient struct {
	Client  string    `json:"client"`
	Queries uint64    `json:"queries"`
	Refused uint64    `json:"refused"`
	Last    time.Time `json:"last"`
}

// DNSLogResponse answers GET /api/v1/dns/queries.
type DNSLogResponse struct {
	Queries []DNSQuery  `json:"queries"`
	Clients []DNSClient `json:"clients"`
}

// listDNSQueries serves GET /api/v1/dns/queries.
func (h *handler) listDNSQueries(w http.ResponseWriter, r *http.Request) {
	if h.dns == nil {
		h.error(w, r, fmt.Errorf("%w: this daemon runs no resolver", curfew.ErrNotFound))
		return
	}
	out := DNSLogResponse{Queries: []DNSQuery{}, Clients: []DNSClient{}}
	for _, q := range h.dns.Queries() {
		out.Queries = append(out.Queries, DNSQuery{
			At: q.At.UTC(), Client: q.Client.String(), Name: q.Name, Type: q.Type,
			Result: q.Result, Rcode: q.Rcode, DurationMS: float64(q.Duration.Microseconds()) / 1000,
		})
	}
	for _, c := range h.dns.Clients() {
		out.Clients = append(out.Clients, DNSClient{Client: c.Client.String(), Queries: c.Queries, Refused: c.Refused, Last: c.Last.UTC()})
	}
	h.write(w, r, http.StatusOK, out)
}

// DNSLog returns the resolver's query log and per-client counts.
func (c *Client) DNSLog(ctx context.Context) (*DNSLogResponse, error) {
	var out DNSLogResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/dns/queries", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
