package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
)

// Message attributes the sqs driver reads and writes.
const (
	// AttrReason carries DeadLetter's reason on a dead letter.
	AttrReason = "hlsfleet-reason"
	// AttrOriginalID carries the message id a dead letter had in its
	// source queue.
	AttrOriginalID = "hlsfleet-original-id"
	// attrEncoding marks a body sent base64-encoded because SQS cannot carry
	// it as text (not UTF-8, or characters SQS rejects). Receive decodes it
	// and hides the attribute.
	attrEncoding = "hlsfleet-body-encoding"
	// noGroupPrefix names the one-message group a FIFO send without a
	// GroupID gets, so ungrouped messages stay unordered there too.
	noGroupPrefix = "hlsfleet.nogroup."
	// maxSQSWait is SQS's longest long poll.
	maxSQSWait = 20 * time.Second
)

// SQS is the Amazon SQS driver. Open it with Open or OpenSQS.
type SQS struct {
	client    *sqs.Client
	url, dlq  string
	fifo      bool
	dlqFIFO   bool
	closed    atomic.Bool
	closing   chan struct{}
	closeOnce sync.Once
	dead      sqsDeadLetters // its DeadLetterStore (sqs_dlq.go)
}

var (
	_ Queue           = (*SQS)(nil)
	_ DeadLetterStore = (*SQS)(nil)
)

// NewSQSClient returns a new SQS client on the process's AWS configuration
// (awsconf: config.LoadDefaultConfig, loaded once per process), which
// includes the endpoint override AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL).
// Most callers want SQSClient, the client every queue shares.
func NewSQSClient(ctx context.Context) (*sqs.Client, error) {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: sqs: %w", err)
	}
	return sqs.NewFromConfig(cfg), nil
}

// sqsClient is the process's shared SQS client.
var sqsClient struct {
	mu sync.Mutex
	c  *sqs.Client
}

// SQSClient returns the process's SQS client, made by NewSQSClient on first
// use; every queue opened with Open or OpenSQS uses it.
func SQSClient(ctx context.Context) (*sqs.Client, error) {
	sqsClient.mu.Lock()
	defer sqsClient.mu.Unlock()
	if sqsClient.c == nil {
		c, err := NewSQSClient(ctx)
		if err != nil {
			return nil, err
		}
		sqsClient.c = c
	}
	return sqsClient.c, nil
}

// OpenSQS opens the SQS queue at queueURL with the process's SQS client
// (SQSClient).
func OpenSQS(ctx context.Context, queueURL string, o Options) (*SQS, error) {
	c, err := SQSClient(ctx)
	if err != nil {
		return nil, err
	}
	return NewSQS(c, queueURL, o), nil
}

// NewSQS wraps an SQS client. Requests go to the client's endpoint; the
// queue URL only names the queue (emulators hand out URLs whose host, such as
// sqs.us-east-1.localhost, must not be dialled). A URL ending in ".fifo" is a
// FIFO queue.
func NewSQS(c *sqs.Client, queueURL string, o Options) *SQS {
	return &SQS{
		client:  c,
		url:     queueURL,
		dlq:     o.DLQ,
		fifo:    strings.HasSuffix(queueURL, ".fifo"),
		dlqFIFO: strings.HasSuffix(o.DLQ, ".fifo"),
		closing: make(chan struct{}),
	}
}

// URL is the queue's URL.
func (q *SQS) URL() string { return q.url }

// DLQ is the dead-letter queue URL (Options.DLQ).
func (q *SQS) DLQ() string { return q.dlq }

// Client is the SQS client the queue uses.
func (q *SQS) Client() *sqs.Client { return q.client }

// seconds rounds d up to whole seconds, clamped to [lo, hi].
func seconds(d time.Duration, lo, hi int32) int32 {
	s := int64((d + time.Second - 1) / time.Second)
	return int32(min(max(s, int64(lo)), int64(hi)))
}

// sqsText reports whether body can travel as an SQS message body as is.
func sqsText(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	for _, r := range string(body) {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		default:
			// SQS also takes U+10000..U+10FFFF, but emulators (fauxqs
			// 1.9.2) reject them, so those bodies go base64 too.
			return false
		}
	}
	return true
}

