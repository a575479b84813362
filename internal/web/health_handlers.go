package web

import (
	"net/http"
	"time"
)

// healthData is what the Health page shows.
type healthData struct {
	*Health
	Uptime time.Duration
	Known  bool // the daemon told the console about itself
}

func (con *Console) healthPage(w http.ResponseWriter, r *http.Request, p *page) {
	d := healthData{Health: &Health{}}
	if con.health != nil {
		if h := con.health(r.Context()); h != nil {
			d.Health, d.Known = h, true
		}
	}
	if !d.Started.IsZero() {
		d.Uptime = p.now.Sub(d.Started)
	}
	con.render(w, r, http.StatusOK, "health", con.newView(p, "Health", "health", d))
}
