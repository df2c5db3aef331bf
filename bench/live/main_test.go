package main

import (
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {95, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestReportVerdicts(t *testing.T) {
	cli := []sample{{wall: 1.1, latency: 1.2}, {wall: 1.0, latency: 1.1}}
	fast := []sample{{wall: 0.6, latency: 0.7}, {wall: 0.5, latency: 0.6}}
	lines := strings.Join(report(cli, fast, 2), "\n")
	if strings.Count(lines, "PASS") != 2 || !strings.Contains(lines, "ratio p50 0.500") {
		t.Fatalf("report:\n%s", lines)
	}
	slow := []sample{{wall: 1.5, latency: 2.5}, {wall: 1.4, latency: 1.5}}
	if lines := strings.Join(report(cli, slow, 2), "\n"); strings.Count(lines, "MISS") != 2 {
		t.Fatalf("report:\n%s", lines)
	}
}

// The baseline encodes the same rungs with the same rate control as the
// "live" preset, keeps the source timestamps and copies the audio.
func TestBaselineArgs(t *testing.T) {
	rs, l, err := liveRungs()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].height != 720 || rs[1].width != 854 || rs[2].height != 360 {
		t.Fatalf("rungs %+v", rs)
	}
	args := strings.Join(baselineArgs(rs, l, "in.ts", "out", "3.ts"), " ")
	for _, want := range []string{"-copyts", "-preset veryfast", "-b:v 3000000", "-maxrate 1284000", "-bufsize 1050000",
		"-g 60", "-c:a copy", "out/480p/3.ts", "scale=640:360"} {
		if !strings.Contains(args, want) {
			t.Errorf("baseline args lack %q:\n%s", want, args)
		}
	}
}

// A worker that keeps up has latency = its own time; one that falls behind
// carries the backlog into the next segments.
func TestSchedule(t *testing.T) {
	ss := []sample{{wall: 1}, {wall: 3}, {wall: 1}, {wall: 0.5}}
	schedule(ss, 2)
	want := []float64{1, 3, 2, 0.5} // 2→3; 4→7; 7→8 (avail 6); 8.5 (avail 8)
	for i, s := range ss {
		if s.latency != want[i] {
			t.Errorf("segment %d latency %v, want %v", i, s.latency, want[i])
		}
	}
}