// ctxClosed returns a context cancelled when ctx is or when q is closed.
func (q *SQS) ctxClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-q.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (q *SQS) check() error {
	if q.closed.Load() {
		return ErrClosed
	}
	return nil
}

// wrap turns SDK errors into ours: receipt errors become ErrLeaseLost, an
// unreachable, throttling or failing service ErrUnavailable, and errors
// after Close ErrClosed.
func (q *SQS) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if q.closed.Load() {
		return ErrClosed
	}
	var nif *types.MessageNotInflight
	var rhi *types.ReceiptHandleIsInvalid
	if errors.As(err, &nif) || errors.As(err, &rhi) {
		return fmt.Errorf("queue: sqs %s: %w (%v)", op, ErrLeaseLost, err)
	}
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if code == "MessageNotInflight" || code == "ReceiptHandleIsInvalid" ||
			(code == "InvalidParameterValue" && strings.Contains(ae.ErrorMessage(), "ReceiptHandle")) {
			return fmt.Errorf("queue: sqs %s: %w (%v)", op, ErrLeaseLost, err)
		}
	}
	if awsconf.Unavailable(err) {
		return fmt.Errorf("queue: sqs %s %s: %w: %w", op, q.url, ErrUnavailable, err)
	}
	return fmt.Errorf("queue: sqs %s %s: %w", op, q.url, err)
}

// Receive implements Queue. SQS waits in whole seconds, so wait and
// visibility are rounded up; waits over 20 s are made of several long polls.
// The SDK cannot send WaitTimeSeconds=0, so wait <= 0 gets the queue's
// ReceiveMessageWaitTimeSeconds (0 unless the queue sets it).
func (q *SQS) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error) {
	if err := checkMax(max); err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	if visibility <= 0 {
		visibility = DefaultVisibility
	}
	ctx, cancel := q.ctxClosed(ctx)
	defer cancel()
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		in := &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(q.url),
			MaxNumberOfMessages: int32(max),
			WaitTimeSeconds:     seconds(min(left, maxSQSWait), 0, 20),
			VisibilityTimeout:   seconds(visibility, 0, 43200),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount,
				types.MessageSystemAttributeNameSentTimestamp,
				types.MessageSystemAttributeNameMessageGroupId,
			},
			MessageAttributeNames: []string{"All"},
		}
		out, err := q.client.ReceiveMessage(ctx, in)
		if err != nil {
			if q.closed.Load() {
				return nil, ErrClosed
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, q.wrap("receive", err)
		}
		if len(out.Messages) > 0 || time.Until(deadline) <= 0 {
			msgs := make([]Message, 0, len(out.Messages))
			for _, m := range out.Messages {
				msg, err := fromSQS(m)
				if err != nil {
					return msgs, fmt.Errorf("queue: sqs receive %s: %w", q.url, err)
				}
				msgs = append(msgs, msg)
			}
			return msgs, nil
		}
	}
}

func fromSQS(m types.Message) (Message, error) {
	msg := Message{
		ID:      aws.ToString(m.MessageId),
		Body:    []byte(aws.ToString(m.Body)),
		Receipt: aws.ToString(m.ReceiptHandle),
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		msg.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(ms)
	}
	if g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; !strings.HasPrefix(g, noGroupPrefix) {
		msg.GroupID = g
	}
	for k, v := range m.MessageAttributes {
		if k == attrEncoding {
			if aws.ToString(v.StringValue) != "base64" {
				return msg, fmt.Errorf("message %s: unknown body encoding %q", msg.ID, aws.ToString(v.StringValue))
			}
			b, err := base64.StdEncoding.DecodeString(string(msg.Body))
			if err != nil {
				return msg, fmt.Errorf("message %s: bad base64 body: %w", msg.ID, err)
			}
			msg.Body = b
			continue
		}
		if msg.Attributes == nil {
			msg.Attributes = map[string]string{}
		}
		if v.StringValue != nil {
			msg.Attributes[k] = *v.StringValue
		} else {
			msg.Attributes[k] = string(v.BinaryValue)
		}
	}
	return msg, nil
}

