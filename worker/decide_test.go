package worker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

func TestDecide(t *testing.T) {
	backoff := func(attempt int) time.Duration { return time.Duration(attempt) * time.Second }
	for _, tc := range []struct {
		name    string
		err     error
		attempt int
		want    Action
		delay   time.Duration
		class   fault.Class
	}{
		{"done", nil, 1, ActAck, 0, fault.Transient},
		{"ignored message", fmt.Errorf("%w: s3:TestEvent", job.ErrIgnore), 1, ActAck, 0, fault.Transient},
		{"bad input", fmt.Errorf("job 1: %w", fault.Under(fault.New(fault.Input, "input is at fault"), "not a media file")), 1, ActDeadLetter, 0, fault.Input},
		{"bad input late attempt", fmt.Errorf("%w: x", job.ErrPermanent), 4, ActDeadLetter, 0, fault.Input},
		{"invalid job", fmt.Errorf("%w: no source", job.ErrInvalid), 2, ActDeadLetter, 0, fault.Input},
		{"crash first", fmt.Errorf("%w: signal 11", ErrCrashed), 1, ActRetry, time.Second, fault.Crashed},
		{"crash third", fmt.Errorf("%w: signal 9", ErrCrashed), 3, ActRetry, 3 * time.Second, fault.Crashed},
		{"transient", errors.New("connection reset"), 2, ActRetry, 2 * time.Second, fault.Transient},
		{"shutdown", errShutdown, 5, ActRelease, 0, fault.Shutdown},
		{"interrupted", errInterrupted, 1, ActRelease, 0, fault.Shutdown},
		{"lease lost", fmt.Errorf("x: %w", errLeaseLost), 2, ActLeave, 0, fault.LeaseLost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.err, Attempt{Receive: tc.attempt}, RetryPolicy{Backoff: backoff})
			if v.Action != tc.want || v.Delay != tc.delay || v.Class != tc.class {
				t.Fatalf("Decide(%v, %d) = %v %v %v, want %v %v %v", tc.err, tc.attempt, v.Action, v.Delay, v.Class, tc.want, tc.delay, tc.class)
			}
			if tc.err != nil && v.Reason != tc.err.Error() {
				t.Fatalf("reason %q, want the error's text", v.Reason)
			}
		})
	}
}

