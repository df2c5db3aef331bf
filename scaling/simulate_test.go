package scaling

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func spike(t *testing.T) []Rate {
	t.Helper()
	f, err := os.Open("testdata/spike-50k-500k.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rates, err := ReadArrivals(f)
	if err != nil {
		t.Fatal(err)
	}
	return rates
}

// spikePolicy: 20 instance-seconds a job, 5 minutes acceptable (target 15
// jobs per instance), 3 minutes warm-up.
func spikePolicy() Policy {
	return Policy{SecondsPerJob: 20, Latency: 5 * time.Minute, Min: 2, Max: 120, Warmup: 3 * time.Minute,
		ScaleInCooldown: 5 * time.Minute}
}

func TestReadArrivals(t *testing.T) {
	rates := spike(t)
	if len(rates) != 121 || rates[0].PerMinute != 25 || rates[50].PerMinute != 250 || rates[120].PerMinute != 25 {
		t.Fatalf("spike curve read wrong: %d rows, %v %v %v", len(rates), rates[0], rates[50], rates[120])
	}
	for _, bad := range []string{
		"",
		"minute,count\n0,1\n",
		"minute,uploads_per_minute\n0,1\n0,2\n",
		"minute,uploads_per_minute\n0,-1\n",
		"minute,uploads_per_minute\n0,x\n",
		"minute,uploads_per_minute\n",
	} {
		if _, err := ReadArrivals(strings.NewReader(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ReadArrivals(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSimulateIsDeterministic(t *testing.T) {
	p := spikePolicy()
	p.InterruptEvery = 7 * time.Minute
	a, sa, err := Simulate(spike(t), p, 2*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, sb, err := Simulate(spike(t), p, 2*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || sa != sb {
		t.Fatal("two runs of the same simulation differ")
	}
}

// TestSimulateSteadyState: 60 jobs a minute of 30 instance-seconds is 30
// instances of work; the policy settles there and every job is served
// within the latency once warm.
func TestSimulateSteadyState(t *testing.T) {
	p := Policy{SecondsPerJob: 30, Latency: 5 * time.Minute, Min: 1, Max: 100, Start: 30, Warmup: time.Minute,
		ScaleInCooldown: 5 * time.Minute}
	samples, sum, err := Simulate([]Rate{{0, 60}}, p, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Arrived != 3605 {
		t.Fatalf("arrived %d, want 3605 (60 a minute for an hour, plus the 5 s step at 1:00:00)", sum.Arrived)
	}
	last := samples[len(samples)-1]
	if last.InService < 30 || last.InService > 34 {
		t.Errorf("in service at the end %d, want about 30", last.InService)
	}
	if sum.OverLatency != 0 || sum.MaxAge > p.Latency {
		t.Errorf("jobs waited up to %v (%d over the latency), want none over %v", sum.MaxAge, sum.OverLatency, p.Latency)
	}
	if got := sum.Done + last.Queued + last.Running; got != sum.Arrived {
		t.Errorf("done %d + queued %d + running %d != arrived %d", sum.Done, last.Queued, last.Running, sum.Arrived)
	}
}

// TestSimulateSpike: the fleet follows the 10x spike up and back down; a
// fleet capped too low lets the queue age grow far beyond the latency.
func TestSimulateSpike(t *testing.T) {
	p := spikePolicy()
	samples, sum, err := Simulate(spike(t), p, 2*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Peak work: 250 jobs/min x 20 s = 83.3 instances.
	if sum.MaxInService < 84 || sum.MaxInService > 120 {
		t.Errorf("max in service %d, want 84..120", sum.MaxInService)
	}
	at := func(min int) Sample { return samples[min] }
	if s := at(25); s.InService > 12 {
		t.Errorf("before the spike %d in service, want about 9 (25 jobs/min x 20 s)", s.InService)
	}
	if s := at(119); s.InService > 15 {
		t.Errorf("after the spike %d still in service, want the fleet scaled back in", s.InService)
	}
	if sum.MaxAge > 15*time.Minute {
		t.Errorf("max wait %v through the spike, want under 15 min with warm-up 3 min", sum.MaxAge)
	}
	if last := samples[len(samples)-1]; last.OldestAge > p.Latency || sum.Done+last.Queued+last.Running != sum.Arrived {
		t.Errorf("at the end: %+v, done %d of %d: want the wait back within the latency and every job accounted for", last, sum.Done, sum.Arrived)
	}

	capped := p
	capped.Max = 40
	_, csum, err := Simulate(spike(t), capped, 2*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if csum.MaxInService != 40 || csum.MaxAge < 3*sum.MaxAge || csum.MaxAge < 20*time.Minute {
		t.Errorf("capped at 40: max in service %d, max wait %v (uncapped %v): want the cap hit and far longer waits",
			csum.MaxInService, csum.MaxAge, sum.MaxAge)
	}
}

// TestSimulateSpotInterruptions: interrupted instances hand their job back
// and are replaced; nothing is lost.
func TestSimulateSpotInterruptions(t *testing.T) {
	p := spikePolicy()
	p.InterruptEvery = 10 * time.Minute
	samples, sum, err := Simulate(spike(t), p, 2*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interruptions != 12 {
		t.Errorf("interruptions %d, want 12 (every 10 min for 2 h)", sum.Interruptions)
	}
	if sum.ReleasedOnNotice == 0 || sum.ReleasedOnNotice > sum.Interruptions {
		t.Errorf("released on notice %d, want 1..%d", sum.ReleasedOnNotice, sum.Interruptions)
	}
	last := samples[len(samples)-1]
	if sum.Done+last.Queued+last.Running != sum.Arrived {
		t.Errorf("done %d + queued %d + running %d != arrived %d: a job was lost", sum.Done, last.Queued, last.Running, sum.Arrived)
	}
}

func TestSimulateRejects(t *testing.T) {
	for _, p := range []Policy{
		{SecondsPerJob: 0, Latency: time.Minute, Max: 1},
		{SecondsPerJob: 1, Latency: 0, Max: 1},
		{SecondsPerJob: 1, Latency: time.Minute, Max: 0},
		{SecondsPerJob: 1, Latency: time.Minute, Min: 3, Max: 2},
	} {
		if _, _, err := Simulate([]Rate{{0, 1}}, p, time.Hour, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Simulate with %+v = %v, want ErrInvalid", p, err)
		}
	}
}
