package queue

import (
	"context"
	"fmt"
)

// SendBack moves dead letter m, received from dlq, back to src: its body,
// message group and attributes as first sent (less AttrReason and
// AttrOriginalID), with a deduplication id derived from m's id for FIFO
// queues; then it deletes m from dlq. It is at least once: a failure
// between the two steps leaves the job in both queues (the workers'
// idempotency absorbs the duplicate), never in neither.
func SendBack(ctx context.Context, src, dlq Queue, m Message) error {
	var attrs map[string]string
	for k, v := range m.Attributes {
		if k == AttrReason || k == AttrOriginalID {
			continue
		}
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[k] = v
	}
	id := DeadLetterOf(m).ID
	if _, err := src.Send(ctx, m.Body, SendOptions{GroupID: m.GroupID, DedupID: "rd-" + m.ID, Attributes: attrs}); err != nil {
		return fmt.Errorf("sending dead letter %s back: %w", id, err)
	}
	if err := dlq.Ack(ctx, m); err != nil {
		return fmt.Errorf("dead letter %s was sent back but not deleted from the dead-letter queue (it is now in both): %w", id, err)
	}
	return nil
}
