package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoDeadLetterQueue: an SQS queue has no dead-letter queue to list or
// redrive from (no Options.DLQ, and no RedrivePolicy naming one).
var ErrNoDeadLetterQueue = errors.New("queue: no dead-letter queue")

// DeadLetterStore is a queue's dead letters: what DeadLetter and the
// max-receive redrive moved out of it. The local driver keeps them in its
// own file; the sqs driver reads its dead-letter queue (Options.DLQ, else
// the queue its RedrivePolicy names). Both drivers implement it; get it from
// a Queue with a type assertion, q.(queue.DeadLetterStore).
//
// Its methods are safe for concurrent use. The conformance suite
// (queue/queuetest) checks these contracts on every driver.
type DeadLetterStore interface {
	// ListDeadLetters returns up to max dead letters (max <= 0: all of
	// them), oldest first where the backend knows (local: in the order they
	// were moved; SQS: as the dead-letter queue hands them out). Each
	// carries its Reason, its body, group and attributes as sent, and in ID
	// the id the message had in this queue (a message the broker moved
	// itself keeps its id). Listing consumes nothing and changes no
	// message's place. On SQS there is no peek: each dead letter is received
	// with a lease and released before ListDeadLetters returns, so other
	// readers of the dead-letter queue do not see it meanwhile, and a FIFO
	// dead-letter queue shows only the first message of each group.
	ListDeadLetters(ctx context.Context, max int) ([]DeadLetter, error)
	// Redrive moves the dead letters named by ids (DeadLetter.ID; on SQS
	// also the dead-letter queue's own message id) back to this queue:
	// body, group and attributes as first sent (less AttrReason and
	// AttrOriginalID), visible at once, with a fresh receive count. It
	// returns how many it moved. An id that names no dead letter does not
	// stop the others: they are moved and the error wraps ErrNotFound and
	// names the missing ids. No ids: nothing is moved. The local driver
	// moves a message under its old id, in one transaction; SQS sends a new
	// message (with a new id) and then deletes the dead letter, so a failure
	// in between leaves the job in both queues, never in neither.
	Redrive(ctx context.Context, ids ...string) (int, error)
	// RedriveAll moves every dead letter back (as Redrive) and returns how
	// many it moved. A message dead-lettered again while RedriveAll runs
	// stays where it is.
	RedriveAll(ctx context.Context) (int, error)
}

// notFound is the error of a Redrive whose ids named no dead letter.
func notFound(missing []string) error {
	q := make([]string, len(missing))
	for i, id := range missing {
		q[i] = strconv.Quote(id)
	}
	if len(q) == 1 {
		return fmt.Errorf("%w: dead letter %s", ErrNotFound, q[0])
	}
	return fmt.Errorf("%w: dead letters %s", ErrNotFound, strings.Join(q, ", "))
}

// dlqLease is how long a listing or a redrive holds each dead letter it
// received from a dead-letter queue (all are released at the end).
const dlqLease = 2 * time.Minute

// DLQ returns the dead letters of src that are kept in dlq, a dead-letter
// queue (what the sqs driver uses for its own). Listing receives from dlq
// and releases what it received; Redrive moves a dead letter with SendBack.
// dlq should not redrive its own messages (local: Options.MaxReceive < 0),
// since listing receives them.
func DLQ(src, dlq Queue) DeadLetterStore { return &dlqStore{src: src, dlq: dlq} }

type dlqStore struct {
	src, dlq Queue
	// mu keeps a listing and a redrive in this process from hiding dead
	// letters from each other.
	mu sync.Mutex
}

// each receives every message of the dead-letter queue once and calls fn
// with it. fn says whether it consumed the message (the others are released
// at the end) and whether to stop. A message seen a second time (its lease
// ran out) is released without a second call, and a batch of only such
// messages ends the walk.
func (s *dlqStore) each(ctx context.Context, fn func(m Message) (used, stop bool, err error)) error {
	seen := map[string]bool{}
	var keep []Message
	defer func() {
		for _, m := range keep {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_ = s.dlq.Release(rctx, m, 0)
			cancel()
		}
	}()
	for {
		// A short long poll: SQS's wait-0 receive samples only some of its
		// servers and can come back empty while messages wait.
		msgs, err := s.dlq.Receive(ctx, MaxBatch, time.Second, dlqLease)
		if err != nil {
			return fmt.Errorf("receiving from the dead-letter queue: %w", err)
		}
		if len(msgs) == 0 {
			return nil
		}
		fresh := 0
		for i, m := range msgs {
			if seen[m.ID] {
				keep = append(keep, m)
				continue
			}
			seen[m.ID] = true
			fresh++
			used, stop, err := fn(m)
			if !used {
				keep = append(keep, m)
			}
			if err != nil || stop {
				keep = append(keep, msgs[i+1:]...)
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}

func (s *dlqStore) ListDeadLetters(ctx context.Context, max int) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []DeadLetter{}
	err := s.each(ctx, func(m Message) (bool, bool, error) {
		out = append(out, DeadLetterOf(m))
		return false, max > 0 && len(out) >= max, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *dlqStore) Redrive(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	missing := maps.Clone(want)
	n, err := s.redrive(ctx, func(d DeadLetter, dlqID string) (bool, bool) {
		if !want[d.ID] && !want[dlqID] {
			return false, false
		}
		delete(missing, d.ID)
		delete(missing, dlqID)
		return true, len(missing) == 0
	})
	if err == nil && len(missing) > 0 {
		err = notFound(slices.Sorted(maps.Keys(missing)))
	}
	return n, err
}

func (s *dlqStore) RedriveAll(ctx context.Context) (int, error) {
	return s.redrive(ctx, func(DeadLetter, string) (bool, bool) { return true, false })
}

// redrive sends back each dead letter that match chooses (match also says
// whether this one is the last wanted).
func (s *dlqStore) redrive(ctx context.Context, match func(d DeadLetter, dlqID string) (ok, last bool)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := map[string]bool{} // original ids sent back in this run
	n := 0
	err := s.each(ctx, func(m Message) (bool, bool, error) {
		d := DeadLetterOf(m)
		if done[d.ID] {
			return false, false, nil // dead-lettered again since we sent it back: leave it
		}
		ok, last := match(d, m.ID)
		if !ok {
			return false, false, nil
		}
		if err := SendBack(ctx, s.src, s.dlq, m); err != nil {
			return false, true, err
		}
		done[d.ID] = true
		n++
		return true, last, nil
	})
	return n, err
}
