// Package events delivers job events (job.StateChange) to external systems: an
// HTTP webhook signed with HMAC-SHA256 (webhook.go) and AWS SQS or SNS
// with a message shaped like MediaConvert's "Job State Change" EventBridge
// event (aws.go).
//
// # Delivery
//
// Every sink is a Sink: JobEvent formats the event, gives it an idempotency
// key and hands it to the sink's goroutines without waiting (a full queue
// drops the event with a log line and a metric, never blocks the job).
// Events of one job are delivered one at a time, in order: the next waits
// until the previous one is delivered or given up. Events of different jobs
// go out concurrently (Options.Concurrency). A failed attempt is retried
// with full-jitter exponential backoff (1 s doubling to 10 min) until the
// event is 24 h old, then dropped with an error log line.
//
// With Options.SpoolDir each accepted event is first written to a file
// there and removed once delivered or given up, so a restart delivers what
// was pending (in the original order, with the original idempotency key and
// 24 h window). Without a spool, pending events live only in memory and
// Close waits for them only as long as its context allows.
//
// Delivery is at least once: a receiver deduplicates on the event id (the
// body's "id", also the X-Hlsfleet-Event-Id and Idempotency-Key headers).
package events

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
)

// TypeQueued is the event of a job entering the queue, emitted by the
// submitting side (`hlsfleet submit`, the local inbox); the worker emits
// the other types (job.EventStarted ...).
const TypeQueued = "queued"

// Defaults of Options.
const (
	DefaultQueueSize   = 10000
	DefaultMaxAge      = 24 * time.Hour
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = 10 * time.Minute
	DefaultConcurrency = 8
	DefaultTimeout     = 10 * time.Second
)

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("events: sink closed")

// Transport formats and delivers events for one destination.
type Transport interface {
	// Name labels the sink in logs and metrics ("webhook", "sqs", "sns").
	Name() string
	// Format builds the message body of e under the idempotency key id.
	Format(id string, seq uint64, e job.StateChange) ([]byte, error)
	// Deliver sends one record; an error means try again later.
	Deliver(ctx context.Context, r *Record) error
}

// Record is one event as spooled and delivered.
type Record struct {
	ID      string          `json:"id"`  // idempotency key
	Seq     uint64          `json:"seq"` // acceptance order in this sink
	JobID   string          `json:"job_id"`
	Type    string          `json:"type"`
	Created time.Time       `json:"created"`
	Body    json.RawMessage `json:"body"`
}

// Options configure a Sink; zero values mean the defaults above.
type Options struct {
	SpoolDir    string // durable pending events; "" = memory only
	QueueSize   int    // pending events at most; more are dropped
	MaxAge      time.Duration
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	Concurrency int           // deliveries in flight at once
	Timeout     time.Duration // per attempt
	Logger      *zap.Logger
	Metrics     *Metrics
}

// Sink delivers the events of one Transport; it implements job.EventSink.
type Sink struct {
	t    Transport
	o    Options
	log  *zap.Logger
	m    *Metrics
	seq  atomic.Uint64
	sem  chan struct{}
	stop chan struct{}
	base context.Context
	kill context.CancelFunc

	mu      sync.Mutex
	jobs    map[string][]*Record // pending per job, oldest first
	pending int
	closed  bool
	idle    *sync.Cond
	wg      sync.WaitGroup
}

var _ job.EventSink = (*Sink)(nil)

// New starts a sink. Events left in o.SpoolDir by an earlier run are queued
// again first.
func New(t Transport, o Options) (*Sink, error) {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	s := &Sink{t: t, o: o, log: o.Logger.With(zap.String("sink", t.Name())), m: o.Metrics,
		sem: make(chan struct{}, o.Concurrency), stop: make(chan struct{}), jobs: map[string][]*Record{}}
	s.idle = sync.NewCond(&s.mu)
	// Every series exists from the start, at zero.
	s.m.Delivered.WithLabelValues(t.Name())
	s.m.Failures.WithLabelValues(t.Name())
	s.m.Pending.WithLabelValues(t.Name())
	for _, r := range []string{"queue_full", "expired", "closed", "format"} {
		s.m.Dropped.WithLabelValues(t.Name(), r)
	}
	s.base, s.kill = context.WithCancel(context.Background())
	if o.SpoolDir != "" {
		if err := os.MkdirAll(o.SpoolDir, 0o755); err != nil {
			return nil, fmt.Errorf("events: spool directory: %w", err)
		}
		recs, err := s.loadSpool()
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			s.seq.Store(max(s.seq.Load(), r.Seq))
			s.enqueue(r)
		}
		if len(recs) > 0 {
			s.log.Info("events: resuming spooled deliveries", zap.Int("events", len(recs)))
		}
	}
	return s, nil
}