// encode prepares body and attributes for SendMessage.
func encode(body []byte, attrs map[string]string) (string, map[string]types.MessageAttributeValue) {
	var out map[string]types.MessageAttributeValue
	if len(attrs) > 0 {
		out = make(map[string]types.MessageAttributeValue, len(attrs)+1)
		for k, v := range attrs {
			out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if sqsText(body) {
		return string(body), out
	}
	if out == nil {
		out = map[string]types.MessageAttributeValue{}
	}
	out[attrEncoding] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("base64")}
	return base64.StdEncoding.EncodeToString(body), out
}

// Send implements Queue. A body that is not SQS text (valid UTF-8 without
// control characters other than tab, CR and LF, and without characters
// beyond U+FFFD) travels base64-encoded, which costs a third more of the
// queue's size limit. On a FIFO queue a send without
// GroupID gets a group of its own (unordered), and one without DedupID a
// unique deduplication id.
func (q *SQS) Send(ctx context.Context, body []byte, o SendOptions) (string, error) {
	if err := checkBody(body); err != nil {
		return "", err
	}
	if err := q.check(); err != nil {
		return "", err
	}
	text, attrs := encode(body, o.Attributes)
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(text), MessageAttributes: attrs}
	if q.fifo {
		if o.Delay > 0 {
			return "", fmt.Errorf("%w: SQS FIFO queues take no per-message delay", ErrInvalid)
		}
		in.MessageGroupId = aws.String(o.GroupID)
		if o.GroupID == "" {
			in.MessageGroupId = aws.String(noGroupPrefix + newID())
		}
		in.MessageDeduplicationId = aws.String(o.DedupID)
		if o.DedupID == "" {
			in.MessageDeduplicationId = aws.String(newID())
		}
	} else if o.Delay > 0 {
		in.DelaySeconds = seconds(o.Delay, 0, 900)
	}
	out, err := q.client.SendMessage(ctx, in)
	if err != nil {
		return "", q.wrap("send", err)
	}
	return aws.ToString(out.MessageId), nil
}

func (q *SQS) changeVisibility(ctx context.Context, op string, m Message, d time.Duration) error {
	if err := q.check(); err != nil {
		return err
	}
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(m.Receipt),
		VisibilityTimeout: seconds(d, 0, 43200),
	})
	return q.wrap(op, err)
}

// Extend implements Queue (ChangeMessageVisibility, whole seconds).
func (q *SQS) Extend(ctx context.Context, m Message, visibility time.Duration) error {
	if visibility <= 0 {
		return fmt.Errorf("%w: extend by %v", ErrInvalid, visibility)
	}
	return q.changeVisibility(ctx, "extend", m, visibility)
}

// Release implements Queue (ChangeMessageVisibility to delay). On SQS a
// message released with a delay counts as in flight until then, and on a
// FIFO queue it keeps its group blocked meanwhile (as on the local driver).
func (q *SQS) Release(ctx context.Context, m Message, delay time.Duration) error {
	return q.changeVisibility(ctx, "release", m, max(delay, 0))
}

// Ack implements Queue (DeleteMessage). SQS accepts some stale receipts
// without an error.
func (q *SQS) Ack(ctx context.Context, m Message) error {
	if err := q.check(); err != nil {
		return err
	}
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.Receipt)})
	return q.wrap("ack", err)
}

