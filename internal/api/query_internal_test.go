package api

import (
	"errors"
	"net/url"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

// FuzzSearchQuery feeds the query strings of GET /api/v1/devices/search
// and /api/v1/persons/search to their readers: whatever a client sends, a
// query is refused as bad input, or it is one the store may run, a page of
// 1 to MaxPageSize rows from a non-negative offset.
func FuzzSearchQuery(f *testing.F) {
	for _, seed := range []string{
		"", "q=alice", "q=02:00:00:00:1E:61&limit=1", "owner=alice&offset=100&limit=100",
		"limit=0", "limit=1001", "offset=-1", "offset=9223372036854775808", "limit=1e3", "sort=name",
		"q=%00", "q=%ff%fe", "q=" + string(make([]byte, 300)), "owner=no%20one", "q=a&q=b", "%zz",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // the mux never gets this far
		}
		dq, err := deviceQuery(v)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("deviceQuery(%q) error %v does not wrap ErrInvalid", raw, err)
			}
		} else if dq.Limit < 1 || dq.Limit > curfew.MaxPageSize || dq.Offset < 0 || dq.Validate() != nil {
			t.Errorf("deviceQuery(%q) accepted %+v", raw, dq)
		}
		pq, err := personQuery(v)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("personQuery(%q) error %v does not wrap ErrInvalid", raw, err)
			}
		} else if pq.Limit < 1 || pq.Limit > curfew.MaxPageSize || pq.Offset < 0 {
			t.Errorf("personQuery(%q) accepted %+v", raw, pq)
		}
	})
}
