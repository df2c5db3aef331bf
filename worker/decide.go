package worker

import (
	"errors"
	"fmt"
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
	// ActWait keeps the message (the heartbeat goes on extending its lease)
	// and tries the failed step again after Delay, in this delivery: an
	// infrastructure outage then costs time, not receives.
	ActWait
)

func (a Action) String() string {
	return [...]string{"ack", "retry", "dead-letter", "release", "leave", "wait"}[a]
}

// Verdict is the decision on one message.
type Verdict struct {
	Action Action
	// Delay is how long to wait before the step is tried again (ActWait)
	// or how long the released message stays invisible (ActRetry).
	Delay time.Duration
	// Reason is the error the decision was taken on; for ActDeadLetter it
	// is the dead letter's reason.
	Reason string
	// Class is the error's class (job.json's "reason").
	Class fault.Class
}

// Attempt is where a message stands when a step of its work fails.
type Attempt struct {
	// Receive is the message's receive count, 1 on the first delivery.
	Receive int
	// Waits is how many times this delivery already waited out an
	// infrastructure fault (ActWait), and Held how long those waits were.
	Waits int
	Held  time.Duration
}

// RetryPolicy is what Decide needs besides the error and the attempt.
type RetryPolicy struct {
	// Backoff is the release delay after a failed receive (crashed,
	// transient): Config.Backoff.
	Backoff func(attempt int) time.Duration
	// InfraBackoff is the n-th wait (1 on the first) on an infrastructure
	// fault: Config.InfraBackoff.
	InfraBackoff func(wait int) time.Duration
	// InfraHold is the most one delivery waits in-process on
	// infrastructure faults before it releases the message with the next
	// wait's delay: Config.InfraHold.
	InfraHold time.Duration
	// MaxReceive is the queue's max receive count (0: not known). On that
	// receive a message that would be retried is dead-lettered instead,
	// with the reason "gave up after N attempts: <last error>".
	MaxReceive int
}

// Decide is the worker's whole retry policy, a pure function of a failed
// step's error (nil: done), the message's attempt and the policy,
// table-tested. The steps that carry it out are Worker.keep (ActWait) and
// Worker.apply (the rest).
//
//	nil, job.ErrIgnore      ack
//	fault.Input             dead-letter at once with the error as reason
//	fault.Shutdown          release with no delay
//	fault.LeaseLost         leave the message to its new delivery
//	fault.Infra             wait InfraBackoff(waits+1) with the message held,
//	                        while the waits stay within InfraHold; then as
//	                        below, with that delay
//	fault.Crashed, other    release with Backoff(receive); on the queue's last
//	                        receive (MaxReceive) dead-letter with the reason
//	                        "gave up after N attempts: <error>"
func Decide(err error, a Attempt, p RetryPolicy) Verdict {
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
	case p.MaxReceive > 0 && a.Receive >= p.MaxReceive && !(c == fault.Infra && canWait(a, p)):
		v.Action = ActDeadLetter
		v.Reason = fmt.Sprintf("gave up after %d attempts: %s", a.Receive, v.Reason)
	case c == fault.Infra:
		v.Action, v.Delay = ActRetry, infraDelay(a, p)
		if canWait(a, p) {
			v.Action = ActWait
		}
	default:
		v.Action, v.Delay = ActRetry, p.Backoff(a.Receive)
	}
	return v
}

// infraDelay is the next wait on an infrastructure fault.
func infraDelay(a Attempt, p RetryPolicy) time.Duration {
	if p.InfraBackoff == nil {
		return 0
	}
	return p.InfraBackoff(a.Waits + 1)
}

// canWait reports whether the next wait on an infrastructure fault still
// fits in InfraHold.
func canWait(a Attempt, p RetryPolicy) bool {
	return a.Held+infraDelay(a, p) <= p.InfraHold
}