// DeadLetter implements Queue: it checks the lease (a 60 s
// ChangeMessageVisibility, so a stale receipt copies nothing), sends m's body
// and attributes to Options.DLQ with AttrReason and AttrOriginalID added, and
// then deletes m. On a FIFO DLQ the copy keeps m's group, and its
// deduplication id is derived from m's id, so a retried DeadLetter does not
// copy twice within 5 minutes.
func (q *SQS) DeadLetter(ctx context.Context, m Message, reason string) error {
	if err := q.check(); err != nil {
		return err
	}
	if q.dlq == "" {
		return fmt.Errorf("%w: no dead-letter queue for %s (Options.DLQ)", ErrInvalid, q.url)
	}
	if err := q.changeVisibility(ctx, "dead-letter", m, time.Minute); err != nil {
		return err
	}
	attrs := make(map[string]string, len(m.Attributes)+2)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	if reason == "" {
		reason = "unspecified"
	}
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	attrs[AttrReason] = reason
	attrs[AttrOriginalID] = m.ID
	text, mattrs := encode(m.Body, attrs)
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.dlq), MessageBody: aws.String(text), MessageAttributes: mattrs}
	if q.dlqFIFO {
		g := m.GroupID
		if g == "" {
			g = noGroupPrefix + newID()
		}
		in.MessageGroupId = aws.String(g)
		in.MessageDeduplicationId = aws.String("dl-" + m.ID)
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		if awsconf.Unavailable(err) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("queue: sqs dead-letter to %s: %w", q.dlq, err)
	}
	return q.Ack(ctx, m)
}

// Stats implements Queue from GetQueueAttributes (approximate counts;
// OldestAge is 0: SQS tells it only through CloudWatch).
func (q *SQS) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	if err := q.check(); err != nil {
		return s, err
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return s, q.wrap("stats", err)
	}
	get := func(n types.QueueAttributeName) int64 {
		v, _ := strconv.ParseInt(out.Attributes[string(n)], 10, 64)
		return v
	}
	s.Visible = get(types.QueueAttributeNameApproximateNumberOfMessages)
	s.InFlight = get(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	s.Delayed = get(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	return s, nil
}

// Close implements Queue; a Receive in progress ends with ErrClosed.
func (q *SQS) Close() error {
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		close(q.closing)
	})
	return nil
}

// DeadLetterOf reads a message received from a dead-letter queue: the reason
// and original id that DeadLetter attached, or ReasonMaxReceives for a
// message SQS moved itself under the source queue's RedrivePolicy.
func DeadLetterOf(m Message) DeadLetter {
	d := DeadLetter{Message: m, Reason: ReasonMaxReceives}
	if r, ok := m.Attributes[AttrReason]; ok {
		d.Reason = r
		d.At = m.SentAt
	}
	if id, ok := m.Attributes[AttrOriginalID]; ok {
		d.ID = id
	}
	return d
}

// CreateSQSQueues creates (or finds) the queue name and its dead-letter
// queue name+"-dlq" (before the ".fifo" suffix for FIFO queues, which get a
// FIFO DLQ), with a RedrivePolicy that moves a message after maxReceive
// receives (0: DefaultMaxReceive). It returns both URLs. Meant for tests and
// local setups; production queues come from infrastructure code.
func CreateSQSQueues(ctx context.Context, c *sqs.Client, name string, maxReceive int) (queueURL, dlqURL string, err error) {
	if maxReceive <= 0 {
		maxReceive = DefaultMaxReceive
	}
	fifo := strings.HasSuffix(name, ".fifo")
	base := strings.TrimSuffix(name, ".fifo")
	dlqName := base + "-dlq"
	attrs := map[string]string{}
	if fifo {
		dlqName += ".fifo"
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	dq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(dlqName), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("queue: create SQS queue %s: %w", dlqName, err)
	}
	ga, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("queue: SQS queue %s: %w", dlqName, err)
	}
	policy, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": ga.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceive),
	})
	attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
	mq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("queue: create SQS queue %s: %w", name, err)
	}
	return aws.ToString(mq.QueueUrl), aws.ToString(dq.QueueUrl), nil
}

// DeleteSQSQueues deletes the queues at the given URLs, ignoring ones that do
// not exist.
func DeleteSQSQueues(ctx context.Context, c *sqs.Client, urls ...string) error {
	var errs []error
	for _, u := range urls {
		if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			var nx *types.QueueDoesNotExist
			if !errors.As(err, &nx) {
				errs = append(errs, fmt.Errorf("queue: delete SQS queue %s: %w", u, err))
			}
		}
	}
	return errors.Join(errs...)
}
