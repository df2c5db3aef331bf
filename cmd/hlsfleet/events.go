package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/job"
)

// envWebhookSecret holds the webhook signing secret (preferred over the
// flag, which shows in ps).
const envWebhookSecret = "HLSFLEET_WEBHOOK_SECRET"

// eventFlags configure the job-event sinks of worker, local and submit.
type eventFlags struct {
	webhook, secret, sqs, sns, spool string
}

func (f *eventFlags) register(fs *flag.FlagSet, spool bool) {
	fs.StringVar(&f.webhook, "events-webhook", "", "POST every job event as signed JSON to this URL")
	fs.StringVar(&f.secret, "events-webhook-secret", "", "HMAC-SHA256 key for the webhook signature (default $"+envWebhookSecret+")")
	fs.StringVar(&f.sqs, "events-sqs", "", "send every job event (MediaConvert-style state change) to this SQS queue URL")
	fs.StringVar(&f.sns, "events-sns", "", "publish every job event (MediaConvert-style state change) to this SNS topic ARN")
	if spool {
		fs.StringVar(&f.spool, "events-spool", "", "directory keeping undelivered events across restarts (default: memory only)")
	}
}

// jobEvents is the configured sinks; a nil *jobEvents sends nothing.
type jobEvents struct {
	sinks   events.Sinks
	log     *zap.Logger
	metrics *events.Metrics
}

// openEvents opens the sinks of a worker's --events-* flags.
func (f *workerFlags) openEvents() (*jobEvents, error) {
	qurl, err := queueURL(f.queue)
	if err != nil {
		return nil, err
	}
	return f.events.open(context.Background(), newLogger(f.logLevel), qurl)
}

// register adds the sinks' metrics to reg.
func (e *jobEvents) register(reg prometheus.Registerer) {
	if e != nil {
		e.metrics.Register(reg)
	}
}

// open starts one sink per configured target. jobQueue is reported in the
// SQS/SNS messages' detail.queue.
func (f *eventFlags) open(ctx context.Context, log *zap.Logger, jobQueue string) (*jobEvents, error) {
	if f.webhook == "" && f.sqs == "" && f.sns == "" {
		return nil, nil
	}
	secret := f.secret
	if secret == "" {
		secret = os.Getenv(envWebhookSecret)
	}
	var ts []events.Transport
	if f.webhook != "" {
		w, err := events.NewWebhook(f.webhook, secret)
		if err != nil {
			return nil, usageErr("--events-webhook: %v", err)
		}
		if secret == "" {
			log.Warn("webhook events are unsigned: set " + envWebhookSecret + " or --events-webhook-secret")
		}
		ts = append(ts, w)
	}
	if f.sqs != "" {
		s, err := events.NewSQS(ctx, f.sqs, jobQueue)
		if err != nil {
			return nil, err
		}
		ts = append(ts, s)
	}
	if f.sns != "" {
		s, err := events.NewSNS(ctx, f.sns, jobQueue)
		if err != nil {
			return nil, usageErr("--events-sns: %v", err)
		}
		ts = append(ts, s)
	}
	m := events.NewMetrics(nil)
	je := &jobEvents{log: log, metrics: m}
	for _, t := range ts {
		o := events.Options{Logger: log, Metrics: m}
		if f.spool != "" {
			o.SpoolDir = f.spool + "/" + t.Name()
		}
		s, err := events.New(t, o)
		if err != nil {
			_ = je.sinks.Close(context.Background())
			return nil, err
		}
		je.sinks = append(je.sinks, s)
	}
	return je, nil
}

// sink is the worker.Config.Events value (nil when none is configured).
func (e *jobEvents) sink() job.EventSink {
	if e == nil {
		return nil
	}
	return e.sinks
}

// combineEvents is one job.EventSink for the non-nil sinks given (e.g.
// the dashboard's and the --events-* sinks), nil for none.
func combineEvents(sinks ...job.EventSink) job.EventSink {
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

// queued emits the "queued" event of a job just sent.
func (e *jobEvents) queued(j *job.Job) {
	if e == nil {
		return
	}
	e.sinks.JobEvent(job.StateChange{Type: events.TypeQueued, Time: time.Now(), Job: j,
		Status: job.Status{JobID: j.ID, State: events.TypeQueued, Source: j.Source, Output: j.Output}})
}

// close waits up to d for pending deliveries (spooled ones survive).
func (e *jobEvents) close(d time.Duration) {
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.sinks.Close(ctx); err != nil {
		e.log.Warn("job events not delivered", zap.Error(err))
	}
}

// eventsDrain is how long a stopping worker waits for pending deliveries.
const eventsDrain = 10 * time.Second
