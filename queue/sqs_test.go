package queue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/queue/queuetest"
)

const sqsMaxReceive = 3

// sqsClient returns a client for the SQS peer, or skips the test.
func sqsClient(t *testing.T) *sqs.Client {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" {
		t.Skip("SQS peer not running: start it with scripts/peers/sqs.sh start")
	}
	c, err := queue.NewSQSClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sqsName is a fresh queue name for t.
func sqsName(t *testing.T, fifo bool) string {
	n := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	var b [6]byte
	rand.Read(b[:])
	n = "hlsfleet-" + strings.Trim(n, "-") + "-" + hex.EncodeToString(b[:])
	if fifo {
		n += ".fifo"
	}
	return n
}

func sqsHarness(c *sqs.Client, fifo bool) queuetest.Harness {
	return queuetest.Harness{
		Open: func(t *testing.T) queue.Queue {
			ctx := context.Background()
			u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, fifo), sqsMaxReceive)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { queue.DeleteSQSQueues(context.Background(), c, u, dlq) })
			return queue.NewSQS(c, u, queue.Options{DLQ: dlq})
		},
		DeadLetters: func(t *testing.T, q queue.Queue) []queue.DeadLetter {
			ctx := context.Background()
			dq := queue.NewSQS(c, q.(*queue.SQS).DLQ(), queue.Options{})
			defer dq.Close()
			var out []queue.DeadLetter
			wait := time.Second
			for {
				msgs, err := dq.Receive(ctx, queue.MaxBatch, wait, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == 0 {
					return out
				}
				for _, m := range msgs {
					out = append(out, queue.DeadLetterOf(m))
				}
				wait = 0
			}
		},
		Tick:       time.Second,
		FIFO:       fifo,
		SendDelay:  !fifo,
		StrictAck:  false,
		MaxReceive: sqsMaxReceive,
	}
}

func TestSQSConformance(t *testing.T) {
	c := sqsClient(t)
	t.Run("standard", func(t *testing.T) {
		t.Parallel()
		queuetest.Run(t, sqsHarness(c, false))
	})
	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		queuetest.Run(t, sqsHarness(c, true))
	})
}

// TestSQSEndpoint checks that the client takes AWS_ENDPOINT_URL_SQS from the
// environment and that the driver never dials the queue URL's host: fauxqs
// hands out URLs on sqs.<region>.localhost, which does not resolve here.
func TestSQSEndpoint(t *testing.T) {
	c := sqsClient(t)
	ep := os.Getenv("AWS_ENDPOINT_URL_SQS")
	if got := aws.ToString(c.Options().BaseEndpoint); got != ep {
		t.Fatalf("client endpoint %q, want AWS_ENDPOINT_URL_SQS %q", got, ep)
	}
	ctx := context.Background()
	u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, false), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.DeleteSQSQueues(ctx, c, u, dlq)
	qu, _ := url.Parse(u)
	eu, _ := url.Parse(ep)
	t.Logf("endpoint %s, queue URL %s", ep, u)
	if _, err := net.LookupHost(qu.Hostname()); qu.Host == eu.Host || err == nil {
		t.Logf("queue URL host %s is reachable, so this test cannot prove it is never dialled", qu.Host)
	} else {
		t.Logf("queue URL host %s does not resolve (%v): every call below must go to the endpoint", qu.Hostname(), err)
	}
	q, err := queue.Open(ctx, u, queue.Options{DLQ: dlq})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Send(ctx, []byte("hello"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive: %d, %v", len(msgs), err)
	}
	if err := q.Ack(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
}

func TestSQSFIFORejectsPerMessageDelay(t *testing.T) {
	c := sqsClient(t)
	ctx := context.Background()
	u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, true), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.DeleteSQSQueues(ctx, c, u, dlq)
	q := queue.NewSQS(c, u, queue.Options{DLQ: dlq})
	if _, err := q.Send(ctx, []byte("x"), queue.SendOptions{Delay: time.Second}); err == nil {
		t.Fatal("Send with Delay on a FIFO queue succeeded")
	}
}

func TestSQSOpensShareOneClient(t *testing.T) {
	// Every queue opened by URL uses the process's one SQS client, on the
	// one AWS configuration.
	c := sqsClient(t)
	ctx := context.Background()
	u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, false), sqsMaxReceive)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.DeleteSQSQueues(ctx, c, u, dlq)
	shared, err := queue.SQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{u, dlq} {
		q, err := queue.Open(ctx, raw, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := q.(*queue.SQS).Client(); got != shared {
			t.Errorf("Open(%s) has SQS client %p, want the shared %p", raw, got, shared)
		}
		if _, err := q.Send(ctx, []byte("x"), queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		q.Close()
	}
	if n := awsconf.Loads(); n != 1 {
		t.Errorf("AWS configuration loaded %d times in this process, want 1", n)
	}
}
