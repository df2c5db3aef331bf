package scaling

import (
	"strings"
	"testing"
	"time"
)

func TestWriteSimulation(t *testing.T) {
	p := Policy{SecondsPerJob: 20, Latency: 5 * time.Minute, Min: 1, Max: 120, Warmup: 3 * time.Minute,
		ScaleInCooldown: 5 * time.Minute, InterruptEvery: 7 * time.Minute}
	samples := []Sample{{T: 70 * time.Minute, Rate: 250, Queued: 12, Running: 40, OldestAge: 61400 * time.Millisecond, InService: 40, Pending: 2, Desired: 42}}
	var b strings.Builder
	WriteSimulation(&b, p, samples, Summary{Arrived: 10, Done: 9, Interruptions: 2, ReleasedOnNotice: 2})
	want := "policy: target tracking on backlog per instance, target 15.00 (latency 5m0s / 20s per job), min 1, max 120, warm-up 3m0s, scale-in cooldown 5m0s, a spot interruption every 7m0s\n" +
		"    time  arrivals  queued running    oldest inservice pending desired\n" +
		"    1:10     250.0      12      40      1m1s        40       2      42\n" +
		"jobs: 10 arrived, 9 done; wait: max 0s, p95 0s, 0 over 5m0s; instances: max 0, 0.0 instance-hours; 2 interruptions, 2 jobs released\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