// JobEvent implements job.EventSink: it never blocks on the network.
func (s *Sink) JobEvent(e job.StateChange) {
	jobID := e.Status.JobID
	if e.Job != nil {
		jobID = e.Job.ID
	}
	seq := s.seq.Add(1)
	id := newID()
	body, err := s.t.Format(id, seq, e)
	if err != nil {
		s.log.Error("events: formatting an event", zap.String("job_id", jobID), zap.String("type", e.Type), zap.Error(err))
		s.m.Dropped.WithLabelValues(s.t.Name(), "format").Inc()
		return
	}
	r := &Record{ID: id, Seq: seq, JobID: jobID, Type: e.Type, Created: e.Time, Body: body}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	s.mu.Lock()
	full, closed := s.pending >= s.o.QueueSize, s.closed
	s.mu.Unlock()
	if closed || full {
		reason := "queue_full"
		if closed {
			reason = "closed"
		}
		s.log.Warn("events: event dropped", zap.String("job_id", jobID), zap.String("type", e.Type), zap.String("reason", reason))
		s.m.Dropped.WithLabelValues(s.t.Name(), reason).Inc()
		return
	}
	if s.o.SpoolDir != "" {
		if err := s.spool(r); err != nil {
			// Still delivered from memory; only a restart would lose it.
			s.log.Warn("events: spooling an event", zap.String("job_id", jobID), zap.Error(err))
		}
	}
	s.enqueue(r)
}

// enqueue adds r behind its job's pending events, starting the job's
// delivery goroutine when it has none.
func (s *Sink) enqueue(r *Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, running := s.jobs[r.JobID]
	s.jobs[r.JobID] = append(q, r)
	s.pending++
	s.m.Pending.WithLabelValues(s.t.Name()).Inc()
	if !running {
		s.wg.Add(1)
		go s.runJob(r.JobID)
	}
}

// runJob delivers one job's events in order until none is left.
func (s *Sink) runJob(jobID string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		q := s.jobs[jobID]
		if len(q) == 0 {
			delete(s.jobs, jobID)
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		r := q[0]
		s.mu.Unlock()
		if !s.deliver(r) {
			return // stopping: the record stays spooled
		}
		s.unspool(r)
		s.mu.Lock()
		s.jobs[jobID] = s.jobs[jobID][1:]
		s.pending--
		s.m.Pending.WithLabelValues(s.t.Name()).Dec()
		s.idle.Broadcast()
		s.mu.Unlock()
	}
}

// deliver tries r until it is delivered or too old (true), or the sink
// stops (false).
func (s *Sink) deliver(r *Record) bool {
	for attempt := 0; ; attempt++ {
		select {
		case s.sem <- struct{}{}:
		case <-s.stop:
			return false
		}
		ctx, cancel := context.WithTimeout(s.base, s.o.Timeout)
		err := s.t.Deliver(ctx, r)
		cancel()
		<-s.sem
		if err == nil {
			s.m.Delivered.WithLabelValues(s.t.Name()).Inc()
			s.log.Debug("events: delivered", zap.String("job_id", r.JobID), zap.String("type", r.Type), zap.String("event_id", r.ID), zap.Int("attempts", attempt+1))
			return true
		}
		s.m.Failures.WithLabelValues(s.t.Name()).Inc()
		age := time.Since(r.Created)
		if age >= s.o.MaxAge {
			s.log.Error("events: giving up on an event", zap.String("job_id", r.JobID), zap.String("type", r.Type),
				zap.String("event_id", r.ID), zap.Int("attempts", attempt+1), zap.Duration("age", age), zap.Error(err))
			s.m.Dropped.WithLabelValues(s.t.Name(), "expired").Inc()
			return true
		}
		wait := s.backoff(attempt)
		if left := s.o.MaxAge - age; wait > left {
			wait = left
		}
		s.log.Warn("events: delivery failed, retrying", zap.String("job_id", r.JobID), zap.String("type", r.Type),
			zap.String("event_id", r.ID), zap.Int("attempt", attempt+1), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return false
		}
	}
}

