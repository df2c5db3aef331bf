package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/scaling"
)

// CloudWatch names of the backlog metric (docs/OPERATIONS.md, infra/terraform).
const (
	metricNamespace = "hlsfleet"
	metricBacklog   = "BacklogPerInstance"
	metricDimASG    = "AutoScalingGroupName"
)

type scaleFlags struct {
	queue, asg, simulate             string
	instances, min, max, start       int
	secondsPerJob                    float64
	latency, warmup, cooldown        time.Duration
	interruptEvery, duration, sample time.Duration
	apply, publish                   bool
	every                            time.Duration
	metricsAddr                      string
}

func runScale(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var f scaleFlags
	fs.StringVar(&f.queue, "queue", "", "the jobs queue: an SQS queue URL or local:///dir")
	fs.StringVar(&f.asg, "asg", os.Getenv("HLSFLEET_ASG_NAME"), "the workers' Auto Scaling group (env HLSFLEET_ASG_NAME): in-service, desired, min and max come from it")
	fs.IntVar(&f.instances, "instances", -1, "without --asg: the instances in service (and desired)")
	fs.IntVar(&f.min, "min", -1, "the group's minimum (default: from --asg, else 0; simulation: 1)")
	fs.IntVar(&f.max, "max", -1, "the group's maximum (default: from --asg, else none; simulation: 100)")
	fs.Float64Var(&f.secondsPerJob, "seconds-per-job", 60, "instance-seconds per job: one job's wall time divided by the jobs an instance runs at once")
	fs.DurationVar(&f.latency, "latency", 5*time.Minute, "the acceptable time a job waits for a worker")
	fs.BoolVar(&f.apply, "apply", false, "set the group's desired capacity to the recommendation (needs --asg)")
	fs.BoolVar(&f.publish, "publish", false, "put BacklogPerInstance to CloudWatch (namespace hlsfleet, dimension AutoScalingGroupName; needs --asg)")
	fs.DurationVar(&f.every, "every", 0, "repeat every so often until SIGTERM (0 = once): with --publish, the metric publisher")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "with --every: serve hlsfleet_backlog_per_instance and friends on /metrics here")
	fs.StringVar(&f.simulate, "simulate", "", "replay an arrival curve CSV (minute,uploads_per_minute) under target tracking instead")
	fs.IntVar(&f.start, "start", 0, "simulation: instances in service at the start (default: --min)")
	fs.DurationVar(&f.warmup, "warmup", 3*time.Minute, "simulation: launch to in service")
	fs.DurationVar(&f.cooldown, "cooldown", 5*time.Minute, "simulation: scale-in cooldown")
	fs.DurationVar(&f.interruptEvery, "interrupt-every", 0, "simulation: interrupt one spot instance this often (0 = never)")
	fs.DurationVar(&f.duration, "duration", 0, "simulation: how long (default: the curve's last minute + 30 min)")
	fs.DurationVar(&f.sample, "sample", time.Minute, "simulation: print a row this often")
	if _, err := parseCommand(fs, args, "scale (--queue URL [--asg NAME | --instances N] [--apply] [--publish] [--every D [--metrics-addr ADDR]] | --simulate ARRIVALS.csv) [--seconds-per-job S] [--latency D]", 0); err != nil {
		return err
	}
	if f.simulate != "" {
		return simulate(os.Stdout, f)
	}
	return scaleNow(f)
}

