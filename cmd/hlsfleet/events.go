package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/events"
)

// envWebhookSecret holds the webhook signing secret (preferred over the
// flag, which shows in ps).
const envWebhookSecret = "HLSFLEET_WEBHOOK_SECRET"

// eventFlags configure the job-event sinks of worker, local and submit.
type eventFlags struct {
	webhook, secret, secretFile, sqs, sns, spool string
}

func (f *eventFlags) register(fs *flag.FlagSet, spool bool) {
	fs.StringVar(&f.webhook, "events-webhook", "", "POST every job event as signed JSON to this URL")
	fs.StringVar(&f.secretFile, "events-webhook-secret-file", "", "file holding the HMAC-SHA256 key for the webhook signature (default: $"+envWebhookSecret+")")
	// Refused with a pointer to the two ways that keep it out of ps.
	fs.StringVar(&f.secret, "events-webhook-secret", "", "no longer accepted (a flag's value shows in ps): use $"+envWebhookSecret+" or --events-webhook-secret-file")
	fs.StringVar(&f.sqs, "events-sqs", "", "send every job event (MediaConvert-style state change) to this SQS queue URL")
	fs.StringVar(&f.sns, "events-sns", "", "publish every job event (MediaConvert-style state change) to this SNS topic ARN")
	if spool {
		fs.StringVar(&f.spool, "events-spool", "", "directory keeping undelivered events across restarts (default: memory only)")
	}
}

// openEvents opens the sinks of a worker's --events-* flags.
func (f *workerFlags) openEvents() (*events.Emitter, error) {
	qurl, err := queueURL(f.queue)
	if err != nil {
		return nil, err
	}
	return f.events.open(context.Background(), newLogger(f.logLevel), qurl)
}

// open starts one sink per configured target (a nil *events.Emitter, which
// sends nothing, when none is). jobQueue is reported in the SQS/SNS
// messages' detail.queue.
func (f *eventFlags) open(ctx context.Context, log *zap.Logger, jobQueue string) (*events.Emitter, error) {
	secret, err := f.webhookSecret()
	if err != nil {
		return nil, err
	}
	e, err := events.Open(ctx, events.Config{
		Webhook: f.webhook, WebhookSecret: secret, SecretHint: envWebhookSecret + " or --events-webhook-secret-file",
		SQS: f.sqs, SNS: f.sns, SpoolDir: f.spool, JobQueue: jobQueue,
	}, log)
	var ce *events.ConfigError
	if errors.As(err, &ce) {
		return nil, usageErr("--events-%s: %v", ce.Target, ce.Err)
	}
	return e, err
}

// webhookSecret is the webhook signing key: from --events-webhook-secret-file,
// else $HLSFLEET_WEBHOOK_SECRET; never from a flag's value (issue N).
func (f *eventFlags) webhookSecret() (string, error) {
	if f.secret != "" {
		return "", usageErr("--events-webhook-secret: a flag's value shows in ps; put the key in $%s or a file named by --events-webhook-secret-file", envWebhookSecret)
	}
	if f.secretFile == "" {
		return os.Getenv(envWebhookSecret), nil
	}
	b, err := os.ReadFile(f.secretFile)
	if err != nil {
		return "", usageErr("--events-webhook-secret-file: %v", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// eventsDrain is how long a stopping worker waits for pending deliveries.
const eventsDrain = 10 * time.Second
