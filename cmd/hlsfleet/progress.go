package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/pipeline"
)

// progress draws a bar on a terminal (percent, fps, speed, ETA) and logs a
// plain line every 10% otherwise.
type progress struct {
	mu        sync.Mutex
	out       *os.File
	tty       bool
	log       *zap.Logger
	start     time.Time
	lastDraw  time.Time
	lastTenth int
	drawn     bool
}

func newProgress(out *os.File, log *zap.Logger) *progress {
	return &progress{out: out, tty: isTerminal(out), log: log, start: time.Now(), lastTenth: -1}
}

func (p *progress) update(pr pipeline.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	elapsed := now.Sub(p.start).Seconds()
	pct := 0.0
	if pr.Duration > 0 {
		pct = min(100, 100*pr.Seconds/pr.Duration)
	}
	fps, speed := 0.0, 0.0
	if elapsed > 0 {
		fps = float64(pr.Frames) / elapsed
		speed = pr.Seconds / elapsed
	}
	eta := time.Duration(0)
	if speed > 0 && pr.Duration > pr.Seconds {
		eta = time.Duration((pr.Duration - pr.Seconds) / speed * float64(time.Second))
	}
	if p.tty {
		if now.Sub(p.lastDraw) < 200*time.Millisecond {
			return
		}
		p.lastDraw = now
		const width = 30
		n := int(pct / 100 * width)
		fmt.Fprintf(p.out, "\r[%s%s] %5.1f%%  %6.1f fps  %5.2fx  ETA %s ", strings.Repeat("#", n), strings.Repeat(".", width-n), pct, fps, speed, eta.Round(time.Second))
		p.drawn = true
		return
	}
	if tenth := int(pct / 10); tenth > p.lastTenth {
		p.lastTenth = tenth
		p.log.Info("progress", zap.Float64("percent", float64(tenth*10)), zap.Float64("fps", fps),
			zap.Float64("speed", speed), zap.Duration("eta", eta.Round(time.Second)))
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.out)
	}
}
