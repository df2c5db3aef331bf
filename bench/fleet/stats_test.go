package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 95, 7 * time.Millisecond},
		{ms(30, 10, 20), 50, 20 * time.Millisecond},
		{ms(10, 20, 30, 40), 50, 25 * time.Millisecond},
		{ms(10, 20, 30, 40), 0, 10 * time.Millisecond},
		{ms(10, 20, 30, 40), 100, 40 * time.Millisecond},
		// rank 0.95*19 = 18.05 between 190 and 200 ms
		{ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200), 95, 190500 * time.Microsecond},
		{ms(1, 2), 150, 2 * time.Millisecond}, // clamped
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
	in := ms(3, 1, 2)
	percentile(in, 50)
	if in[0] != 3*time.Millisecond {
		t.Error("percentile sorted its input in place")
	}
}

func TestOverheadPct(t *testing.T) {
	for _, tc := range []struct {
		fleet, direct time.Duration
		want          float64
	}{
		{105 * time.Second, 100 * time.Second, 5},
		{100 * time.Second, 100 * time.Second, 0},
		{90 * time.Second, 100 * time.Second, -10},
		{150 * time.Second, 100 * time.Second, 50},
		{time.Second, 0, 0},
	} {
		if got := overheadPct(tc.fleet, tc.direct); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("overheadPct(%v, %v) = %v, want %v", tc.fleet, tc.direct, got, tc.want)
		}
	}
}

func TestPickupsAndSpan(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// Three jobs sent at 0, 1, 2 ms to a one-slot worker, given out of order.
	jobs := []jobTiming{
		{sent: at(2), started: at(2080), finished: at(3000)}, // waited behind job 2: pickup 80 ms
		{sent: at(0), started: at(30), finished: at(1000)},   // first: pickup 30 ms after its send
		{sent: at(1), started: at(1050), finished: at(2000)}, // pickup 50 ms after job 1 finished
	}
	got := pickups(jobs)
	want := []time.Duration{30 * time.Millisecond, 50 * time.Millisecond, 80 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pickups = %v, want %v", got, want)
			break
		}
	}
	// A job sent after the slot went idle counts from its send.
	late := []jobTiming{{sent: at(0), started: at(10), finished: at(100)}, {sent: at(500), started: at(520), finished: at(600)}}
	if got := pickups(late); got[1] != 20*time.Millisecond {
		t.Errorf("late job pickup = %v, want 20ms", got[1])
	}
	if got := span(jobs); got != 3000*time.Millisecond {
		t.Errorf("span = %v, want 3s", got)
	}
	if got := queueWaits(jobs[:1]); got[0] != 2078*time.Millisecond {
		t.Errorf("queueWaits = %v, want [2.078s]", got)
	}
	if span(nil) != 0 || len(pickups(nil)) != 0 {
		t.Error("empty input should give zeros")
	}
}

func TestMetricValue(t *testing.T) {
	text := `# HELP hlsfleet_jobs_total Jobs.
# TYPE hlsfleet_jobs_total counter
hlsfleet_jobs_total{outcome="failed"} 0
hlsfleet_jobs_total{outcome="published"} 17
hlsfleet_receive_latency_seconds_sum 12.5
hlsfleet_receive_latency_seconds_count 20
`
	if v, ok := metricValue(text, `hlsfleet_jobs_total{outcome="published"}`); !ok || v != 17 {
		t.Errorf("published = %v, %v", v, ok)
	}
	if v, ok := metricValue(text, "hlsfleet_receive_latency_seconds_count"); !ok || v != 20 {
		t.Errorf("count = %v, %v", v, ok)
	}
	if _, ok := metricValue(text, "hlsfleet_receive_latency_seconds"); ok {
		t.Error("a prefix of another name matched")
	}
}

func TestVerdict(t *testing.T) {
	if verdict(true) != "PASS" || verdict(false) != "MISS" {
		t.Error("verdict")
	}
}
