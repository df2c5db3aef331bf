package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/instance"
	"github.com/hlsfleet/hlsfleet/internal/rungroup"
	"github.com/hlsfleet/hlsfleet/worker"
)

// lifecycleFlags are the worker's EC2 instance lifecycle settings (issue E).
type lifecycleFlags struct {
	enabled    bool // the worker command registered them
	hook, asg  string
	protection bool
	margin     time.Duration
	poll       time.Duration
}

func (f *lifecycleFlags) register(fs *flag.FlagSet) {
	f.enabled = true
	fs.StringVar(&f.hook, "lifecycle-hook", os.Getenv("HLSFLEET_LIFECYCLE_HOOK"),
		"termination lifecycle hook to complete after a scale-in drain (env HLSFLEET_LIFECYCLE_HOOK; needs --asg)")
	fs.StringVar(&f.asg, "asg", os.Getenv("HLSFLEET_ASG_NAME"), "the worker's Auto Scaling group (env HLSFLEET_ASG_NAME)")
	fs.BoolVar(&f.protection, "scale-in-protection", false, "protect the instance from scale-in while it runs jobs (needs --asg)")
	fs.DurationVar(&f.margin, "interruption-margin", instance.DefaultMargin,
		"on a spot interruption notice, keep a job only if it is expected to finish this long before the deadline")
	fs.DurationVar(&f.poll, "lifecycle-poll", instance.DefaultInterval, "how often to read the instance metadata for notices")
}

// add adds the lifecycle controller beside worker w to g (when the command
// registered the flags). It watches the instance metadata until it is
// interrupted, which comes once the worker has stopped (a later stop stage),
// and then completes a pending lifecycle action.
func (f *lifecycleFlags) add(g *rungroup.Group, w *worker.Worker, log *zap.Logger, reg prometheus.Registerer) error {
	if !f.enabled {
		return nil
	}
	if (f.hook != "" || f.protection) && f.asg == "" {
		return usageErr("--lifecycle-hook and --scale-in-protection need --asg (or HLSFLEET_ASG_NAME)")
	}
	if f.margin < 0 || f.poll < 0 {
		return usageErr("--interruption-margin and --lifecycle-poll must not be negative")
	}
	c, err := instance.NewController(instance.Config{
		Worker: w, ASG: f.asg, LifecycleHook: f.hook, ScaleInProtection: f.protection,
		Margin: f.margin, Interval: f.poll, Logger: log.Named("lifecycle"), Metrics: instance.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	g.AddContext("lifecycle controller", func(ctx context.Context) error {
		// Off EC2 Run returns at once (it logs that the watcher is off);
		// the worker runs on without it.
		_ = c.Run(ctx)
		<-ctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Finish(ctx); err != nil {
			log.Error("completing the lifecycle action failed; the hook times out on its own", zap.Error(err))
			return err
		}
		return nil
	})
	return nil
}
