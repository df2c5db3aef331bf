package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
)

// sqsDeadLetters is an SQS queue's dead-letter store, found on first use.
type sqsDeadLetters struct {
	mu         sync.Mutex
	store      DeadLetterStore
	maxReceive *int // the RedrivePolicy's maxReceiveCount, once read
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
	rp, err := readRedrivePolicy(ctx, c, queueURL)
	if err != nil {
		return "", err
	}
	if rp.target == "" {
		return "", fmt.Errorf("%w: %s has no RedrivePolicy naming one", ErrNoDeadLetterQueue, queueURL)
	}
	name := rp.target[strings.LastIndex(rp.target, ":")+1:]
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue: sqs: finding the dead-letter queue %s: %w", name, err)
	}
	return aws.ToString(u.QueueUrl), nil
}

// redrivePolicy is what an SQS queue's RedrivePolicy attribute says.
type redrivePolicy struct {
	target     string // the dead-letter queue's ARN; "" when there is none
	maxReceive int    // maxReceiveCount; 0 when there is none
}

// readRedrivePolicy reads the RedrivePolicy of the queue at queueURL. A
// queue without one gives the zero redrivePolicy.
func readRedrivePolicy(ctx context.Context, c *sqs.Client, queueURL string) (redrivePolicy, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		if awsconf.Unavailable(err) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return redrivePolicy{}, fmt.Errorf("queue: sqs: reading the RedrivePolicy of %s: %w", queueURL, err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	var rp struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"` // a number, or a number in a string
	}
	if raw == "" || json.Unmarshal([]byte(raw), &rp) != nil {
		return redrivePolicy{}, nil
	}
	n, _ := strconv.Atoi(strings.Trim(string(rp.Max), `"`))
	return redrivePolicy{target: rp.Target, maxReceive: max(n, 0)}, nil
}

// MaxReceive implements ReceiveLimited: the maxReceiveCount of the queue's
// RedrivePolicy (read once; 0 when it has none).
func (q *SQS) MaxReceive(ctx context.Context) (int, error) {
	if err := q.check(); err != nil {
		return 0, err
	}
	q.dead.mu.Lock()
	defer q.dead.mu.Unlock()
	if q.dead.maxReceive == nil {
		rp, err := readRedrivePolicy(ctx, q.client, q.url)
		if err != nil {
			return 0, err
		}
		q.dead.maxReceive = &rp.maxReceive
	}
	return *q.dead.maxReceive, nil
}
