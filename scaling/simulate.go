package scaling

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rate is an arrival rate that holds from At until the next Rate.
type Rate struct {
	At        time.Duration
	PerMinute float64 // jobs (uploads) per minute
}

// ReadArrivals reads an arrival curve from CSV: a header row naming a
// "minute" column and an "uploads_per_minute" column (other columns are
// ignored), then one row per step, minutes ascending. Lines starting with
// '#' are comments.
func ReadArrivals(r io.Reader) ([]Rate, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: arrivals CSV: no header: %v", ErrInvalid, err)
	}
	mi, ui := slices.Index(head, "minute"), slices.Index(head, "uploads_per_minute")
	if mi < 0 || ui < 0 {
		return nil, fmt.Errorf("%w: arrivals CSV header %v: want columns minute and uploads_per_minute", ErrInvalid, head)
	}
	var out []Rate
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: arrivals CSV: %v", ErrInvalid, err)
		}
		if len(rec) <= max(mi, ui) {
			return nil, fmt.Errorf("%w: arrivals CSV row %d: %d fields", ErrInvalid, line, len(rec))
		}
		m, err1 := strconv.ParseFloat(strings.TrimSpace(rec[mi]), 64)
		u, err2 := strconv.ParseFloat(strings.TrimSpace(rec[ui]), 64)
		if err1 != nil || err2 != nil || m < 0 || u < 0 || math.IsInf(m, 0) || math.IsInf(u, 0) || math.IsNaN(m) || math.IsNaN(u) {
			return nil, fmt.Errorf("%w: arrivals CSV row %d: %v", ErrInvalid, line, rec)
		}
		at := time.Duration(m * float64(time.Minute))
		if len(out) > 0 && at <= out[len(out)-1].At {
			return nil, fmt.Errorf("%w: arrivals CSV row %d: minute %v not after the previous row", ErrInvalid, line, m)
		}
		out = append(out, Rate{At: at, PerMinute: u})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: arrivals CSV has no rows", ErrInvalid)
	}
	return out, nil
}

// Policy is the scaling policy a simulation runs: target tracking on
// backlog per instance, as infra/terraform configures it.
type Policy struct {
	SecondsPerJob float64       // instance-seconds per job (see Inputs)
	Latency       time.Duration // acceptable wait; the target is Latency/SecondsPerJob
	Min, Max      int           // group bounds (Max > 0)
	Start         int           // instances in service at 0 (default Min)
	// Warmup is the time from launch to in service (boot, pull, start).
	Warmup time.Duration
	// Period is how often the policy evaluates the metric (CloudWatch's
	// one-minute period by default).
	Period time.Duration
	// ScaleInCooldown is the least time between a scaling activity and a
	// scale-in (scale-out is never held back).
	ScaleInCooldown time.Duration
	// InterruptEvery, when set, has one in-service instance interrupted
	// (spot) every so often: its running job goes back to the queue and the
	// group launches a replacement.
	InterruptEvery time.Duration
	// Step is the simulation's time step (default 5 s).
	Step time.Duration
}

// Sample is the fleet's state at one time.
type Sample struct {
	T         time.Duration
	Rate      float64       // arrivals per minute now
	Queued    int           // waiting jobs
	Running   int           // jobs being worked on
	OldestAge time.Duration // wait of the oldest waiting job
	InService int
	Pending   int // launched, warming up
	Desired   int
}

// Summary sums a simulation up.
type Summary struct {
	Arrived, Done    int
	MaxAge           time.Duration // the longest any job waited
	P95Wait          time.Duration // 95th percentile wait of the jobs started
	MaxInService     int
	InstanceHours    float64
	Interruptions    int
	ReleasedOnNotice int // jobs sent back to the queue by interruptions
	OverLatency      int // jobs that waited longer than Policy.Latency
}

type inst struct {
	readyAt   time.Duration // in service from then
	busy      bool
	remaining float64 // seconds of work left on the current job
	arrived   time.Duration
	leaving   bool // scale-in: finish the job, then go
}

