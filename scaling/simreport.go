package scaling

import (
	"fmt"
	"io"
	"time"
)

// WriteSimulation prints a simulation of policy p: the policy, a table of
// the samples and the summary, as `hlsfleet scale --simulate` shows them.
func WriteSimulation(w io.Writer, p Policy, samples []Sample, sum Summary) {
	target := max(p.Latency.Seconds()/p.SecondsPerJob, 1)
	fmt.Fprintf(w, "policy: target tracking on backlog per instance, target %.2f (latency %s / %gs per job), min %d, max %d, warm-up %s, scale-in cooldown %s",
		target, p.Latency, p.SecondsPerJob, p.Min, p.Max, p.Warmup, p.ScaleInCooldown)
	if p.InterruptEvery > 0 {
		fmt.Fprintf(w, ", a spot interruption every %s", p.InterruptEvery)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%8s %9s %7s %7s %9s %9s %7s %7s\n", "time", "arrivals", "queued", "running", "oldest", "inservice", "pending", "desired")
	for _, s := range samples {
		fmt.Fprintf(w, "%8s %9.1f %7d %7d %9s %9d %7d %7d\n", clock(s.T), s.Rate, s.Queued, s.Running, s.OldestAge.Round(time.Second),
			s.InService, s.Pending, s.Desired)
	}
	fmt.Fprintf(w, "jobs: %d arrived, %d done; wait: max %s, p95 %s, %d over %s; instances: max %d, %.1f instance-hours",
		sum.Arrived, sum.Done, sum.MaxAge.Round(time.Second), sum.P95Wait.Round(time.Second), sum.OverLatency, p.Latency,
		sum.MaxInService, sum.InstanceHours)
	if sum.Interruptions > 0 {
		fmt.Fprintf(w, "; %d interruptions, %d jobs released", sum.Interruptions, sum.ReleasedOnNotice)
	}
	fmt.Fprintln(w)
}

// clock formats d as H:MM.
func clock(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%d:%02d", m/60, m%60)
}
