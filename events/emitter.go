package events

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
)

// Config names a process's event targets; an empty target is off.
type Config struct {
	Webhook       string // URL the events are POSTed to
	WebhookSecret string // HMAC-SHA256 key of the signature ("": unsigned)
	// SecretHint completes the warning logged when the webhook has no
	// secret: "webhook events are unsigned: set " + SecretHint.
	SecretHint string
	SQS        string // queue URL the state-change messages are sent to
	SNS        string // topic ARN they are published to
	// SpoolDir, when set, keeps each target's undelivered events in
	// SpoolDir/<target> across restarts.
	SpoolDir string
	// JobQueue is the job queue's URL, reported in the SQS/SNS messages'
	// detail.queue.
	JobQueue string
}

// ConfigError is a Config's target that cannot be used (a malformed
// webhook URL or topic ARN): a request fault, not a passing one.
type ConfigError struct {
	Target string // "webhook" or "sns"
	Err    error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("events %s: %v", e.Target, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// Emitter is the sinks opened from a Config, with their shared metrics. A
// nil *Emitter (no target configured) sends nothing.
type Emitter struct {
	sinks   Sinks
	log     *zap.Logger
	metrics *Metrics
}

// Open starts one Sink per configured target; with none it returns nil.
func Open(ctx context.Context, cfg Config, log *zap.Logger) (*Emitter, error) {
	if cfg.Webhook == "" && cfg.SQS == "" && cfg.SNS == "" {
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	var ts []Transport
	if cfg.Webhook != "" {
		w, err := NewWebhook(cfg.Webhook, cfg.WebhookSecret)
		if err != nil {
			return nil, &ConfigError{Target: "webhook", Err: err}
		}
		if cfg.WebhookSecret == "" {
			log.Warn("webhook events are unsigned: set " + cfg.SecretHint)
		}
		ts = append(ts, w)
	}
	if cfg.SQS != "" {
		s, err := NewSQS(ctx, cfg.SQS, cfg.JobQueue)
		if err != nil {
			return nil, err
		}
		ts = append(ts, s)
	}
	if cfg.SNS != "" {
		s, err := NewSNS(ctx, cfg.SNS, cfg.JobQueue)
		if err != nil {
			return nil, &ConfigError{Target: "sns", Err: err}
		}
		ts = append(ts, s)
	}
	e := &Emitter{log: log, metrics: NewMetrics(nil)}
	for _, t := range ts {
		o := Options{Logger: log, Metrics: e.metrics}
		if cfg.SpoolDir != "" {
			o.SpoolDir = cfg.SpoolDir + "/" + t.Name()
		}
		s, err := New(t, o)
		if err != nil {
			_ = e.sinks.Close(context.Background())
			return nil, err
		}
		e.sinks = append(e.sinks, s)
	}
	return e, nil
}

// Register adds the sinks' metrics to reg.
func (e *Emitter) Register(reg prometheus.Registerer) {
	if e != nil {
		e.metrics.Register(reg)
	}
}

// Sink is the sinks as one job.EventSink (a worker's Config.Events); nil
// for a nil Emitter.
func (e *Emitter) Sink() job.EventSink {
	if e == nil {
		return nil
	}
	return e.sinks
}

// Queued emits the "queued" event of a job just sent.
func (e *Emitter) Queued(j *job.Job) {
	if e == nil {
		return
	}
	e.sinks.JobEvent(job.StateChange{Type: TypeQueued, Time: time.Now(), Job: j,
		Status: job.Status{JobID: j.ID, State: TypeQueued, Source: j.Source, Output: j.Output}})
}

// Close waits up to d for pending deliveries (spooled ones survive) and
// logs what was left undelivered.
func (e *Emitter) Close(d time.Duration) {
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.sinks.Close(ctx); err != nil {
		e.log.Warn("job events not delivered", zap.Error(err))
	}
}

// Combine is one job.EventSink for the non-nil sinks given (e.g. the
// dashboard's and an Emitter's), nil for none.
func Combine(sinks ...job.EventSink) job.EventSink {
	var out job.EventSinks
	for _, s := range sinks {
		if s != nil {
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}
