package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
)

// Admission of jobs onto a GPU's encoder sessions. Every video rendition
// of a job is one encoder session; the device gives a fixed number (the
// capability probe counts them). When too few are free, the job's extra
// renditions spill to CPU encoders (PolicySpill: the job starts now, a GPU
// worker never fails a job for lack of sessions) or the job waits for
// sessions (PolicyWait).

// Policy says what a job does when the device has too few free sessions.
type Policy string

// Policies.
const (
	PolicySpill Policy = "spill"
	PolicyWait  Policy = "wait"
)

// ErrBadPolicy says a --when-full value is not spill or wait.
var ErrBadPolicy = errors.New("unknown session policy")

// ParsePolicy checks a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case PolicySpill, PolicyWait:
		return Policy(s), nil
	case "":
		return PolicySpill, nil
	}
	return "", fmt.Errorf("%w %q: want spill or wait", ErrBadPolicy, s)
}

// Sessions counts the encoder sessions of one device among the jobs of a
// worker. The zero value is unusable; make one with NewSessions.
type Sessions struct {
	mu      sync.Mutex
	total   int
	used    int
	changed chan struct{} // closed and replaced on every release
}

// NewSessions makes a pool of total sessions.
func NewSessions(total int) *Sessions {
	return &Sessions{total: total, changed: make(chan struct{})}
}

// Total is the pool's size.
func (s *Sessions) Total() int { return s.total }

// InUse is how many sessions are held now.
func (s *Sessions) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// grant is the admission decision for want sessions with free of total
// left: how many to take now, or wait (only under PolicyWait, while fewer
// than min(want, total) are free).
func grant(want, free, total int, p Policy) (take int, wait bool) {
	if want <= 0 || total <= 0 {
		return 0, false
	}
	need := min(want, total) // a job larger than the device takes it whole, and spills the rest
	if free >= need {
		return need, false
	}
	if p == PolicyWait {
		return 0, true
	}
	return max(free, 0), false
}

// Acquire takes up to want sessions by policy and returns how many it took
// (0..want); the caller releases exactly that many. Under PolicyWait it
// blocks until enough are free or ctx ends.
func (s *Sessions) Acquire(ctx context.Context, want int, p Policy) (int, error) {
	for {
		s.mu.Lock()
		take, wait := grant(want, s.total-s.used, s.total, p)
		if !wait {
			s.used += take
			s.mu.Unlock()
			return take, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Release returns n sessions.
func (s *Sessions) Release(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.used = max(0, s.used-n)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// AccelRunner runs each job with the worker's accelerator: it counts the
// job's renditions, takes encoder sessions for them and tells the job
// process (job-exec --accel A --gpu-sessions N) how many renditions may use
// the device; a job that gets none runs on the CPU path.
type AccelRunner struct {
	Base   *ProcessRunner
	Accel  string    // resolved accelerator: cpu, nvidia, vaapi, qsv
	Pool   *Sessions // nil: the accelerator has no session limit (hybrid decode, or cpu)
	Policy Policy
	Logger *zap.Logger

	spilled prometheus.Counter // renditions sent to CPU encoders for lack of sessions
	toCPU   prometheus.Counter // whole jobs run on the CPU for lack of sessions
}

// Register adds the session metrics to reg.
func (r *AccelRunner) Register(reg prometheus.Registerer) error {
	r.spilled = prometheus.NewCounter(prometheus.CounterOpts{Name: "hlsfleet_gpu_spilled_renditions_total",
		Help: "Renditions encoded on the CPU because the GPU's encoder sessions were taken."})
	r.toCPU = prometheus.NewCounter(prometheus.CounterOpts{Name: "hlsfleet_gpu_jobs_on_cpu_total",
		Help: "Jobs run wholly on the CPU because the GPU's encoder sessions were taken."})
	cs := []prometheus.Collector{r.spilled, r.toCPU}
	if p := r.Pool; p != nil {
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hlsfleet_gpu_encoder_sessions", Help: "Encoder sessions the GPU gives this worker."},
				func() float64 { return float64(p.Total()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hlsfleet_gpu_encoder_sessions_in_use", Help: "Encoder sessions held by running jobs."},
				func() float64 { return float64(p.InUse()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func inc(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// Run implements Runner.
func (r *AccelRunner) Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
	accel, sessions, release, err := r.admit(ctx, j)
	if err != nil {
		return nil, err
	}
	defer release()
	pr := *r.Base
	base := pr.Args
	if len(base) == 0 {
		base = []string{"job-exec"}
	}
	pr.Args = append(append([]string(nil), base...), "--accel", accel)
	if sessions > 0 {
		pr.Args = append(pr.Args, "--gpu-sessions", fmt.Sprint(sessions))
	}
	return pr.Run(ctx, j, progress)
}

// admit decides the accelerator and session count of one job.
func (r *AccelRunner) admit(ctx context.Context, j *job.Job) (accel string, sessions int, release func(), err error) {
	release = func() {}
	if r.Accel == "" || r.Accel == "cpu" || r.Pool == nil {
		return orCPU(r.Accel), 0, release, nil
	}
	want := JobRenditions(j)
	took, err := r.Pool.Acquire(ctx, want, r.Policy)
	if err != nil {
		return "", 0, release, fmt.Errorf("waiting for GPU encoder sessions: %w", err)
	}
	release = func() { r.Pool.Release(took) }
	log := r.Logger
	if log == nil {
		log = zap.NewNop()
	}
	fields := []zap.Field{zap.String("job_id", j.ID), zap.Int("renditions", want), zap.Int("gpu_sessions", took),
		zap.Int("sessions_in_use", r.Pool.InUse()), zap.Int("sessions_total", r.Pool.Total())}
	switch {
	case took == 0:
		log.Info("encoder sessions full: job runs on the CPU", fields...)
		inc(r.toCPU, 1)
		return "cpu", 0, release, nil
	case took < want:
		log.Info("encoder sessions short: renditions spill to CPU encoders", fields...)
		inc(r.spilled, want-took)
	default:
		log.Debug("encoder sessions taken", fields...)
	}
	return r.Accel, took, release, nil
}

func orCPU(a string) string {
	if a == "" {
		return "cpu"
	}
	return a
}

// JobRenditions is how many video renditions a job can have: its ladder's
// rungs (selection may drop rungs above the source, so this is an upper
// bound). An unknown ladder counts 1; the job fails on it anyway.
func JobRenditions(j *job.Job) int {
	l, err := ladders.Load(j.LadderName())
	if err != nil || len(l.Renditions) == 0 {
		return 1
	}
	return len(l.Renditions)
}
