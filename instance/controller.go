package instance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/worker"
)

// Worker is what the controller needs of a worker (*worker.Worker).
type Worker interface {
	// Stop begins a drain: receiving stops, running jobs get the drain
	// timeout to finish.
	Stop()
	// Interrupt stops receiving and releases the running jobs that would
	// not finish before deadline with margin to spare.
	Interrupt(deadline time.Time, margin time.Duration) []worker.Decision
	// Running is the number of messages being worked on.
	Running() int
}

// Defaults of Config.
const (
	DefaultInterval       = 5 * time.Second
	DefaultMargin         = 30 * time.Second
	DefaultProtectionIdle = 30 * time.Second
	DefaultHookHeartbeat  = time.Minute
	// spotDefaultLead is the deadline assumed when a notice has no time.
	spotDefaultLead = 2 * time.Minute
)

// Config configures NewController. Worker is required.
type Config struct {
	Worker   Worker
	Metadata *Metadata // nil: NewMetadata(0)
	// AutoScaling is used for CompleteLifecycleAction and
	// SetInstanceProtection; nil: a client from the AWS environment, made
	// when first needed.
	AutoScaling AutoScaling
	// ASG is the Auto Scaling group's name; LifecycleHook and
	// ScaleInProtection need it.
	ASG string
	// LifecycleHook is the termination lifecycle hook's name: after a
	// scale-in drain the controller completes it with CONTINUE. "": the
	// controller drains and the hook (if any) times out on its own.
	LifecycleHook string
	// ScaleInProtection protects the instance from scale-in while any job
	// runs and lifts it after ProtectionIdle without jobs.
	ScaleInProtection bool
	ProtectionIdle    time.Duration // 0: DefaultProtectionIdle
	// HookHeartbeat is how often a drain after a scale-in records a
	// lifecycle action heartbeat, so a drain longer than the hook's
	// heartbeat timeout is not cut short (0: DefaultHookHeartbeat).
	HookHeartbeat time.Duration
	// Interval is the metadata poll period (0: DefaultInterval); EC2 asks
	// for at least every 5 seconds for spot notices.
	Interval time.Duration
	// Margin is the time kept free before a spot deadline to release the
	// jobs still running (0: DefaultMargin).
	Margin  time.Duration
	Logger  *zap.Logger
	Metrics *Metrics
	Clock   func() time.Time
}

// Controller watches the instance's metadata and drives the worker and the
// Auto Scaling group from what it sees:
//
//   - spot interruption notice: Worker.Interrupt(deadline, Margin): stop
//     receiving, finish the jobs that fit, release the others at once;
//   - Auto Scaling target lifecycle state "Terminated" (scale-in, instance
//     refresh, a rebalance replacement): Worker.Stop (drain); once the worker
//     has stopped, Finish completes the lifecycle hook with CONTINUE;
//   - rebalance recommendation: logged and counted; the worker keeps working
//     (see docs/OPERATIONS.md: with capacity rebalancing the group replaces
//     the instance through the termination hook, which drains it);
//   - with ScaleInProtection: protected while jobs run, unprotected after
//     ProtectionIdle idle.
type Controller struct {
	cfg Config
	md  *Metadata
	log *zap.Logger
	m   *Metrics
	now func() time.Time

	mu          sync.Mutex
	asg         AutoScaling
	instanceID  string
	terminating bool
	interrupted bool
	rebalanced  bool
	protected   bool
	idleSince   time.Time
	stopBeat    chan struct{} // closed by Finish: ends the hook heartbeats
	beatDone    chan struct{}
}

// NewController checks cfg and fills in its defaults.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Worker == nil {
		return nil, errors.New("instance: Config.Worker is required")
	}
	if (cfg.LifecycleHook != "" || cfg.ScaleInProtection) && cfg.ASG == "" {
		return nil, errors.New("instance: a lifecycle hook or scale-in protection needs the Auto Scaling group's name")
	}
	c := &Controller{cfg: cfg, md: cfg.Metadata, log: cfg.Logger, m: cfg.Metrics, now: cfg.Clock, asg: cfg.AutoScaling}
	if c.md == nil {
		c.md = NewMetadata(0)
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.m == nil {
		c.m = NewMetrics(nil)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.Interval <= 0 {
		c.cfg.Interval = DefaultInterval
	}
	if c.cfg.Margin <= 0 {
		c.cfg.Margin = DefaultMargin
	}
	if c.cfg.HookHeartbeat <= 0 {
		c.cfg.HookHeartbeat = DefaultHookHeartbeat
	}
	if c.cfg.ProtectionIdle <= 0 {
		c.cfg.ProtectionIdle = DefaultProtectionIdle
	}
	return c, nil
}

// InstanceID is the instance's id once Run found the metadata service, else "".
func (c *Controller) InstanceID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.instanceID
}