func scaleNow(f scaleFlags) error {
	if f.queue == "" {
		return usageErr("scale needs --queue (or --simulate FILE)")
	}
	if (f.apply || f.publish) && f.asg == "" {
		return usageErr("--apply and --publish need --asg")
	}
	if f.asg == "" && f.instances < 0 {
		return usageErr("scale needs --asg NAME or --instances N")
	}
	if f.metricsAddr != "" && f.every <= 0 {
		return usageErr("--metrics-addr needs --every")
	}
	qurl, err := queueURL(f.queue)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		return fmt.Errorf("opening queue %s: %w", qurl, err)
	}
	defer q.Close()
	s := &scaler{f: f, q: qurl, queue: q}
	if f.asg != "" {
		if s.cfg, err = awsconf.Load(ctx); err != nil {
			return err
		}
		s.asc = autoscaling.NewFromConfig(s.cfg)
	}
	if f.every <= 0 {
		return s.once(ctx, os.Stdout)
	}
	reg := prometheus.NewRegistry()
	s.gauges = newScaleGauges(reg)
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(os.Stderr, "metrics on http://%s/metrics\n", ln.Addr())
	}
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		// A failed round is reported and retried at the next tick: a
		// publisher must outlive a throttled or unreachable API.
		if err := s.once(ctx, os.Stdout); err != nil {
			if errors.Is(err, errUsage) {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(os.Stderr, "hlsfleet: scale: %v (retrying in %s)\n", err, f.every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scaler does one round of hlsfleet scale.
type scaler struct {
	f      scaleFlags
	q      string
	queue  queue.Queue
	cfg    aws.Config
	asc    *autoscaling.Client
	gauges *scaleGauges
}

type scaleGauges struct {
	perInstance, backlog, recommended, inService prometheus.Gauge
}

func newScaleGauges(reg prometheus.Registerer) *scaleGauges {
	g := &scaleGauges{
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

// once does one round: it reads the queue (and the group), prints the
// recommendation, and publishes or applies it as the flags ask.
func (s *scaler) once(ctx context.Context, w io.Writer) error {
	st, in, err := s.inputs(ctx)
	if err != nil {
		return err
	}
	p, err := scaling.Compute(in)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	v := s.report(w, st, in, p)
	if s.f.publish {
		if err := s.publish(ctx, w, v); err != nil {
			return err
		}
	}
	if s.f.apply {
		return s.apply(ctx, w, in, p)
	}
	return nil
}

// inputs reads the queue's figures and, with --asg, the group's.
func (s *scaler) inputs(ctx context.Context) (queue.Stats, scaling.Inputs, error) {
	f := s.f
	st, err := s.queue.Stats(ctx)
	if err != nil {
		return st, scaling.Inputs{}, fmt.Errorf("queue stats: %w", err)
	}
	in := scaling.Inputs{Visible: st.Visible, InFlight: st.InFlight, SecondsPerJob: f.secondsPerJob, Latency: f.latency,
		InService: max(f.instances, 0), Desired: max(f.instances, 0), Min: max(f.min, 0), Max: max(f.max, 0)}
	if s.asc == nil {
		return st, in, nil
	}
	out, err := s.asc.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{f.asg}})
	if err != nil {
		return st, in, fmt.Errorf("describing Auto Scaling group %s: %w", f.asg, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return st, in, usageErr("no Auto Scaling group named %q", f.asg)
	}
	g := out.AutoScalingGroups[0]
	in.InService = 0
	for _, i := range g.Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			in.InService++
		}
	}
	in.Desired = int(aws.ToInt32(g.DesiredCapacity))
	if f.min < 0 {
		in.Min = int(aws.ToInt32(g.MinSize))
	}
	if f.max < 0 {
		in.Max = int(aws.ToInt32(g.MaxSize))
	}
	return st, in, nil
}

// report prints the round and sets the gauges; it returns the backlog per
// instance to publish.
func (s *scaler) report(w io.Writer, st queue.Stats, in scaling.Inputs, p scaling.Plan) float64 {
	f := s.f
	if f.every > 0 {
		fmt.Fprintf(w, "-- %s\n", time.Now().UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "queue %s: %d visible, %d in flight", s.q, st.Visible, st.InFlight)
	if st.OldestAge > 0 {
		fmt.Fprintf(w, ", oldest %s", st.OldestAge.Round(time.Second))
	}
	fmt.Fprintln(w)
	if f.asg != "" {
		fmt.Fprintf(w, "group %s: %d in service, desired %d, min %d, max %d\n", f.asg, in.InService, in.Desired, in.Min, in.Max)
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
	if s.gauges != nil {
		s.gauges.perInstance.Set(v)
		s.gauges.backlog.Set(float64(p.Backlog))
		s.gauges.recommended.Set(float64(p.Recommended))
		s.gauges.inService.Set(float64(in.InService))
	}
	return v
}

// publish puts v to CloudWatch as the group's backlog per instance.
func (s *scaler) publish(ctx context.Context, w io.Writer, v float64) error {
	f := s.f
	cw := cloudwatch.NewFromConfig(s.cfg)
	_, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(metricNamespace),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String(metricBacklog),
			Dimensions: []cwtypes.Dimension{{Name: aws.String(metricDimASG), Value: aws.String(f.asg)}},
			Value:      aws.Float64(v),
			Unit:       cwtypes.StandardUnitCount,
			Timestamp:  aws.Time(time.Now()),
		}},
	})
	if err != nil {
		return fmt.Errorf("publishing %s: %w", metricBacklog, err)
	}
	fmt.Fprintf(w, "published %s/%s{%s=%s} = %g\n", metricNamespace, metricBacklog, metricDimASG, f.asg, v)
	return nil
}