// backoff is full jitter over MinBackoff*2^attempt, capped at MaxBackoff.
func (s *Sink) backoff(attempt int) time.Duration {
	d := float64(s.o.MinBackoff) * math.Pow(2, float64(min(attempt, 30)))
	d = math.Min(d, float64(s.o.MaxBackoff))
	return time.Duration(d/2 + rand.Float64()*d/2)
}

// Pending is the number of events not yet delivered or given up.
func (s *Sink) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Flush waits until nothing is pending or ctx is done.
func (s *Sink) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.idle.Broadcast()
			s.mu.Unlock()
		case <-done:
		}
	}()
	defer close(done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pending > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("events: %d %s event(s) still pending: %w", s.pending, s.t.Name(), ctx.Err())
		}
		s.idle.Wait()
	}
	return nil
}

// Close stops accepting events, waits (until ctx is done) for the pending
// ones, then stops the deliveries; what is still pending stays in the spool.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.Flush(ctx)
	close(s.stop)
	s.kill()
	s.wg.Wait()
	if err != nil && s.o.SpoolDir != "" {
		s.log.Warn("events: pending events kept in the spool for the next start", zap.Int("events", s.Pending()), zap.String("spool", s.o.SpoolDir))
		return nil
	}
	return err
}

func (s *Sink) spoolPath(r *Record) string {
	return filepath.Join(s.o.SpoolDir, fmt.Sprintf("%020d-%s.json", r.Seq, r.ID))
}

// spool writes r atomically (temporary file, then rename).
func (s *Sink) spool(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := s.spoolPath(r)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (s *Sink) unspool(r *Record) {
	if s.o.SpoolDir == "" {
		return
	}
	if err := os.Remove(s.spoolPath(r)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("events: removing a delivered event from the spool", zap.Error(err))
	}
}

// loadSpool reads the spooled records, oldest first; unreadable files are
// logged and left alone.
func (s *Sink) loadSpool() ([]*Record, error) {
	entries, err := os.ReadDir(s.o.SpoolDir)
	if err != nil {
		return nil, fmt.Errorf("events: reading the spool: %w", err)
	}
	var recs []*Record
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.o.SpoolDir, e.Name()))
		var r Record
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil || r.ID == "" {
			s.log.Warn("events: unreadable spool file skipped", zap.String("file", e.Name()), zap.Error(err))
			continue
		}
		recs = append(recs, &r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	return recs, nil
}

func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Metrics are the sinks' Prometheus metrics, labelled by sink.
type Metrics struct {
	Delivered *prometheus.CounterVec
	Failures  *prometheus.CounterVec
	Dropped   *prometheus.CounterVec
	Pending   *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlsfleet_events_delivered_total", Help: "Job events delivered."}, []string{"sink"}),
		Failures:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlsfleet_events_delivery_failures_total", Help: "Failed delivery attempts of job events (each is retried)."}, []string{"sink"}),
		Dropped:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlsfleet_events_dropped_total", Help: "Job events never delivered, by reason: queue_full, expired, closed, format."}, []string{"sink", "reason"}),
		Pending:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hlsfleet_events_pending", Help: "Job events accepted and not yet delivered."}, []string{"sink"}),
	}
	m.Register(reg)
	return m
}

// Register adds the metrics to reg (nil: nothing).
func (m *Metrics) Register(reg prometheus.Registerer) {
	if reg != nil {
		reg.MustRegister(m.Delivered, m.Failures, m.Dropped, m.Pending)
	}
}

// Sinks fans events out to several sinks and closes them together.
type Sinks []*Sink

// JobEvent implements job.EventSink.
func (ss Sinks) JobEvent(e job.StateChange) {
	for _, s := range ss {
		s.JobEvent(e)
	}
}

// Close closes every sink, sharing ctx's deadline.
func (ss Sinks) Close(ctx context.Context) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
