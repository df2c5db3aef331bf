package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/internal/rungroup"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/scaling"
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
	cfg := scaling.Config{Queue: q, QueueName: qurl, Instances: f.instances, Min: f.min, Max: f.max,
		SecondsPerJob: f.secondsPerJob, Latency: f.latency, Publish: f.publish, Apply: f.apply, Out: os.Stdout}
	if f.asg != "" {
		awsCfg, err := awsconf.Load(ctx)
		if err != nil {
			return err
		}
		cfg.Group = scaling.NewAWSGroup(awsCfg, f.asg)
	}
	if f.every <= 0 {
		return scaleErr(scaling.NewController(cfg).Round(ctx))
	}
	return scaleEvery(ctx, f, cfg)
}

// scaleEvery runs the controller every f.every, and the metrics server
// with --metrics-addr, as actors until SIGINT or SIGTERM.
func scaleEvery(ctx context.Context, f scaleFlags, cfg scaling.Config) error {
	reg := prometheus.NewRegistry()
	cfg.Gauges = scaling.NewGauges(reg)
	cfg.RoundFailed = func(err error) { fmt.Fprintf(os.Stderr, "hlsfleet: scale: %v (retrying in %s)\n", err, f.every) }
	c := scaling.NewController(cfg)
	// scale has printed no log lines before: the actors' stay quiet.
	g := rungroup.New(zap.NewNop())
	defer g.Release()
	g.AddSignals(ctx)
	g.AddContext("scaler", func(ctx context.Context) error { return scaleErr(c.Run(ctx, f.every)) })
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		g.AddHTTP(rungroup.HTTPActor{Name: "metrics", Listener: ln, Server: srv})
		fmt.Fprintf(os.Stderr, "metrics on http://%s/metrics\n", ln.Addr())
	}
	return g.Run()
}

// scaleErr gives the errors retrying cannot fix (a refused computation, no
// such group) the usage class: exit 2.
func scaleErr(err error) error {
	if scaling.Permanent(err) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
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
	scaling.WriteSimulation(w, p, samples, sum)
	return nil
}
