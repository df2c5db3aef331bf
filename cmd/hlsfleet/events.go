package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"time"

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

// jobEvents is the opened --events-* sinks (an *events.Emitter under the
// name and methods the local inbox uses); a nil *jobEvents sends nothing.
type jobEvents events.Emitter

func (e *jobEvents) emitter() *events.Emitter { return (*events.Emitter)(e) }

// queued emits the "queued" event of a job just sent.
func (e *jobEvents) queued(j *job.Job) { e.emitter().Queued(j) }

// close waits up to d for pending deliveries (spooled ones survive).
func (e *jobEvents) close(d time.Duration) { e.emitter().Close(d) }

// openEvents opens the sinks of a worker's --events-* flags.
func (f *workerFlags) openEvents() (*jobEvents, error) {
	qurl, err := queueURL(f.queue)
	if err != nil {
		return nil, err
	}
	return f.events.open(context.Background(), newLogger(f.logLevel), qurl)
}

// open starts one sink per configured target. jobQueue is reported in the
// SQS/SNS messages' detail.queue.
func (f *eventFlags) open(ctx context.Context, log *zap.Logger, jobQueue string) (*jobEvents, error) {
	secret := f.secret
	if secret == "" {
		secret = os.Getenv(envWebhookSecret)
	}
	e, err := events.Open(ctx, events.Config{
		Webhook: f.webhook, WebhookSecret: secret, SecretHint: envWebhookSecret + " or --events-webhook-secret",
		SQS: f.sqs, SNS: f.sns, SpoolDir: f.spool, JobQueue: jobQueue,
	}, log)
	var ce *events.ConfigError
	if errors.As(err, &ce) {
		return nil, usageErr("--events-%s: %v", ce.Target, ce.Err)
	}
	return (*jobEvents)(e), err
}

// eventsDrain is how long a stopping worker waits for pending deliveries.
const eventsDrain = 10 * time.Second