// apply sets the group's desired capacity to the recommendation.
func (s *scaler) apply(ctx context.Context, w io.Writer, in scaling.Inputs, p scaling.Plan) error {
	f := s.f
	if p.Recommended == in.Desired {
		fmt.Fprintf(w, "desired capacity already %d: nothing to apply\n", in.Desired)
		return nil
	}
	_, err := s.asc.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(f.asg), DesiredCapacity: aws.Int32(int32(p.Recommended)), HonorCooldown: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("setting the desired capacity of %s: %w", f.asg, err)
	}
	fmt.Fprintf(w, "desired capacity of %s set to %d (was %d)\n", f.asg, p.Recommended, in.Desired)
	return nil
}

func simulate(w io.Writer, f scaleFlags) error {
	file, err := os.Open(f.simulate)
	if err != nil {
		return usageErr("--simulate: %v", err)
	}
	defer file.Close()
	rates, err := scaling.ReadArrivals(file)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, f.simulate, err)
	}
	p := scaling.Policy{SecondsPerJob: f.secondsPerJob, Latency: f.latency, Min: f.min, Max: f.max, Start: f.start,
		Warmup: f.warmup, ScaleInCooldown: f.cooldown, InterruptEvery: f.interruptEvery}
	if p.Min < 0 {
		p.Min = 1
	}
	if p.Max < 0 {
		p.Max = 100
	}
	dur := f.duration
	if dur <= 0 {
		dur = rates[len(rates)-1].At + 30*time.Minute
	}
	samples, sum, err := scaling.Simulate(rates, p, dur, f.sample)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	target := max(f.latency.Seconds()/f.secondsPerJob, 1)
	fmt.Fprintf(w, "policy: target tracking on backlog per instance, target %.2f (latency %s / %gs per job), min %d, max %d, warm-up %s, scale-in cooldown %s",
		target, f.latency, f.secondsPerJob, p.Min, p.Max, f.warmup, f.cooldown)
	if f.interruptEvery > 0 {
		fmt.Fprintf(w, ", a spot interruption every %s", f.interruptEvery)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%8s %9s %7s %7s %9s %9s %7s %7s\n", "time", "arrivals", "queued", "running", "oldest", "inservice", "pending", "desired")
	for _, s := range samples {
		fmt.Fprintf(w, "%8s %9.1f %7d %7d %9s %9d %7d %7d\n", clock(s.T), s.Rate, s.Queued, s.Running, s.OldestAge.Round(time.Second),
			s.InService, s.Pending, s.Desired)
	}
	fmt.Fprintf(w, "jobs: %d arrived, %d done; wait: max %s, p95 %s, %d over %s; instances: max %d, %.1f instance-hours",
		sum.Arrived, sum.Done, sum.MaxAge.Round(time.Second), sum.P95Wait.Round(time.Second), sum.OverLatency, f.latency,
		sum.MaxInService, sum.InstanceHours)
	if sum.Interruptions > 0 {
		fmt.Fprintf(w, "; %d interruptions, %d jobs released", sum.Interruptions, sum.ReleasedOnNotice)
	}
	fmt.Fprintln(w)
	return nil
}

// clock formats d as H:MM.
func clock(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%d:%02d", m/60, m%60)
}
