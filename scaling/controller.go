package scaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hlsfleet/hlsfleet/queue"
)

// ErrNoGroup is what Group.Capacity returns when no group has the name.
var ErrNoGroup = errors.New("no Auto Scaling group")

// Permanent reports whether err is one that retrying cannot fix: inputs
// Compute refuses (ErrInvalid) or a group that does not exist (ErrNoGroup).
func Permanent(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNoGroup)
}

// Backlog is what a Controller reads of the jobs queue (queue.Queue has
// it).
type Backlog interface {
	Stats(ctx context.Context) (queue.Stats, error)
}

// Capacity is an Auto Scaling group's state as Compute needs it.
type Capacity struct {
	InService         int // instances in the InService lifecycle state
	Desired, Min, Max int
}

// Group is the workers' Auto Scaling group and its backlog metric: each
// method is one API call, whose error it returns as it is (AWSGroup is the
// AWS one).
type Group interface {
	// Name is the group's name.
	Name() string
	// Capacity describes the group. A group that does not exist is
	// ErrNoGroup.
	Capacity(ctx context.Context) (Capacity, error)
	// SetDesired sets the group's desired capacity at once (no cooldown).
	SetDesired(ctx context.Context, n int) error
	// PutBacklogPerInstance publishes v now as the group's
	// MetricNamespace/MetricBacklog with dimension MetricDimension = Name.
	PutBacklogPerInstance(ctx context.Context, v float64) error
}

// The CloudWatch names of the backlog metric the group's target tracking
// policy follows (docs/OPERATIONS.md, infra/terraform).
const (
	MetricNamespace = "hlsfleet"
	MetricBacklog   = "BacklogPerInstance"
	MetricDimension = "AutoScalingGroupName"
)

// Config is what a Controller observes, and what it may change.
type Config struct {
	// Queue is the jobs queue; QueueName names it in the report.
	Queue     Backlog
	QueueName string
	// Group, when set, gives the instances in service, the desired
	// capacity and (unless Min or Max is set) the bounds; Publish and
	// Apply need it.
	Group Group
	// Instances stands in for the instances in service and the desired
	// capacity without a Group. Min and Max bound the recommendation (Max 0:
	// no bound). A negative value is unset: 0, or with a Group, the group's.
	Instances, Min, Max int
	// SecondsPerJob and Latency are Compute's (see Inputs).
	SecondsPerJob float64
	Latency       time.Duration
	// Publish puts the backlog per instance to the group's metric each
	// round; Apply sets the group's desired capacity to the recommendation.
	Publish, Apply bool
	// Out receives each round's report.
	Out io.Writer
	// Gauges, when set, show each round's figures.
	Gauges *Gauges
	// RoundFailed, when set, is told of each failed round Run retries at
	// its next tick.
	RoundFailed func(error)
}

// Controller observes the queue and the group, plans the capacity with
// Compute, and publishes and applies the plan as its Config asks.
type Controller struct {
	cfg Config
	now func() time.Time
}

// NewController returns a Controller of cfg.
func NewController(cfg Config) *Controller {
	return &Controller{cfg: cfg, now: time.Now}
}

// Round does one round: it reads the queue (and the group), reports the
// recommendation, and publishes or applies it as configured.
func (c *Controller) Round(ctx context.Context) error {
	return c.round(ctx, false)
}

