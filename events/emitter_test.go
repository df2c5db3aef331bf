package events_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/job"
)

// TestOpenNothing: no target is a nil Emitter, and a nil Emitter is safe.
func TestOpenNothing(t *testing.T) {
	e, err := events.Open(context.Background(), events.Config{JobQueue: "local:///q", SpoolDir: t.TempDir()}, nil)
	if err != nil || e != nil {
		t.Fatalf("Open(no targets) = %v, %v; want nil, nil", e, err)
	}
	if s := e.Sink(); s != nil {
		t.Errorf("nil Emitter's Sink() = %#v, want a nil interface", s)
	}
	e.Queued(&job.Job{ID: "j"})
	e.Register(prometheus.NewRegistry())
	e.Close(time.Second)
}

// TestOpenConfigErrors: a malformed webhook URL or topic ARN is a
// ConfigError naming its target.
func TestOpenConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg    events.Config
		target string
	}{
		{events.Config{Webhook: "ftp://example.com/hook"}, "webhook"},
		{events.Config{SNS: "topic-without-arn"}, "sns"},
	} {
		e, err := events.Open(context.Background(), tc.cfg, nil)
		var ce *events.ConfigError
		if e != nil || !errors.As(err, &ce) || ce.Target != tc.target {
			t.Errorf("Open(%+v) = %v, %v; want a ConfigError for %s", tc.cfg, e, err, tc.target)
		}
	}
}

// TestEmitterQueuedWebhook: Queued reaches the webhook as a signed "queued"
// event, spooled under SpoolDir/webhook meanwhile, and Close waits for it.
func TestEmitterQueuedWebhook(t *testing.T) {
	rc, srv := newReceiver(t)
	spool := t.TempDir()
	core, logs := observer.New(zapcore.WarnLevel)
	e, err := events.Open(context.Background(), events.Config{Webhook: srv.URL, WebhookSecret: secret, SpoolDir: spool}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e.Register(reg)
	if e.Sink() == nil {
		t.Fatal("Sink() is nil with a webhook")
	}
	j := &job.Job{ID: "job1", Source: "s3://in/a.mp4", Output: "s3://out/a"}
	e.Queued(j)
	e.Close(10 * time.Second)
	if len(rc.got) != 1 || rc.got[0].Type != events.TypeQueued || rc.got[0].JobID != "job1" ||
		rc.got[0].Status.State != events.TypeQueued || rc.got[0].Status.Output != "s3://out/a" {
		t.Fatalf("webhook got %+v, want one queued event of job1", rc.got)
	}
	if rc.badSig != 0 {
		t.Errorf("%d deliveries with a bad signature", rc.badSig)
	}
	if _, err := os.Stat(filepath.Join(spool, "webhook")); err != nil {
		t.Errorf("no spool folder for the webhook: %v", err)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("%d warnings logged, want none: %v", n, logs.All())
	}
	if mf, err := reg.Gather(); err != nil || len(mf) == 0 {
		t.Errorf("Register: %d metric families, %v", len(mf), err)
	}
}

// TestEmitterUnsignedWarning: a webhook without a secret is logged once
// with the caller's hint.
func TestEmitterUnsignedWarning(t *testing.T) {
	_, srv := newReceiver(t)
	core, logs := observer.New(zapcore.WarnLevel)
	e, err := events.Open(context.Background(), events.Config{Webhook: srv.URL, SecretHint: "HINT"}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	e.Close(time.Second)
	if got := logs.FilterMessage("webhook events are unsigned: set HINT").Len(); got != 1 {
		t.Errorf("unsigned warnings %d, want 1: %v", got, logs.All())
	}
}

type countSink struct{ n int }

func (c *countSink) JobEvent(job.StateChange) { c.n++ }

func TestCombine(t *testing.T) {
	if s := events.Combine(); s != nil {
		t.Errorf("Combine() = %#v, want nil", s)
	}
	if s := events.Combine(nil, nil); s != nil {
		t.Errorf("Combine(nil, nil) = %#v, want nil", s)
	}
	a, b := &countSink{}, &countSink{}
	if s := events.Combine(nil, a); s != job.EventSink(a) {
		t.Errorf("Combine(nil, a) = %#v, want a itself", s)
	}
	events.Combine(a, nil, b).JobEvent(job.StateChange{Type: job.EventStarted})
	if a.n != 1 || b.n != 1 {
		t.Errorf("events seen %d, %d; want 1, 1", a.n, b.n)
	}
}
