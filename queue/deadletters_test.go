package queue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hlsfleet/hlsfleet/queue"
)

// DLQ (the SQS form) works on any pair of queues: listing consumes nothing,
// redrive moves exactly the one message.
func TestDLQListAndRedrive(t *testing.T) {
	dir := t.TempDir()
	src, err := queue.OpenLocal(filepath.Join(dir, "src"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// A dead-letter queue has no redrive of its own (listing receives).
	dlq, err := queue.OpenLocal(filepath.Join(dir, "dlq"), queue.Options{MaxReceive: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	runDLQ(t, src, dlq)
}

// The same against the SQS peer (fauxqs), as `hlsfleet serve --dlq` uses it.
func TestDLQSQS(t *testing.T) {
	c := sqsClient(t)
	ctx := context.Background()
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, c, sqsName(t, false), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(context.Background(), c, qurl, dlqURL) })
	src := queue.NewSQS(c, qurl, queue.Options{DLQ: dlqURL})
	defer src.Close()
	dlq := queue.NewSQS(c, dlqURL, queue.Options{})
	defer dlq.Close()
	runDLQ(t, src, dlq)
}

func runDLQ(t *testing.T, src, dlq queue.Queue) {
	ctx := context.Background()
	for i := range 3 {
		_, err := dlq.Send(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i)), queue.SendOptions{Attributes: map[string]string{
			queue.AttrReason: fmt.Sprintf("reason %d", i), queue.AttrOriginalID: fmt.Sprintf("orig-%d", i), "keep": "yes"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	d := queue.DLQ(src, dlq)
	for pass := range 2 { // listing twice shows the same three: nothing consumed
		list, err := d.ListDeadLetters(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, l := range list {
			ids[l.ID] = l.Reason
		}
		if len(ids) != 3 || ids["orig-1"] != "reason 1" {
			t.Fatalf("pass %d: list %+v", pass, list)
		}
	}
	if n, err := d.Redrive(ctx, "orig-1"); n != 1 || err != nil {
		t.Fatalf("Redrive(orig-1) = %d, %v", n, err)
	}
	ms, err := src.Receive(ctx, 10, 5*time.Second, time.Minute)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != `{"n":1}` {
		t.Fatalf("source after redrive: %v %+v", err, ms)
	}
	if ms[0].Attributes["keep"] != "yes" || ms[0].Attributes[queue.AttrReason] != "" {
		t.Errorf("redriven attributes %v: want keep=yes and no dead-letter reason", ms[0].Attributes)
	}
	list, err := d.ListDeadLetters(ctx, 0)
	if err != nil || len(list) != 2 {
		t.Fatalf("after redrive the dead letters are %v %+v, want 2", err, list)
	}
	if _, err := d.Redrive(ctx, "orig-1"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("redriving a message that is gone: %v, want ErrNotFound", err)
	}
}

// An SQS queue opened without Options.DLQ finds its dead-letter queue from
// its RedrivePolicy; one without a RedrivePolicy says it has none.
func TestSQSDeadLettersFromRedrivePolicy(t *testing.T) {
	c := sqsClient(t)
	ctx := context.Background()
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, c, sqsName(t, false), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(context.Background(), c, qurl, dlqURL) })
	worker := queue.NewSQS(c, qurl, queue.Options{DLQ: dlqURL})
	defer worker.Close()
	id, err := worker.Send(ctx, []byte("job"), queue.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := worker.Receive(ctx, 1, 5*time.Second, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("receive: %v, %v", ms, err)
	}
	if err := worker.DeadLetter(ctx, ms[0], "bad input"); err != nil {
		t.Fatal(err)
	}

	q := queue.NewSQS(c, qurl, queue.Options{})
	defer q.Close()
	dl, err := q.ListDeadLetters(ctx, 0)
	if err != nil || len(dl) != 1 || dl[0].ID != id || dl[0].Reason != "bad input" {
		t.Fatalf("ListDeadLetters without Options.DLQ = %+v, %v; want %s with its reason", dl, err, id)
	}
	if n, err := q.RedriveAll(ctx); n != 1 || err != nil {
		t.Fatalf("RedriveAll = %d, %v", n, err)
	}

	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(sqsName(t, false))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(context.Background(), c, aws.ToString(out.QueueUrl)) })
	bare := queue.NewSQS(c, aws.ToString(out.QueueUrl), queue.Options{})
	defer bare.Close()
	if _, err := bare.ListDeadLetters(ctx, 0); !errors.Is(err, queue.ErrNoDeadLetterQueue) {
		t.Errorf("ListDeadLetters on a queue with no RedrivePolicy = %v, want ErrNoDeadLetterQueue", err)
	}
	if _, err := bare.Redrive(ctx, "x"); !errors.Is(err, queue.ErrNoDeadLetterQueue) {
		t.Errorf("Redrive on a queue with no RedrivePolicy = %v, want ErrNoDeadLetterQueue", err)
	}
}
