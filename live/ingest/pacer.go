package ingest

import (
	"context"
	"time"
)

// pacer holds a cut to real time: media time t may be passed on only once
// t seconds have gone by since the first call.
type pacer struct {
	ctx   context.Context
	now   func() time.Time
	sleep func(context.Context, time.Duration)
	t0    time.Time
}

func newPacer(ctx context.Context) *pacer {
	return &pacer{ctx: ctx, now: time.Now, sleep: func(ctx context.Context, d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}}
}

func (p *pacer) wait(media float64) {
	if p.t0.IsZero() {
		p.t0 = p.now().Add(-time.Duration(media * float64(time.Second)))
	}
	if d := p.t0.Add(time.Duration(media * float64(time.Second))).Sub(p.now()); d > 0 {
		p.sleep(p.ctx, d)
	}
}
