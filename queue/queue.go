// Package queue is hlsfleet's job queue: a small interface with two drivers,
// Amazon SQS ("sqs", any http(s):// queue URL) and an embedded single-machine
// queue in a bbolt file ("local", local:///abs/dir).
//
// Delivery is at least once. A received message is leased to its receiver for
// a visibility timeout; the lease is named by Message.Receipt. While the lease
// holds, nobody else receives the message; when it runs out, the message is
// delivered again with ReceiveCount one higher. The holder extends the lease
// (Extend), finishes the message (Ack), gives it back (Release) or gives up on
// it (DeadLetter). A receipt that no longer holds its message, because the
// message was delivered again after the lease ran out, gives ErrLeaseLost.
//
// Messages sent with a SendOptions.GroupID are delivered in send order within
// their group, and a group with a message in flight delivers nothing more until
// that message is acked or released or its lease runs out (SQS FIFO
// semantics). Messages without a group are unordered.
//
// Every driver passes the same conformance suite, queue/queuetest.
package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
)

// Limits shared by the drivers.
const (
	// MaxBatch is the most messages one Receive returns (SQS's limit).
	MaxBatch = 10
	// MaxBodySize is the largest body Send accepts (SQS's classic limit).
	MaxBodySize = 256 << 10
	// DefaultVisibility is the lease a Receive with visibility <= 0 gives.
	DefaultVisibility = 30 * time.Second
	// DefaultMaxReceive is the local driver's redrive threshold when
	// Options.MaxReceive is 0.
	DefaultMaxReceive = 5
	// ReasonMaxReceives is the dead-letter reason of a message moved because
	// it was received more than Options.MaxReceive times.
	ReasonMaxReceives = "max receives exceeded"
)

// Errors callers test with errors.Is.
var (
	// ErrLeaseLost: Extend, Ack, Release or DeadLetter with a receipt that no
	// longer holds its message (it was delivered again, acked, released or
	// dead-lettered since). The caller must stop working on the message.
	ErrLeaseLost = errors.New("queue: lease lost")
	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrNotFound: no such message (local dead letters, Redrive).
	ErrNotFound = errors.New("queue: message not found")
	// ErrInvalid: the arguments break a documented limit (batch size, body
	// size, empty body, option not supported by this queue).
	ErrInvalid = errors.New("queue: invalid request")
	// ErrUnavailable: the queue service could not serve the request now (it
	// was unreachable, throttled the request, failed on its side or timed
	// out). Of class fault.Infra: retrying later can succeed. The service's
	// own error stays in the chain.
	ErrUnavailable = fault.New(fault.Infra, "queue: unavailable")
)

// Message is one delivery of a message.
type Message struct {
	// ID is the message's id, stable across deliveries (and across a move to
	// the dead-letter queue).
	ID string
	// Body is the payload, byte for byte as sent.
	Body []byte
	// Receipt is the opaque lease handle of this delivery; Extend, Ack,
	// Release and DeadLetter use it (and only it).
	Receipt string
	// ReceiveCount is how many times the message has been delivered,
	// this delivery included (1 on the first).
	ReceiveCount int
	// GroupID is the FIFO ordering group the message was sent with, or "".
	GroupID string
	// SentAt is when the message was first sent.
	SentAt time.Time
	// Attributes are the string attributes given to Send (SQS message
	// attributes); dead letters carry "hlsfleet-reason" and
	// "hlsfleet-original-id" on SQS.
	Attributes map[string]string
}

// SendOptions are Send's optional settings.
type SendOptions struct {
	// GroupID makes the message FIFO-ordered within the group (SQS: only on
	// .fifo queues; ignored on standard queues).
	GroupID string
	// DedupID drops a second Send with the same id within 5 minutes: it
	// returns the first message's id and enqueues nothing (local driver and
	// SQS FIFO queues; ignored on SQS standard queues).
	DedupID string
	// Delay keeps the message invisible for this long after sending (SQS:
	// whole seconds, rounded up, at most 15 minutes; not allowed on FIFO
	// queues, whose delay is a queue setting).
	Delay time.Duration
	// Attributes travel with the message (SQS: at most 10 in all, values
	// non-empty).
	Attributes map[string]string
}

// Stats is a snapshot of a queue's size. SQS numbers are approximate.
type Stats struct {
	// Visible is the number of messages that can be received now (the
	// backlog), including FIFO messages waiting behind their group's
	// in-flight message.
	Visible int64
	// InFlight is the number of messages leased to receivers (SQS: also
	// those made invisible by Release with a delay).
	InFlight int64
	// Delayed is the number of messages not yet visible because of a Send
	// delay (local driver: also of a Release delay).
	Delayed int64
	// OldestAge is the age of the oldest message in the queue (local
	// driver); 0 where the backend does not tell (SQS).
	OldestAge time.Duration
}

