package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
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
			v := Decide(tc.err, tc.attempt, backoff)
			if v.Action != tc.want || v.Delay != tc.delay || v.Class != tc.class {
				t.Fatalf("Decide(%v, %d) = %v %v %v, want %v %v %v", tc.err, tc.attempt, v.Action, v.Delay, v.Class, tc.want, tc.delay, tc.class)
			}
			if tc.err != nil && v.Reason != tc.err.Error() {
				t.Fatalf("reason %q, want the error's text", v.Reason)
			}
		})
	}
}