// Simulate replays rates for dur under policy p, sampling every sample
// (default one minute). It is deterministic: the same input gives the same
// output.
func Simulate(rates []Rate, p Policy, dur, sample time.Duration) ([]Sample, Summary, error) {
	if !(p.SecondsPerJob > 0) || p.Latency <= 0 || p.Max <= 0 || p.Min < 0 || p.Min > p.Max || dur <= 0 || len(rates) == 0 {
		return nil, Summary{}, fmt.Errorf("%w: simulation policy %+v for %v", ErrInvalid, p, dur)
	}
	p = p.withDefaults()
	if sample <= 0 {
		sample = time.Minute
	}
	s := newSim(p)
	var (
		out        []Sample
		rateIdx    int
		nextSample time.Duration
		nextEval   = p.Period
		nextInterr = p.InterruptEvery
	)
	for now := time.Duration(0); now <= dur; now += p.Step {
		for rateIdx+1 < len(rates) && rates[rateIdx+1].At <= now {
			rateIdx++
		}
		rate := 0.0
		if now >= rates[0].At {
			rate = rates[rateIdx].PerMinute
		}
		s.arrive(now, rate)
		if p.InterruptEvery > 0 && now >= nextInterr {
			nextInterr += p.InterruptEvery
			s.interrupt(now)
		}
		s.work(now)
		if now >= nextEval {
			nextEval += p.Period
			s.evaluate(now)
		}
		s.converge(now)
		smp := s.account(now, rate)
		if now >= nextSample {
			nextSample += sample
			out = append(out, smp)
		}
	}
	return out, s.summary(dur), nil
}

// withDefaults fills in the zero fields Simulate gives defaults to and
// clamps Start to [Min, Max].
func (p Policy) withDefaults() Policy {
	if p.Step <= 0 {
		p.Step = 5 * time.Second
	}
	if p.Period <= 0 {
		p.Period = time.Minute
	}
	if p.Start == 0 {
		p.Start = p.Min
	}
	p.Start = min(max(p.Start, p.Min), p.Max)
	return p
}

// sim is the state of one simulation between steps.
type sim struct {
	p           Policy
	stepSeconds float64
	queue       []time.Duration // arrival times of waiting jobs, oldest first
	fleet       []*inst
	desired     int
	lastScale   time.Duration // time of the last scaling activity
	acc         float64       // fractional arrivals carried to the next step
	sum         Summary
	waits       []time.Duration // wait of every job started
}

func newSim(p Policy) *sim {
	s := &sim{p: p, stepSeconds: p.Step.Seconds(), desired: p.Start, lastScale: -p.ScaleInCooldown}
	for range p.Start {
		s.fleet = append(s.fleet, &inst{})
	}
	return s
}

// arrive queues the step's arrivals, spread evenly over the step.
func (s *sim) arrive(now time.Duration, rate float64) {
	s.acc += rate * s.stepSeconds / 60
	for s.acc >= 1 {
		s.acc--
		s.queue = append(s.queue, now)
		s.sum.Arrived++
	}
}

// interrupt is a spot interruption: the oldest in-service instance goes;
// its job is released to the front of the queue; the group replaces it.
func (s *sim) interrupt(now time.Duration) {
	for i, in := range s.fleet {
		if in.readyAt <= now && !in.leaving {
			if in.busy {
				s.queue = append([]time.Duration{in.arrived}, s.queue...)
				s.sum.ReleasedOnNotice++
			}
			s.fleet = slices.Delete(s.fleet, i, i+1)
			s.sum.Interruptions++
			return
		}
	}
}

// start has in take the oldest waiting job at now.
func (s *sim) start(in *inst, now time.Duration) {
	in.busy, in.remaining, in.arrived = true, s.p.SecondsPerJob, s.queue[0]
	wait := now - s.queue[0]
	s.waits = append(s.waits, wait)
	if wait > s.p.Latency {
		s.sum.OverLatency++
	}
	s.sum.MaxAge = max(s.sum.MaxAge, wait)
	s.queue = s.queue[1:]
}

