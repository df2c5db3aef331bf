package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
)

func openLocal(t *testing.T) queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), "local://"+t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestWithFallback(t *testing.T) {
	ctx := context.Background()
	gpu, cpu := openLocal(t), openLocal(t)
	q := queue.WithFallback(gpu, cpu)
	defer q.Close()

	if _, err := cpu.Send(ctx, []byte("cpu-job"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(ctx, []byte("gpu-job"), queue.SendOptions{}); err != nil { // Send goes to the primary
		t.Fatal(err)
	}
	// The primary is served first while it has work.
	ms, err := q.Receive(ctx, 1, 200*time.Millisecond, time.Minute)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != "gpu-job" {
		t.Fatalf("first Receive = %v, %v; want the primary's gpu-job", ms, err)
	}
	if err := q.Extend(ctx, ms[0], time.Minute); err != nil {
		t.Fatalf("Extend of a primary message: %v", err)
	}
	if queue.Origin(q, ms[0]) != gpu {
		t.Error("Origin of a primary message is not the primary queue")
	}
	if err := q.Ack(ctx, ms[0]); err != nil {
		t.Fatalf("Ack of a primary message: %v", err)
	}
	// Idle primary: the fallback's message comes, and acts on the fallback.
	ms, err = q.Receive(ctx, 1, 200*time.Millisecond, time.Minute)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != "cpu-job" {
		t.Fatalf("second Receive = %v, %v; want the fallback's cpu-job", ms, err)
	}
	if queue.Origin(q, ms[0]) != cpu || queue.Origin(cpu, ms[0]) != cpu {
		t.Error("Origin of a fallback message is not the fallback queue")
	}
	if err := q.Release(ctx, ms[0], 0); err != nil {
		t.Fatalf("Release of a fallback message: %v", err)
	}
	ms, err = q.Receive(ctx, 1, 200*time.Millisecond, time.Minute)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != "cpu-job" {
		t.Fatalf("Receive after Release = %v, %v; want cpu-job again", ms, err)
	}
	if err := q.Ack(ctx, ms[0]); err != nil {
		t.Fatalf("Ack of a fallback message: %v", err)
	}
	for name, sub := range map[string]queue.Queue{"primary": gpu, "fallback": cpu} {
		st, err := sub.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Visible+st.InFlight != 0 {
			t.Errorf("%s still holds %+v after both acks", name, st)
		}
	}
	// Nothing anywhere: an empty answer within the wait, no error.
	start := time.Now()
	ms, err = q.Receive(ctx, 1, 200*time.Millisecond, time.Minute)
	if err != nil || len(ms) != 0 {
		t.Fatalf("Receive on two empty queues = %v, %v", ms, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Receive on two empty queues took %v for a 200ms wait", el)
	}
	if err := q.Ack(ctx, queue.Message{ID: "x", Receipt: "raw"}); !errors.Is(err, queue.ErrForeignReceipt) {
		t.Errorf("Ack with an untagged receipt = %v, want ErrForeignReceipt", err)
	}
}