// Terminating reports whether the Auto Scaling group is terminating the
// instance (its target lifecycle state is Terminated).
func (c *Controller) Terminating() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terminating
}

// Run watches until ctx is done. Off EC2 (the metadata service does not
// answer its first request within the request timeout) it logs one line
// and returns ErrUnavailable at once; it never slows the worker's start (run
// it in its own goroutine).
func (c *Controller) Run(ctx context.Context) error {
	id, err := c.md.InstanceID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		lvl := c.log.Info
		if c.cfg.LifecycleHook != "" || c.cfg.ScaleInProtection {
			lvl = c.log.Warn // asked for, but cannot be done
		}
		lvl("instance metadata unreachable: lifecycle watcher off (not on EC2?)", zap.Error(err))
		return err
	}
	c.mu.Lock()
	c.instanceID = id
	c.mu.Unlock()
	c.log.Info("lifecycle watcher on", zap.String("instance_id", id), zap.String("asg", c.cfg.ASG),
		zap.String("lifecycle_hook", c.cfg.LifecycleHook), zap.Bool("scale_in_protection", c.cfg.ScaleInProtection),
		zap.Duration("interval", c.cfg.Interval))
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		err := c.poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			failing = true
			c.log.Warn("reading instance metadata failed; polling on", zap.Error(err))
		case err != nil:
			c.log.Debug("reading instance metadata failed", zap.Error(err))
		case failing:
			failing = false
			c.log.Info("instance metadata readable again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll reads the notices once and acts on new ones.
func (c *Controller) poll(ctx context.Context) error {
	var errs []error
	c.mu.Lock()
	interrupted, terminating := c.interrupted, c.terminating
	c.mu.Unlock()
	if !interrupted {
		a, err := c.md.Spot(ctx)
		errs = append(errs, err)
		if a != nil {
			c.onSpot(a)
		}
	}
	if !terminating {
		s, err := c.md.LifecycleState(ctx)
		errs = append(errs, err)
		if s == "Terminated" {
			c.onTerminating()
		}
	}
	if !c.rebalanceSeen() {
		r, err := c.md.Rebalance(ctx)
		errs = append(errs, err)
		if r != nil {
			c.onRebalance(*r)
		}
	}
	if c.cfg.ScaleInProtection {
		errs = append(errs, c.protect(ctx))
	}
	return errors.Join(errs...)
}

func (c *Controller) rebalanceSeen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rebalanced
}

func (c *Controller) onRebalance(at time.Time) {
	c.mu.Lock()
	c.rebalanced = true
	c.mu.Unlock()
	c.m.Notices.WithLabelValues(KindRebalance).Inc()
	c.log.Warn("rebalance recommendation: elevated risk of a spot interruption; working on (a replacement drains this instance through the termination hook)",
		zap.Time("notice_time", at), zap.Int("running", c.cfg.Worker.Running()))
}

func (c *Controller) onSpot(a *SpotAction) {
	c.mu.Lock()
	c.interrupted = true
	c.mu.Unlock()
	now := c.now()
	deadline := a.Time
	if deadline.IsZero() {
		deadline = now.Add(spotDefaultLead)
	}
	c.m.Notices.WithLabelValues(KindSpotInterruption).Inc()
	c.m.NoticeLead.Set(deadline.Sub(now).Seconds())
	c.log.Warn("spot interruption notice: receiving stopped; finishing the jobs that fit, releasing the others",
		zap.String("action", a.Action), zap.Time("deadline", deadline), zap.Duration("left", deadline.Sub(now)),
		zap.Duration("margin", c.cfg.Margin))
	for _, d := range c.cfg.Worker.Interrupt(deadline, c.cfg.Margin) {
		decision := "release"
		if d.Finish {
			decision = "finish"
		}
		c.m.InterruptionJobs.WithLabelValues(decision).Inc()
		fields := []zap.Field{zap.String("job_id", d.JobID), zap.String("message_id", d.MessageID),
			zap.String("decision", decision), zap.Float64("percent", d.Progress.Percent), zap.Float64("speed", d.Progress.Speed)}
		if d.Known {
			fields = append(fields, zap.Duration("estimated_remaining", d.Remaining))
		}
		c.log.Info("interruption decision", fields...)
	}
}