// TestDecideInfra: an infrastructure fault is waited out in the delivery
// (ActWait, InfraBackoff of the next wait) while the waits fit in
// InfraHold; then the message is released with that delay, and on the
// queue's last receive dead-lettered with the last error. The other
// retryable classes are dead-lettered on the last receive too, when the
// worker knows it.
func TestDecideInfra(t *testing.T) {
	p := RetryPolicy{
		Backoff:      func(attempt int) time.Duration { return time.Duration(attempt) * time.Second },
		InfraBackoff: func(n int) time.Duration { return time.Duration(n) * time.Minute },
		InfraHold:    10 * time.Minute,
		MaxReceive:   3,
	}
	s3down := fmt.Errorf("checking for a published output: storage: stat %q: %w: dial tcp: connection refused", "master.m3u8", storage.ErrUnavailable)
	sqsdown := fmt.Errorf("queue: sqs send: %w: throttled", queue.ErrUnavailable)
	child := fault.As(fault.Infra, errors.New("job process failed (exit 1): writing 720p/seg_00001.ts: storage unavailable"))
	crash := fmt.Errorf("%w: signal 9", ErrCrashed)
	for _, tc := range []struct {
		name   string
		err    error
		a      Attempt
		want   Action
		delay  time.Duration
		reason string // "" : the error's text
	}{
		{"storage down, first wait", s3down, Attempt{Receive: 1}, ActWait, time.Minute, ""},
		{"queue down, third wait", sqsdown, Attempt{Receive: 1, Waits: 2, Held: 3 * time.Minute}, ActWait, 3 * time.Minute, ""},
		{"child saw storage down", child, Attempt{Receive: 2}, ActWait, time.Minute, ""},
		{"waits fill the hold exactly", s3down, Attempt{Receive: 1, Waits: 3, Held: 6 * time.Minute}, ActWait, 4 * time.Minute, ""},
		{"hold spent: release with the next wait", s3down, Attempt{Receive: 1, Waits: 4, Held: 10 * time.Minute}, ActRetry, 5 * time.Minute, ""},
		{"last receive still waits", s3down, Attempt{Receive: 3, Waits: 1, Held: time.Minute}, ActWait, 2 * time.Minute, ""},
		{"last receive, hold spent", s3down, Attempt{Receive: 3, Waits: 4, Held: 10 * time.Minute}, ActDeadLetter, 0, "gave up after 3 attempts: " + s3down.Error()},
		{"past the last receive", child, Attempt{Receive: 4, Waits: 4, Held: 10 * time.Minute}, ActDeadLetter, 0, "gave up after 4 attempts: " + child.Error()},
		{"crash before the last receive", crash, Attempt{Receive: 2}, ActRetry, 2 * time.Second, ""},
		{"crash on the last receive", crash, Attempt{Receive: 3}, ActDeadLetter, 0, "gave up after 3 attempts: " + crash.Error()},
		{"transient on the last receive", errors.New("boom"), Attempt{Receive: 3}, ActDeadLetter, 0, "gave up after 3 attempts: boom"},
		{"input is not an outage", fmt.Errorf("%w: x", job.ErrPermanent), Attempt{Receive: 1}, ActDeadLetter, 0, ""},
		{"lease lost while waiting", errLeaseLost, Attempt{Receive: 1, Waits: 2}, ActLeave, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.err, tc.a, p)
			reason := tc.reason
			if reason == "" {
				reason = tc.err.Error()
			}
			if v.Action != tc.want || v.Delay != tc.delay || v.Reason != reason {
				t.Fatalf("Decide(%v, %+v) = %v %v %q, want %v %v %q", tc.err, tc.a, v.Action, v.Delay, v.Reason, tc.want, tc.delay, reason)
			}
			if v.Class != fault.Of(tc.err) {
				t.Fatalf("class %v, want %v", v.Class, fault.Of(tc.err))
			}
		})
	}
	// Without MaxReceive the queue's own redrive ends a retry storm.
	p.MaxReceive = 0
	if v := Decide(s3down, Attempt{Receive: 9, Waits: 4, Held: 10 * time.Minute}, p); v.Action != ActRetry || strings.HasPrefix(v.Reason, "gave up") {
		t.Fatalf("without MaxReceive: %v %q, want a release", v.Action, v.Reason)
	}
	// A negative hold never waits in the delivery.
	p.InfraHold = -1
	if v := Decide(s3down, Attempt{Receive: 1}, p); v.Action != ActRetry || v.Delay != time.Minute {
		t.Fatalf("negative hold: %v %v, want a release after a minute", v.Action, v.Delay)
	}
}

func TestInfraBackoff(t *testing.T) {
	for n, ceil := range map[int]time.Duration{0: 5 * time.Second, 1: 5 * time.Second, 2: 10 * time.Second,
		4: 40 * time.Second, 6: 160 * time.Second, 7: 5 * time.Minute, 50: 5 * time.Minute} {
		if d := InfraBackoff(n, nil); d != ceil {
			t.Errorf("InfraBackoff(%d, nil) = %v, want the ceiling %v", n, d, ceil)
		}
		if d := InfraBackoff(n, func() float64 { return 0 }); d != ceil/2 {
			t.Errorf("InfraBackoff(%d, 0) = %v, want half the ceiling %v", n, d, ceil/2)
		}
		if d := InfraBackoff(n, func() float64 { return 0.5 }); d != ceil*3/4 {
			t.Errorf("InfraBackoff(%d, 0.5) = %v, want %v", n, d, ceil*3/4)
		}
		for range 50 {
			if d := DefaultInfraBackoff(n); d < ceil/2 || d > ceil {
				t.Errorf("DefaultInfraBackoff(%d) = %v, outside [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
	// Five waits cover a 60 s outage whatever the jitter.
	var least time.Duration
	for n := 1; n <= 5; n++ {
		least += InfraBackoff(n, func() float64 { return 0 })
	}
	if least < 60*time.Second {
		t.Errorf("five waits add up to at least %v, want at least 60 s", least)
	}
}