// DeadLetter is a message moved to the dead-letter queue or store.
type DeadLetter struct {
	Message
	// Reason says why, in words (DeadLetter's reason, or ReasonMaxReceives).
	Reason string
	// At is when the message was moved (SQS: when it was sent to the DLQ;
	// zero where the broker moved it itself).
	At time.Time
}

// Queue is one queue. Its methods are safe for concurrent use. Durations are
// rounded up to whole seconds on SQS.
type Queue interface {
	// Receive returns up to max (1..MaxBatch) messages, waiting up to wait
	// for the first one to arrive (long poll; wait <= 0 checks once). It
	// returns as soon as at least one message is available, possibly fewer
	// than max. Each returned message is leased for visibility
	// (<= 0: DefaultVisibility). An empty result with a nil error means
	// nothing arrived in time. A cancelled ctx ends the wait with ctx.Err().
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error)
	// Extend sets the lease of m to run out visibility from now (SQS
	// ChangeMessageVisibility); ErrLeaseLost if m.Receipt no longer holds it.
	Extend(ctx context.Context, m Message, visibility time.Duration) error
	// Ack deletes m for good. ErrLeaseLost if m.Receipt no longer holds it
	// (the local driver always tells; SQS may accept a stale receipt
	// silently, so callers must stay idempotent).
	Ack(ctx context.Context, m Message) error
	// Release ends the lease of m and makes it visible again after delay
	// (0: at once). The receipt is spent; ReceiveCount is unchanged until
	// the next delivery. ErrLeaseLost if m.Receipt no longer holds it.
	Release(ctx context.Context, m Message, delay time.Duration) error
	// Send enqueues body (1..MaxBodySize bytes) and returns the message id
	// (for a deduplicated Send, the first message's id).
	Send(ctx context.Context, body []byte, o SendOptions) (string, error)
	// DeadLetter moves m, which the caller holds, to the dead-letter queue
	// or store with reason, and removes it from this queue. ErrLeaseLost if
	// m.Receipt no longer holds it (then nothing is moved).
	DeadLetter(ctx context.Context, m Message, reason string) error
	// Stats reports the queue's size.
	Stats(ctx context.Context) (Stats, error)
	// Close ends pending Receives with ErrClosed and makes every later call
	// return ErrClosed. It is safe to call more than once.
	Close() error
}

// ReceiveLimited is implemented by queues that move a message to their dead
// letters once it has been received a number of times: the local driver
// (Options.MaxReceive) and SQS (the queue's RedrivePolicy). A worker that
// knows the number can dead-letter a message itself on its last allowed
// receive, with the reason it keeps failing, instead of leaving the queue to
// move it with ReasonMaxReceives alone.
type ReceiveLimited interface {
	// MaxReceive returns how many receives a message gets; 0 when the
	// queue sets no limit.
	MaxReceive(ctx context.Context) (int, error)
}

// Options configure Open.
type Options struct {
	// DLQ is the dead-letter queue URL (sqs driver; DeadLetter fails
	// without it). The local driver keeps dead letters in its own file and
	// ignores DLQ.
	DLQ string
	// MaxReceive is the local driver's redrive threshold: a message that
	// has been received this many times is moved to the dead letters with
	// ReasonMaxReceives instead of being delivered again. 0 means
	// DefaultMaxReceive, < 0 never. (On SQS the queue's RedrivePolicy
	// decides; see CreateSQSQueues.)
	MaxReceive int
	// PollInterval is how often a local long poll re-reads the file to see
	// what other processes sent (default 50ms). Sends in the same process
	// wake it at once.
	PollInterval time.Duration
}

// Open opens the queue named by rawURL: "local:///abs/dir" for the embedded
// driver (the directory is created if missing), or an SQS queue URL
// ("https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", any http(s) URL for an
// emulator). The sqs driver takes its configuration from the standard AWS
// environment (AWS_REGION, credentials, AWS_ENDPOINT_URL_SQS) and always
// sends requests to the configured endpoint, never to the URL's host.
func Open(ctx context.Context, rawURL string, o Options) (Queue, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("queue: bad URL %q: %w", rawURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "local":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("queue: bad local URL %q: want local:///absolute/dir", rawURL)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("queue: bad local URL %q: want local:///absolute/dir", rawURL)
		}
		return OpenLocal(u.Path, o)
	case "http", "https":
		return OpenSQS(ctx, rawURL, o)
	default:
		return nil, fmt.Errorf("queue: unsupported URL %q: want local:///dir or an SQS queue URL", rawURL)
	}
}

func checkMax(max int) error {
	if max < 1 || max > MaxBatch {
		return fmt.Errorf("%w: receive max %d, want 1..%d", ErrInvalid, max, MaxBatch)
	}
	return nil
}

func checkBody(body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if len(body) > MaxBodySize {
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrInvalid, len(body), MaxBodySize)
	}
	return nil
}