// work spends one step of every in-service instance on jobs, then drops
// the leaving instances that have finished theirs.
func (s *sim) work(now time.Duration) {
	for _, in := range s.fleet {
		if in.readyAt > now {
			continue
		}
		// A worker takes its next job the moment it finishes one, so a
		// job finishing at the step's end is followed by a job started.
		budget := s.stepSeconds
		for {
			if !in.busy {
				if in.leaving || len(s.queue) == 0 {
					break
				}
				s.start(in, now)
			}
			if budget <= 1e-9 {
				break
			}
			use := min(budget, in.remaining)
			in.remaining -= use
			budget -= use
			if in.remaining <= 1e-9 {
				in.busy = false
				s.sum.Done++
			}
		}
	}
	s.dropLeft()
}

// dropLeft removes the instances that are leaving and no longer busy.
func (s *sim) dropLeft() {
	s.fleet = slices.DeleteFunc(s.fleet, func(in *inst) bool { return in.leaving && !in.busy })
}

// evaluate is one evaluation of the target-tracking policy: backlog
// (waiting plus running jobs) per instance against Latency/SecondsPerJob.
// Scale-out is immediate; scale-in waits out the cooldown.
func (s *sim) evaluate(now time.Duration) {
	running := 0
	for _, in := range s.fleet {
		if in.busy {
			running++
		}
	}
	target := max(s.p.Latency.Seconds()/s.p.SecondsPerJob, 1)
	want := int(math.Ceil(float64(len(s.queue)+running)/target - 1e-9))
	want = min(max(want, s.p.Min), s.p.Max)
	switch {
	case want > s.desired:
		s.desired, s.lastScale = want, now
	case want < s.desired && now-s.lastScale >= s.p.ScaleInCooldown:
		s.desired, s.lastScale = want, now
	}
}

// converge moves the group towards desired: launch, or retire idle
// instances first, then busy ones after their job.
func (s *sim) converge(now time.Duration) {
	active := 0
	for _, in := range s.fleet {
		if !in.leaving {
			active++
		}
	}
	for ; active < s.desired; active++ {
		s.fleet = append(s.fleet, &inst{readyAt: now + s.p.Warmup})
	}
	for i := len(s.fleet) - 1; i >= 0 && active > s.desired; i-- {
		if in := s.fleet[i]; !in.leaving && !in.busy {
			in.leaving = true
			active--
		}
	}
	for i := len(s.fleet) - 1; i >= 0 && active > s.desired; i-- {
		if in := s.fleet[i]; !in.leaving {
			in.leaving = true
			active--
		}
	}
	s.dropLeft()
}

// account adds the step to the summary's running totals and returns the
// fleet's state at now.
func (s *sim) account(now time.Duration, rate float64) Sample {
	pending, running, inService := 0, 0, 0
	for _, in := range s.fleet {
		if in.readyAt > now {
			pending++
			continue
		}
		inService++
		if in.busy {
			running++
		}
	}
	s.sum.MaxInService = max(s.sum.MaxInService, inService)
	s.sum.InstanceHours += float64(inService+pending) * s.stepSeconds / 3600
	smp := Sample{T: now, Rate: rate, Queued: len(s.queue), Running: running, InService: inService, Pending: pending, Desired: s.desired}
	if len(s.queue) > 0 {
		smp.OldestAge = now - s.queue[0]
	}
	return smp
}

// summary finishes the summary at the end of a run of dur: jobs still
// waiting count towards MaxAge, and P95Wait is taken over the jobs started.
func (s *sim) summary(dur time.Duration) Summary {
	sum := s.sum
	if len(s.queue) > 0 {
		sum.MaxAge = max(sum.MaxAge, dur-s.queue[0])
	}
	if len(s.waits) > 0 {
		slices.Sort(s.waits)
		sum.P95Wait = s.waits[(len(s.waits)*95+99)/100-1]
	}
	return sum
}
