package jobexec

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/pipeline"
)

// ProgressBar shows a transcode's progress (TranscodeConfig.Progress): on a
// terminal a bar redrawn at most five times a second (percent, fps, speed,
// ETA), otherwise a log line at every tenth of the way. Its methods are
// safe for concurrent use.
type ProgressBar struct {
	mu        sync.Mutex
	out       io.Writer
	tty       bool
	log       *zap.Logger
	start     time.Time
	lastDraw  time.Time
	lastTenth int
	drawn     bool
}

// NewProgressBar returns a bar drawn on out when tty is true (out is a
// terminal), else logged to log; its clock starts now.
func NewProgressBar(out io.Writer, tty bool, log *zap.Logger) *ProgressBar {
	return &ProgressBar{out: out, tty: tty, log: log, start: time.Now(), lastTenth: -1}
}

// Update shows pr.
func (p *ProgressBar) Update(pr pipeline.Progress) {
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

// Finish ends the bar's line on a terminal once it was drawn.
func (p *ProgressBar) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.out)
	}
}
