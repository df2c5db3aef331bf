package queue

import (
	"context"
	"errors"
	"strings"
	"time"
)

// WithFallback reads primary first and, when primary has nothing within
// half of a Receive's wait, reads fallback: a GPU worker serves its GPU
// queue and helps with the CPU queue when idle. Every message keeps
// working with the queue it came from (its receipt is tagged); Send and
// Stats go to primary; Close closes both.
func WithFallback(primary, fallback Queue) Queue {
	return &fallbackQueue{primary: primary, fallback: fallback}
}

type fallbackQueue struct {
	primary, fallback Queue
}

const (
	tagPrimary  = "p|"
	tagFallback = "f|"
)

// Origin returns the queue message m, received from q, came from: for a
// WithFallback pair the primary or the fallback, for any other queue q
// itself. A worker sends work that a message leads to (a long job's chunk
// jobs) to the queue the message came from.
func Origin(q Queue, m Message) Queue {
	if f, ok := q.(*fallbackQueue); ok {
		if src, _, err := f.route(m); err == nil {
			return src
		}
	}
	return q
}

// ErrForeignReceipt says a message did not come from this queue.
var ErrForeignReceipt = errors.New("queue: receipt from another queue")

func tag(ms []Message, t string) []Message {
	for i := range ms {
		ms[i].Receipt = t + ms[i].Receipt
	}
	return ms
}

// route returns the queue m came from and m with its own receipt.
func (f *fallbackQueue) route(m Message) (Queue, Message, error) {
	switch {
	case strings.HasPrefix(m.Receipt, tagPrimary):
		m.Receipt = strings.TrimPrefix(m.Receipt, tagPrimary)
		return f.primary, m, nil
	case strings.HasPrefix(m.Receipt, tagFallback):
		m.Receipt = strings.TrimPrefix(m.Receipt, tagFallback)
		return f.fallback, m, nil
	}
	return nil, m, ErrForeignReceipt
}

func (f *fallbackQueue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error) {
	half := wait / 2
	ms, err := f.primary.Receive(ctx, max, half, visibility)
	if err != nil || len(ms) > 0 {
		return tag(ms, tagPrimary), err
	}
	ms, err = f.fallback.Receive(ctx, max, wait-half, visibility)
	return tag(ms, tagFallback), err
}

func (f *fallbackQueue) Extend(ctx context.Context, m Message, visibility time.Duration) error {
	q, m, err := f.route(m)
	if err != nil {
		return err
	}
	return q.Extend(ctx, m, visibility)
}

func (f *fallbackQueue) Ack(ctx context.Context, m Message) error {
	q, m, err := f.route(m)
	if err != nil {
		return err
	}
	return q.Ack(ctx, m)
}

func (f *fallbackQueue) Release(ctx context.Context, m Message, delay time.Duration) error {
	q, m, err := f.route(m)
	if err != nil {
		return err
	}
	return q.Release(ctx, m, delay)
}

func (f *fallbackQueue) DeadLetter(ctx context.Context, m Message, reason string) error {
	q, m, err := f.route(m)
	if err != nil {
		return err
	}
	return q.DeadLetter(ctx, m, reason)
}

func (f *fallbackQueue) Send(ctx context.Context, body []byte, o SendOptions) (string, error) {
	return f.primary.Send(ctx, body, o)
}

func (f *fallbackQueue) Stats(ctx context.Context) (Stats, error) {
	return f.primary.Stats(ctx)
}

func (f *fallbackQueue) Close() error {
	return errors.Join(f.primary.Close(), f.fallback.Close())
}
