package worker

import (
	"errors"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
)

// Action is what the worker does with a message once its jobs have run.
type Action uint8

// The actions.
const (
	ActAck        Action = iota // done: published, a duplicate, or a message asking for no work
	ActRetry                    // release with the backoff delay of its attempt
	ActDeadLetter               // move to the dead-letter queue with the reason; never retried
	ActRelease                  // release at once for another worker (this worker is stopping)
	ActLeave                    // the lease is lost: the message belongs to another delivery
)

func (a Action) String() string {
	return [...]string{"ack", "retry", "dead-letter", "release", "leave"}[a]
}

// Verdict is the decision on one message.
type Verdict struct {
	Action Action
	Delay  time.Duration // ActRetry: how long the message stays invisible
	// Reason is the error the decision was taken on; for ActDeadLetter it
	// is the dead letter's reason.
	Reason string
	// Class is the error's class (job.json's "reason").
	Class fault.Class
}

// Decide is the worker's whole retry policy, a pure function of a failed
// step's error (nil: done) and the message's attempt (receive count),
// table-tested. The step that carries it out is Worker.apply.
//
//	nil, job.ErrIgnore      ack
//	fault.Input             dead-letter at once with the error as reason
//	fault.Shutdown          release with no delay
//	fault.LeaseLost         leave the message to its new delivery
//	fault.Crashed, other    release with backoff(attempt); the queue's
//	                        maximum receive count dead-letters a message
//	                        that keeps failing
func Decide(err error, attempt int, backoff func(attempt int) time.Duration) Verdict {
	if err == nil {
		return Verdict{Action: ActAck}
	}
	c := fault.Of(err)
	v := Verdict{Reason: err.Error(), Class: c}
	switch {
	case errors.Is(err, job.ErrIgnore):
		v.Action = ActAck
	case c == fault.Input:
		v.Action = ActDeadLetter
	case c == fault.Shutdown:
		v.Action = ActRelease
	case c == fault.LeaseLost:
		v.Action = ActLeave
	default:
		v.Action, v.Delay = ActRetry, backoff(attempt)
	}
	return v
}