// Run does a round every so often until ctx is done, each report headed by
// its time. A round that fails is told to RoundFailed and retried at the
// next tick (a publisher must outlive a throttled or unreachable API); Run
// returns the first Permanent error, or nil once ctx is done.
func (c *Controller) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.round(ctx, true); err != nil {
			if Permanent(err) {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			if c.cfg.RoundFailed != nil {
				c.cfg.RoundFailed(err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) round(ctx context.Context, stamped bool) error {
	st, in, err := c.observe(ctx)
	if err != nil {
		return err
	}
	p, err := Compute(in)
	if err != nil {
		return err
	}
	v := c.report(st, in, p, stamped)
	if c.cfg.Publish {
		if err := c.publish(ctx, v); err != nil {
			return err
		}
	}
	if c.cfg.Apply {
		return c.apply(ctx, in, p)
	}
	return nil
}

// observe reads the queue's figures and the group's.
func (c *Controller) observe(ctx context.Context) (queue.Stats, Inputs, error) {
	cfg := c.cfg
	st, err := cfg.Queue.Stats(ctx)
	if err != nil {
		return st, Inputs{}, fmt.Errorf("queue stats: %w", err)
	}
	in := Inputs{Visible: st.Visible, InFlight: st.InFlight, SecondsPerJob: cfg.SecondsPerJob, Latency: cfg.Latency,
		InService: max(cfg.Instances, 0), Desired: max(cfg.Instances, 0), Min: max(cfg.Min, 0), Max: max(cfg.Max, 0)}
	if cfg.Group == nil {
		return st, in, nil
	}
	name := cfg.Group.Name()
	g, err := cfg.Group.Capacity(ctx)
	if errors.Is(err, ErrNoGroup) {
		return st, in, fmt.Errorf("%w named %q", ErrNoGroup, name)
	}
	if err != nil {
		return st, in, fmt.Errorf("describing Auto Scaling group %s: %w", name, err)
	}
	in.InService, in.Desired = g.InService, g.Desired
	if cfg.Min < 0 {
		in.Min = g.Min
	}
	if cfg.Max < 0 {
		in.Max = g.Max
	}
	return st, in, nil
}

// report prints the round and sets the gauges; it returns the backlog per
// instance to publish.
func (c *Controller) report(st queue.Stats, in Inputs, p Plan, stamped bool) float64 {
	w := c.cfg.Out
	if stamped {
		fmt.Fprintf(w, "-- %s\n", c.now().UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "queue %s: %d visible, %d in flight", c.cfg.QueueName, st.Visible, st.InFlight)
	if st.OldestAge > 0 {
		fmt.Fprintf(w, ", oldest %s", st.OldestAge.Round(time.Second))
	}
	fmt.Fprintln(w)
	if c.cfg.Group != nil {
		fmt.Fprintf(w, "group %s: %d in service, desired %d, min %d, max %d\n", c.cfg.Group.Name(), in.InService, in.Desired, in.Min, in.Max)
	}
	for _, l := range p.Lines {
		fmt.Fprintln(w, l)
	}
	// CloudWatch and Prometheus take no infinity: with no instance in
	// service the backlog itself stands in, which is above any target.
	v := p.BacklogPerInstance
	if math.IsInf(v, 0) {
		v = float64(p.Backlog)
	}
	c.cfg.Gauges.set(v, p, in)
	return v
}

// publish puts v as the group's backlog per instance.
func (c *Controller) publish(ctx context.Context, v float64) error {
	if err := c.cfg.Group.PutBacklogPerInstance(ctx, v); err != nil {
		return fmt.Errorf("publishing %s: %w", MetricBacklog, err)
	}
	fmt.Fprintf(c.cfg.Out, "published %s/%s{%s=%s} = %g\n", MetricNamespace, MetricBacklog, MetricDimension, c.cfg.Group.Name(), v)
	return nil
}

// apply sets the group's desired capacity to the recommendation.
func (c *Controller) apply(ctx context.Context, in Inputs, p Plan) error {
	name := c.cfg.Group.Name()
	if p.Recommended == in.Desired {
		fmt.Fprintf(c.cfg.Out, "desired capacity already %d: nothing to apply\n", in.Desired)
		return nil
	}
	if err := c.cfg.Group.SetDesired(ctx, p.Recommended); err != nil {
		return fmt.Errorf("setting the desired capacity of %s: %w", name, err)
	}
	fmt.Fprintf(c.cfg.Out, "desired capacity of %s set to %d (was %d)\n", name, p.Recommended, in.Desired)
	return nil
}

// Gauges show a Controller's rounds as Prometheus metrics.
type Gauges struct {
	perInstance, backlog, recommended, inService prometheus.Gauge
}

// NewGauges registers the gauges in reg.
func NewGauges(reg prometheus.Registerer) *Gauges {
	g := &Gauges{
		perInstance: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlsfleet_backlog_per_instance",
			Help: "Jobs waiting or in flight per instance in service (the scaling metric; CloudWatch hlsfleet/BacklogPerInstance)."}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlsfleet_backlog_jobs",
			Help: "Jobs waiting or in flight in the queue."}),
		recommended: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlsfleet_recommended_instances",
			Help: "Instances the backlog needs within the latency, within the group's min and max."}),
		inService: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlsfleet_instances_in_service",
			Help: "Instances in service in the group (or --instances)."}),
	}
	reg.MustRegister(g.perInstance, g.backlog, g.recommended, g.inService)
	return g
}

// set shows one round (v is the backlog per instance as published); a nil
// g does nothing.
func (g *Gauges) set(v float64, p Plan, in Inputs) {
	if g == nil {
		return
	}
	g.perInstance.Set(v)
	g.backlog.Set(float64(p.Backlog))
	g.recommended.Set(float64(p.Recommended))
	g.inService.Set(float64(in.InService))
}