func (c *Controller) onTerminating() {
	c.mu.Lock()
	c.terminating = true
	c.mu.Unlock()
	c.m.Notices.WithLabelValues(KindTerminating).Inc()
	c.log.Warn("auto scaling is terminating this instance: draining", zap.Int("running", c.cfg.Worker.Running()),
		zap.String("lifecycle_hook", c.cfg.LifecycleHook))
	c.cfg.Worker.Stop()
	if c.cfg.LifecycleHook != "" {
		stop, done := make(chan struct{}), make(chan struct{})
		c.mu.Lock()
		c.stopBeat, c.beatDone = stop, done
		c.mu.Unlock()
		go c.heartbeat(stop, done)
	}
}

// heartbeat records a lifecycle action heartbeat every HookHeartbeat until
// stop is closed, keeping the instance in Terminating:Wait while it drains.
func (c *Controller) heartbeat(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(c.cfg.HookHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cl, err := c.client(ctx)
		if err == nil {
			_, err = cl.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
				AutoScalingGroupName: aws.String(c.cfg.ASG), LifecycleHookName: aws.String(c.cfg.LifecycleHook),
				InstanceId: aws.String(c.InstanceID()),
			})
		}
		cancel()
		if err != nil {
			c.log.Warn("recording a lifecycle action heartbeat failed", zap.Error(err))
		} else {
			c.log.Debug("lifecycle action heartbeat recorded", zap.Int("running", c.cfg.Worker.Running()))
		}
	}
}

// client returns the Auto Scaling client, making it on first use.
func (c *Controller) client(ctx context.Context) (AutoScaling, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.asg == nil {
		cl, err := NewAutoScalingClient(ctx)
		if err != nil {
			return nil, err
		}
		c.asg = cl
	}
	return c.asg, nil
}

// protect keeps the scale-in protection in step with the worker's load:
// on at once when a job runs, off after ProtectionIdle without jobs. It
// leaves the protection alone once the instance is going away.
func (c *Controller) protect(ctx context.Context) error {
	c.mu.Lock()
	if c.terminating || c.interrupted {
		c.mu.Unlock()
		return nil
	}
	now := c.now()
	busy := c.cfg.Worker.Running() > 0
	want := c.protected
	switch {
	case busy:
		c.idleSince = time.Time{}
		want = true
	case c.idleSince.IsZero():
		c.idleSince = now
	case now.Sub(c.idleSince) >= c.cfg.ProtectionIdle:
		want = false
	}
	if want == c.protected {
		c.mu.Unlock()
		return nil
	}
	id := c.instanceID
	c.mu.Unlock()
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	_, err = cl.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(c.cfg.ASG), InstanceIds: []string{id}, ProtectedFromScaleIn: aws.Bool(want),
	})
	if err != nil {
		return fmt.Errorf("instance: SetInstanceProtection %v: %w", want, err)
	}
	c.mu.Lock()
	c.protected = want
	c.mu.Unlock()
	if want {
		c.m.Protected.Set(1)
	} else {
		c.m.Protected.Set(0)
	}
	c.log.Info("scale-in protection set", zap.Bool("protected", want), zap.String("instance_id", id))
	return nil
}

// Finish is called once the worker has stopped. When Auto Scaling is
// terminating the instance and a lifecycle hook is configured, it completes
// the hook with CONTINUE so the termination goes on now instead of at the
// hook's heartbeat timeout. It retries a failing call a few times.
func (c *Controller) Finish(ctx context.Context) error {
	c.mu.Lock()
	terminating, id := c.terminating, c.instanceID
	stop, done := c.stopBeat, c.beatDone
	c.stopBeat = nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if !terminating || c.cfg.LifecycleHook == "" {
		return nil
	}
	cl, err := c.client(ctx)
	if err != nil {
		c.m.LifecycleCompleted.WithLabelValues("error").Inc()
		return err
	}
	in := completeInput(c.cfg.ASG, c.cfg.LifecycleHook, id, ResultContinue)
	delay := 500 * time.Millisecond
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = cl.CompleteLifecycleAction(cctx, in)
		cancel()
		if err == nil {
			c.m.LifecycleCompleted.WithLabelValues("ok").Inc()
			c.log.Info("lifecycle action completed: the instance may terminate", zap.String("instance_id", id),
				zap.String("asg", c.cfg.ASG), zap.String("lifecycle_hook", c.cfg.LifecycleHook), zap.String("result", ResultContinue))
			return nil
		}
		if try == 4 || ctx.Err() != nil {
			c.m.LifecycleCompleted.WithLabelValues("error").Inc()
			return fmt.Errorf("instance: CompleteLifecycleAction: %w", err)
		}
		c.log.Warn("completing the lifecycle action failed; retrying", zap.Error(err), zap.Int("try", try))
		time.Sleep(delay)
		delay *= 2
	}
}
