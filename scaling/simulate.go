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
	if p.Step <= 0 {
		p.Step = 5 * time.Second
	}
	if p.Period <= 0 {
		p.Period = time.Minute
	}
	if sample <= 0 {
		sample = time.Minute
	}
	if p.Start == 0 {
		p.Start = p.Min
	}
	p.Start = min(max(p.Start, p.Min), p.Max)
	var (
		queue       []time.Duration // arrival times of waiting jobs, oldest first
		fleet       []*inst
		desired     = p.Start
		lastScale   = -p.ScaleInCooldown
		acc         float64
		out         []Sample
		sum         Summary
		waits       []time.Duration
		rateIdx     int
		nextSample  time.Duration
		nextEval    = p.Period
		nextInterr  = p.InterruptEvery
		stepSeconds = p.Step.Seconds()
	)
	for range p.Start {
		fleet = append(fleet, &inst{})
	}
	start := func(in *inst, now time.Duration) {
		in.busy, in.remaining, in.arrived = true, p.SecondsPerJob, queue[0]
		wait := now - queue[0]
		waits = append(waits, wait)
		if wait > p.Latency {
			sum.OverLatency++
		}
		sum.MaxAge = max(sum.MaxAge, wait)
		queue = queue[1:]
	}
	for now := time.Duration(0); now <= dur; now += p.Step {
		for rateIdx+1 < len(rates) && rates[rateIdx+1].At <= now {
			rateIdx++
		}
		rate := 0.0
		if now >= rates[0].At {
			rate = rates[rateIdx].PerMinute
		}
		// Arrivals, spread evenly over the step.
		acc += rate * stepSeconds / 60
		for acc >= 1 {
			acc--
			queue = append(queue, now)
			sum.Arrived++
		}
		// Spot interruption: the oldest in-service instance goes; its job
		// is released to the front of the queue; the group replaces it.
		if p.InterruptEvery > 0 && now >= nextInterr {
			nextInterr += p.InterruptEvery
			for i, in := range fleet {
				if in.readyAt <= now && !in.leaving {
					if in.busy {
						queue = append([]time.Duration{in.arrived}, queue...)
						sum.ReleasedOnNotice++
					}
					fleet = slices.Delete(fleet, i, i+1)
					sum.Interruptions++
					break
				}
			}
		}
		// Work.
		inService := 0
		for _, in := range fleet {
			if in.readyAt > now {
				continue
			}
			inService++
			// A worker takes its next job the moment it finishes one, so a
			// job finishing at the step's end is followed by a job started.
			budget := stepSeconds
			for {
				if !in.busy {
					if in.leaving || len(queue) == 0 {
						break
					}
					start(in, now)
				}
				if budget <= 1e-9 {
					break
				}
				use := min(budget, in.remaining)
				in.remaining -= use
				budget -= use
				if in.remaining <= 1e-9 {
					in.busy = false
					sum.Done++
				}
			}
		}
		fleet = slices.DeleteFunc(fleet, func(in *inst) bool { return in.leaving && !in.busy })
		// Policy.
		if now >= nextEval {
			nextEval += p.Period
			running := 0
			for _, in := range fleet {
				if in.busy {
					running++
				}
			}
			target := max(p.Latency.Seconds()/p.SecondsPerJob, 1)
			want := int(math.Ceil(float64(len(queue)+running)/target - 1e-9))
			want = min(max(want, p.Min), p.Max)
			switch {
			case want > desired:
				desired, lastScale = want, now
			case want < desired && now-lastScale >= p.ScaleInCooldown:
				desired, lastScale = want, now
			}
		}
		// The group converges on desired: launch, or retire idle instances
		// first, then busy ones after their job.
		active := 0
		for _, in := range fleet {
			if !in.leaving {
				active++
			}
		}
		for ; active < desired; active++ {
			fleet = append(fleet, &inst{readyAt: now + p.Warmup})
		}
		for i := len(fleet) - 1; i >= 0 && active > desired; i-- {
			if in := fleet[i]; !in.leaving && !in.busy {
				in.leaving = true
				active--
			}
		}
		for i := len(fleet) - 1; i >= 0 && active > desired; i-- {
			if in := fleet[i]; !in.leaving {
				in.leaving = true
				active--
			}
		}
		fleet = slices.DeleteFunc(fleet, func(in *inst) bool { return in.leaving && !in.busy })
		// Bookkeeping.
		pending, running := 0, 0
		inService = 0
		for _, in := range fleet {
			if in.readyAt > now {
				pending++
				continue
			}
			inService++
			if in.busy {
				running++
			}
		}
		sum.MaxInService = max(sum.MaxInService, inService)
		sum.InstanceHours += float64(inService+pending) * stepSeconds / 3600
		if now >= nextSample {
			nextSample += sample
			s := Sample{T: now, Rate: rate, Queued: len(queue), Running: running, InService: inService, Pending: pending, Desired: desired}
			if len(queue) > 0 {
				s.OldestAge = now - queue[0]
			}
			out = append(out, s)
		}
	}
	if len(queue) > 0 {
		sum.MaxAge = max(sum.MaxAge, dur-queue[0])
	}
	if len(waits) > 0 {
		slices.Sort(waits)
		sum.P95Wait = waits[(len(waits)*95+99)/100-1]
	}
	return out, sum, nil
}
