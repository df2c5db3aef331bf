package ingest

import (
	"context"
	"testing"
	"time"
)

// A paced push is never faster than real time: the pacer holds media time
// t until t seconds after the start.
func TestPacer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept time.Duration
	p := &pacer{ctx: context.Background(), now: func() time.Time { return now }, sleep: func(_ context.Context, d time.Duration) {
		slept += d
		now = now.Add(d)
	}}
	p.wait(0)
	now = now.Add(300 * time.Millisecond) // decoding took 0.3 s
	p.wait(0.5)
	if slept != 200*time.Millisecond {
		t.Fatalf("slept %v before media 0.5 s, want 200ms", slept)
	}
	now = now.Add(2 * time.Second) // a slow stretch: no sleep until media time is ahead again
	p.wait(1.0)
	if slept != 200*time.Millisecond {
		t.Fatalf("slept %v when behind, want no more sleep", slept)
	}
	p.wait(4.0)
	if want := 200*time.Millisecond + time.Duration(4.0*float64(time.Second)) - 2500*time.Millisecond; slept != want {
		t.Fatalf("slept %v in all, want %v", slept, want)
	}
}
