package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsDeadLetters is an SQS queue's dead-letter store, found on first use.
type sqsDeadLetters struct {
	mu    sync.Mutex
	store DeadLetterStore
}

// deadLetters returns the store over q's dead-letter queue: Options.DLQ,
// else the queue q's RedrivePolicy names (looked up once).
func (q *SQS) deadLetters(ctx context.Context) (DeadLetterStore, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	q.dead.mu.Lock()
	defer q.dead.mu.Unlock()
	if q.dead.store != nil {
		return q.dead.store, nil
	}
	url := q.dlq
	if url == "" {
		var err error
		if url, err = redrivePolicyDLQ(ctx, q.client, q.url); err != nil {
			return nil, err
		}
	}
	q.dead.store = DLQ(q, NewSQS(q.client, url, Options{}))
	return q.dead.store, nil
}

// ListDeadLetters implements DeadLetterStore by receiving from the
// dead-letter queue (see there).
func (q *SQS) ListDeadLetters(ctx context.Context, max int) ([]DeadLetter, error) {
	s, err := q.deadLetters(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListDeadLetters(ctx, max)
}

// Redrive implements DeadLetterStore with SendBack. (SQS's
// StartMessageMoveTask moves all or nothing and is not on every emulator.)
func (q *SQS) Redrive(ctx context.Context, ids ...string) (int, error) {
	s, err := q.deadLetters(ctx)
	if err != nil {
		return 0, err
	}
	return s.Redrive(ctx, ids...)
}

// RedriveAll implements DeadLetterStore.
func (q *SQS) RedriveAll(ctx context.Context) (int, error) {
	s, err := q.deadLetters(ctx)
	if err != nil {
		return 0, err
	}
	return s.RedriveAll(ctx)
}

// redrivePolicyDLQ finds the dead-letter queue of the SQS queue at
// queueURL from its RedrivePolicy; ErrNoDeadLetterQueue when it names none.
func redrivePolicyDLQ(ctx context.Context, c *sqs.Client, queueURL string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return "", fmt.Errorf("queue: sqs: reading the RedrivePolicy of %s: %w", queueURL, err)
	}
	var rp struct {
		Target string `json:"deadLetterTargetArn"`
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" || json.Unmarshal([]byte(raw), &rp) != nil || rp.Target == "" {
		return "", fmt.Errorf("%w: %s has no RedrivePolicy naming one", ErrNoDeadLetterQueue, queueURL)
	}
	name := rp.Target[strings.LastIndex(rp.Target, ":")+1:]
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue: sqs: finding the dead-letter queue %s: %w", name, err)
	}
	return aws.ToString(u.QueueUrl), nil
}
