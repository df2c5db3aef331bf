package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
)

// failingSend is a queue whose Send always fails.
type failingSend struct{ queue.Queue }

func (failingSend) Send(context.Context, []byte, queue.SendOptions) (string, error) {
	return "", errors.New("send refused")
}

func TestSendBack(t *testing.T) {
	ctx := context.Background()
	src, dlq := openLocal(t), openLocal(t)
	attrs := map[string]string{"tenant": "acme", queue.AttrReason: "no video stream", queue.AttrOriginalID: "m-1"}
	if _, err := dlq.Send(ctx, []byte("job"), queue.SendOptions{Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	ms, err := dlq.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("dead letter: %v, %v", ms, err)
	}

	// A failed send leaves the dead letter where it was.
	if err := queue.SendBack(ctx, failingSend{src}, dlq, ms[0]); err == nil {
		t.Fatal("SendBack with a failing send succeeded")
	}
	if s, _ := dlq.Stats(ctx); s.Visible+s.InFlight != 1 {
		t.Fatalf("after a failed send the dead-letter queue holds %+v, want the message", s)
	}

	if err := queue.SendBack(ctx, src, dlq, ms[0]); err != nil {
		t.Fatal(err)
	}
	if s, _ := dlq.Stats(ctx); s.Visible+s.InFlight != 0 {
		t.Errorf("dead-letter queue still holds %+v", s)
	}
	back, err := src.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(back) != 1 || string(back[0].Body) != "job" {
		t.Fatalf("source queue: %v, %v; want the job back", back, err)
	}
	got := back[0].Attributes
	if got["tenant"] != "acme" || got[queue.AttrReason] != "" || got[queue.AttrOriginalID] != "" {
		t.Errorf("attributes sent back %v: want tenant kept, the dead-letter reason and id dropped", got)
	}
}
