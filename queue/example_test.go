package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
)

// The embedded local driver keeps its queue in a file under a directory:
// send a message, receive it (which leases it), and ack it when the work is
// done.
func Example_local() {
	dir, err := os.MkdirTemp("", "queue-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	q, err := queue.Open(ctx, "local://"+dir, queue.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	id, err := q.Send(ctx, []byte(`{"version":1,"id":"clip-42"}`), queue.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	msgs, err := q.Receive(ctx, queue.MaxBatch, time.Second, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Printf("received %s, delivery %d, same id: %v\n", m.Body, m.ReceiveCount, m.ID == id)
		if err := q.Ack(ctx, m); err != nil {
			log.Fatal(err)
		}
	}

	// Nothing is left: a receive that waits a little returns no message.
	msgs, err = q.Receive(ctx, 1, 100*time.Millisecond, time.Minute)
	fmt.Println(len(msgs), err)
	// Output:
	// received {"version":1,"id":"clip-42"}, delivery 1, same id: true
	// 0 <nil>
}

// A receiver that cannot finish a message releases it: the message comes
// back (here at once) with its receive count one higher.
func Example_release() {
	dir, err := os.MkdirTemp("", "queue-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	q, err := queue.Open(ctx, "local://"+dir, queue.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	if _, err := q.Send(ctx, []byte("job A"), queue.SendOptions{}); err != nil {
		log.Fatal(err)
	}
	first, err := q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(first) != 1 {
		log.Fatal(len(first), err)
	}
	if err := q.Release(ctx, first[0], 0); err != nil {
		log.Fatal(err)
	}
	// The first receipt is spent once released.
	fmt.Println(errors.Is(q.Ack(ctx, first[0]), queue.ErrLeaseLost))

	again, err := q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(again) != 1 {
		log.Fatal(len(again), err)
	}
	fmt.Printf("%s: delivery %d\n", again[0].Body, again[0].ReceiveCount)
	if err := q.Ack(ctx, again[0]); err != nil {
		log.Fatal(err)
	}
	// Output:
	// true
	// job A: delivery 2
}
