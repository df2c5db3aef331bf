// Package scaling is the worker fleet's capacity arithmetic: backlog per
// instance against a target derived from the acceptable queue latency (the
// metric the Auto Scaling group tracks), and a deterministic simulation of a
// target-tracking policy replaying an arrival curve.
package scaling

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalid marks inputs that cannot give a recommendation.
var ErrInvalid = errors.New("scaling: invalid input")

// Inputs are what Compute needs.
type Inputs struct {
	Visible  int64 // messages waiting (SQS ApproximateNumberOfMessages)
	InFlight int64 // messages being worked on (ApproximateNumberOfMessagesNotVisible)
	// InService is the number of instances in service (working).
	InService int
	// Desired, Min and Max are the group's capacity settings; Max 0 means
	// no upper bound.
	Desired, Min, Max int
	// SecondsPerJob is instance-seconds per job: the wall time of one job
	// divided by the jobs one instance runs at once. One instance finishes
	// 1/SecondsPerJob jobs per second.
	SecondsPerJob float64
	// Latency is the acceptable time a new job waits for its turn.
	Latency time.Duration
}

// Plan is Compute's answer, with its arithmetic.
type Plan struct {
	Backlog int64 // Visible + InFlight
	// BacklogPerInstance is Backlog / InService (+Inf with a backlog and no
	// instance in service, 0 with neither).
	BacklogPerInstance float64
	// Target is the acceptable backlog per instance: Latency ÷ SecondsPerJob
	// (at least 1: one job cannot be split between instances).
	Target float64
	// Needed is ceil(Backlog ÷ Target): the instances that clear the
	// backlog within the latency.
	Needed int
	// Recommended is Needed within [Min, Max].
	Recommended int
	// Lines show the arithmetic, one step a line.
	Lines []string
}

// Compute works out the capacity the backlog needs.
func Compute(in Inputs) (Plan, error) {
	switch {
	case in.Visible < 0 || in.InFlight < 0 || in.InService < 0 || in.Desired < 0 || in.Min < 0 || in.Max < 0:
		return Plan{}, fmt.Errorf("%w: negative count in %+v", ErrInvalid, in)
	case in.Max > 0 && in.Min > in.Max:
		return Plan{}, fmt.Errorf("%w: min %d above max %d", ErrInvalid, in.Min, in.Max)
	case !(in.SecondsPerJob > 0) || math.IsInf(in.SecondsPerJob, 0):
		return Plan{}, fmt.Errorf("%w: seconds per job %v, want > 0", ErrInvalid, in.SecondsPerJob)
	case in.Latency <= 0:
		return Plan{}, fmt.Errorf("%w: acceptable latency %v, want > 0", ErrInvalid, in.Latency)
	}
	var p Plan
	p.Backlog = in.Visible + in.InFlight
	p.Lines = append(p.Lines, fmt.Sprintf("backlog              = visible %d + in flight %d = %d", in.Visible, in.InFlight, p.Backlog))
	switch {
	case in.InService > 0:
		p.BacklogPerInstance = float64(p.Backlog) / float64(in.InService)
		p.Lines = append(p.Lines, fmt.Sprintf("backlog per instance = %d / %d in service = %.2f", p.Backlog, in.InService, p.BacklogPerInstance))
	case p.Backlog > 0:
		p.BacklogPerInstance = math.Inf(1)
		p.Lines = append(p.Lines, fmt.Sprintf("backlog per instance = %d / 0 in service = +Inf", p.Backlog))
	default:
		p.Lines = append(p.Lines, "backlog per instance = 0 (no backlog, no instance)")
	}
	p.Target = in.Latency.Seconds() / in.SecondsPerJob
	p.Lines = append(p.Lines, fmt.Sprintf("target               = latency %gs / %gs per job = %.2f jobs per instance",
		in.Latency.Seconds(), in.SecondsPerJob, p.Target))
	if p.Target < 1 {
		p.Lines = append(p.Lines, fmt.Sprintf("                       (%.2f < 1: the latency is shorter than one job, which no capacity fixes; target 1)", p.Target))
		p.Target = 1
	}
	// Round the quotient first: 10/0.1 must be 100, not 101.
	q := float64(p.Backlog) / p.Target
	p.Needed = int(math.Ceil(q - 1e-9))
	p.Lines = append(p.Lines, fmt.Sprintf("needed               = ceil(%d / %.2f) = %d", p.Backlog, p.Target, p.Needed))
	p.Recommended = p.Needed
	switch {
	case p.Recommended < in.Min:
		p.Recommended = in.Min
		p.Lines = append(p.Lines, fmt.Sprintf("recommended          = %d (raised to the group's min)", p.Recommended))
	case in.Max > 0 && p.Recommended > in.Max:
		p.Recommended = in.Max
		p.Lines = append(p.Lines, fmt.Sprintf("recommended          = %d (capped at the group's max; the backlog will wait longer than the latency)", p.Recommended))
	default:
		p.Lines = append(p.Lines, fmt.Sprintf("recommended          = %d (within min %d, max %d)", p.Recommended, in.Min, in.Max))
	}
	delta := p.Recommended - in.Desired
	p.Lines = append(p.Lines, fmt.Sprintf("desired now          = %d; change %+d", in.Desired, delta))
	return p, nil
}
