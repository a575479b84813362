package main

import (
	"context"
	"fmt"
	"log/syslog"
	"sync"

	"github.com/curfew/curfew/internal/config"
)

// syslogPublisher sends every new audit checkpoint to syslog (the
// config's audit.syslog), so that a copy is kept off the gateway. It dials
// at the first checkpoint, and again after a failure, so that a syslog
// daemon that is not up yet never stops curfew.
type syslogPublisher struct {
	network, addr string

	mu sync.Mutex     // guards w
	w  *syslog.Writer // nil until dialled, and after a failed write
}

// checkpointPublisher returns the engine's PublishCheckpoint for cfg, or
// nil if no syslog is configured.
func checkpointPublisher(cfg *config.Config) func(ctx context.Context, checkpoint []byte) error {
	if cfg.Audit.SyslogNetwork == "" {
		return nil
	}
	p := &syslogPublisher{network: cfg.Audit.SyslogNetwork, addr: cfg.Audit.SyslogAddr}
	if p.network == "local" {
		p.network = "" // log/syslog's name for the local daemon's socket
	}
	return p.publish
}

// publish sends one checkpoint's line as a syslog message (facility
// auth, severity notice, tag curfew-audit).
func (p *syslogPublisher) publish(_ context.Context, checkpoint []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		w, err := syslog.Dial(p.network, p.addr, syslog.LOG_AUTH|syslog.LOG_NOTICE, "curfew-audit")
		if err != nil {
			return fmt.Errorf("connecting to syslog: %w", err)
		}
		p.w = w
	}
	if err := p.w.Notice(string(checkpoint)); err != nil {
		p.w.Close()
		p.w = nil
		return fmt.Errorf("sending to syslog: %w", err)
	}
	return nil
}
