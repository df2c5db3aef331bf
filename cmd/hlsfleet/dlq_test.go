package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// deadLetterJobs sends n jobs to q and dead-letters the first k of them
// with reason "bad input <i>"; it returns the jobs' message ids.
func deadLetterJobs(t *testing.T, q queue.Queue, n, k int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		id, err := queue.SendJob(ctx, q, job.New(fmt.Sprintf("file:///in/%d.mp4", i), fmt.Sprintf("file:///out/%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got := 0
	for got < k {
		msgs, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("receive: %v (%d messages)", err, len(msgs))
		}
		m := msgs[0]
		idx := -1
		for i, id := range ids[:k] {
			if id == m.ID {
				idx = i
			}
		}
		if idx < 0 {
			if err := q.Release(ctx, m, 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := q.DeadLetter(ctx, m, fmt.Sprintf("bad input %d", idx)); err != nil {
			t.Fatal(err)
		}
		got++
	}
	return ids
}

type dlqLine struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Body   string `json:"body"`
}

func listDLQ(t *testing.T, env []string, args ...string) []dlqLine {
	t.Helper()
	r := runCLI(t, env, append([]string{"dlq", "list", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("dlq list: exit %d\n%s", r.code, r.stderr)
	}
	var out []dlqLine
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l == "" {
			continue
		}
		var d dlqLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("dlq list --json line %q: %v", l, err)
		}
		out = append(out, d)
	}
	return out
}

func TestDLQLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := deadLetterJobs(t, q, 3, 2)
	q.Close()
	qurl := "local://" + dir

	r := runCLI(t, nil, "dlq", "list", "--queue", qurl)
	if r.code != 0 {
		t.Fatalf("dlq list: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{ids[0], ids[1], "bad input 0", "bad input 1", "file:///in/0.mp4", "2 dead letters"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, ids[2]) {
		t.Errorf("dlq list shows the live job %s", ids[2])
	}

	r = runCLI(t, nil, "dlq", "redrive", "--queue", qurl, ids[1])
	if r.code != 0 || !strings.Contains(r.stdout, "redriven: 1") {
		t.Fatalf("dlq redrive %s: exit %d\n%s%s", ids[1], r.code, r.stdout, r.stderr)
	}
	if got := listDLQ(t, nil, "--queue", qurl); len(got) != 1 || got[0].ID != ids[0] || got[0].Reason != "bad input 0" {
		t.Fatalf("after redriving one: %+v, want only %s", got, ids[0])
	}
	expectFailure(t, runCLI(t, nil, "dlq", "redrive", "--queue", qurl, "no-such-id"), 2)
	expectFailure(t, runCLI(t, nil, "dlq", "redrive", "--queue", qurl), 2)
	expectFailure(t, runCLI(t, nil, "dlq", "purge", "--queue", qurl), 2)

	r = runCLI(t, nil, "dlq", "redrive", "--queue", qurl, "--all")
	if r.code != 0 || !strings.Contains(r.stdout, "redriven: 1") {
		t.Fatalf("dlq redrive --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := listDLQ(t, nil, "--queue", qurl); len(got) != 0 {
		t.Fatalf("after redrive --all: %+v", got)
	}
	q, err = queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := q.Stats(context.Background())
	if err != nil || st.Visible != 3 {
		t.Fatalf("queue after redriving: %+v, %v; want all 3 jobs visible", st, err)
	}
}

// TestDLQSQS: list (reading the DLQ from the queue's RedrivePolicy) shows
// the reasons and leaves the dead letters in place; redrive sends them back
// whole, without the reason, and empties the DLQ.
func TestDLQSQS(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal("AWS_ENDPOINT_URL_SQS is not set under scripts/test.sh")
		}
		t.Skip("SQS peer not running (AWS_ENDPOINT_URL_SQS unset): scripts/test.sh starts fauxqs")
	}
	ctx := context.Background()
	c, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, c, fmt.Sprintf("dlq-test-%d", time.Now().UnixNano()), 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, c, qurl, dlqURL) })
	q := queue.NewSQS(c, qurl, queue.Options{DLQ: dlqURL})
	ids := deadLetterJobs(t, q, 3, 2)

	for range 2 { // listing twice: a listing leaves the dead letters in place
		got := listDLQ(t, nil, "--queue", qurl)
		if len(got) != 2 {
			t.Fatalf("dlq list: %+v, want 2 dead letters", got)
		}
		reasons := map[string]string{}
		for _, d := range got {
			reasons[d.ID] = d.Reason
		}
		if reasons[ids[0]] != "bad input 0" || reasons[ids[1]] != "bad input 1" {
			t.Fatalf("dlq list: %+v; want %s and %s with their reasons", got, ids[0], ids[1])
		}
	}
	r := runCLI(t, nil, "dlq", "redrive", "--queue", qurl, "--dlq", dlqURL, ids[0])
	if r.code != 0 || !strings.Contains(r.stdout, "redriven: 1") {
		t.Fatalf("dlq redrive %s: exit %d\n%s%s", ids[0], r.code, r.stdout, r.stderr)
	}
	if got := listDLQ(t, nil, "--queue", qurl); len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("after redriving one: %+v, want only %s", got, ids[1])
	}
	expectFailure(t, runCLI(t, nil, "dlq", "redrive", "--queue", qurl, "no-such-id"), 2)
	r = runCLI(t, nil, "dlq", "redrive", "--queue", qurl, "--all")
	if r.code != 0 || !strings.Contains(r.stdout, "redriven: 1") {
		t.Fatalf("dlq redrive --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := listDLQ(t, nil, "--queue", qurl); len(got) != 0 {
		t.Fatalf("after redrive --all: %+v", got)
	}
	// All three jobs are back in the source queue, whole, without a reason.
	bodies := map[string]bool{}
	for len(bodies) < 3 {
		msgs, err := q.Receive(ctx, queue.MaxBatch, 5*time.Second, time.Minute)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("receiving the redriven jobs: %v; got %d of 3", err, len(bodies))
		}
		for _, m := range msgs {
			if _, ok := m.Attributes[queue.AttrReason]; ok {
				t.Errorf("redriven message %s still carries the dead-letter reason", m.ID)
			}
			j, err := job.Parse(m.Body)
			if err != nil {
				t.Fatalf("redriven body does not parse: %v", err)
			}
			bodies[j.Source] = true
			if err := q.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDLQSQSNoRedrivePolicy: a queue with no RedrivePolicy and no --dlq is a
// usage error that says what to pass.
func TestDLQSQSNoRedrivePolicy(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal("AWS_ENDPOINT_URL_SQS is not set under scripts/test.sh")
		}
		t.Skip("SQS peer not running (AWS_ENDPOINT_URL_SQS unset): scripts/test.sh starts fauxqs")
	}
	ctx := context.Background()
	c, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("dlq-bare-%d", time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	qurl := aws.ToString(out.QueueUrl)
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, c, qurl) })
	for _, sub := range []string{"list", "redrive"} {
		args := []string{"dlq", sub, "--queue", qurl}
		if sub == "redrive" {
			args = append(args, "--all")
		}
		r := runCLI(t, nil, args...)
		expectFailure(t, r, 2)
		if !strings.Contains(r.stderr, "pass --dlq URL") || strings.Contains(r.stdout, "redriven") {
			t.Errorf("dlq %s on a queue without a RedrivePolicy:\n%s%s", sub, r.stdout, r.stderr)
		}
	}
}
