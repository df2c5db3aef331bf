package jobexec

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hlsfleet/hlsfleet/pipeline"
)

// On a terminal: a bar, redrawn at most every 200 ms, and a newline at the
// end; nothing logged.
func TestProgressBarTerminal(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var out bytes.Buffer
	p := NewProgressBar(&out, true, zap.New(core))
	p.Finish()
	if out.Len() != 0 {
		t.Fatalf("Finish before any draw wrote %q", out.String())
	}
	p.Update(pipeline.Progress{Seconds: 5, Duration: 10, Frames: 150})
	p.Update(pipeline.Progress{Seconds: 6, Duration: 10, Frames: 180}) // within 200 ms: not drawn
	p.Finish()
	got := out.String()
	want := "\r[" + strings.Repeat("#", 15) + strings.Repeat(".", 15) + "]  50.0%"
	if !strings.HasPrefix(got, want) || strings.Count(got, "\r") != 1 || !strings.HasSuffix(got, " \n") {
		t.Errorf("terminal output %q, want one bar starting %q and a newline", got, want)
	}
	if logs.Len() != 0 {
		t.Errorf("%d log entries on a terminal", logs.Len())
	}
}

// Elsewhere: one log line per tenth reached, nothing written.
func TestProgressBarLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var out bytes.Buffer
	p := NewProgressBar(&out, false, zap.New(core))
	for _, s := range []float64{0.5, 1.5, 1.6, 4.2, 10, 12} {
		p.Update(pipeline.Progress{Seconds: s, Duration: 10})
	}
	p.Finish()
	var pcts []float64
	for _, e := range logs.FilterMessage("progress").All() {
		pcts = append(pcts, e.ContextMap()["percent"].(float64))
	}
	if want := []float64{0, 10, 40, 100}; !slices.Equal(pcts, want) {
		t.Errorf("logged percents %v, want %v", pcts, want)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q off a terminal", out.String())
	}
}
