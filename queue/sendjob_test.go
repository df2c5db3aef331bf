package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// runSendJob: a retried send of one job adds nothing; a new job for the
// same work goes through; live segments keep their stream's order and
// group, and a segment sent twice (under two job ids) runs once.
func runSendJob(t *testing.T, q queue.Queue, fifo bool) {
	ctx := context.Background()
	vod := job.New("file:///in/a.mp4", "file:///out/a")
	id1, err := queue.SendJob(ctx, q, vod)
	if err != nil {
		t.Fatal(err)
	}
	if id2, err := queue.SendJob(ctx, q, vod); err != nil || (fifo && id2 != id1) {
		t.Fatalf("resending job %s: %q, %v; want the first message %q", vod.ID, id2, err, id1)
	}
	again := job.New(vod.Source, vod.Output) // same work, new job
	if _, err := queue.SendJob(ctx, q, again); err != nil {
		t.Fatal(err)
	}
	long := job.New("file:///in/b.mp4", "file:///out/b", job.WithID(strings.Repeat("x", 128)))
	if _, err := queue.SendJob(ctx, q, long); err != nil {
		t.Fatalf("a job with a 128-byte id: %v", err)
	}
	for seq := range int64(2) {
		seg := job.New("file:///in/live/cam1/seg", "file:///out/live/cam1", job.WithLive("cam1", seq, false))
		if _, err := queue.SendJob(ctx, q, seg); err != nil {
			t.Fatal(err)
		}
	}
	dup := job.New("file:///in/live/cam1/seg", "file:///out/live/cam1", job.WithLive("cam1", 0, false))
	if _, err := queue.SendJob(ctx, q, dup); err != nil {
		t.Fatal(err)
	}
	bad := job.New("not a url", "file:///out/c")
	if _, err := queue.SendJob(ctx, q, bad); err == nil {
		t.Error("SendJob sent an invalid job")
	}

	got := map[string]int{} // job id → deliveries
	var live []int64
	for tries := 0; tries < 20; tries++ {
		ms, err := q.Receive(ctx, queue.MaxBatch, time.Second, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 && len(got) >= 5 {
			break
		}
		for _, m := range ms {
			j, err := job.Parse(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			got[j.ID]++
			if j.Kind == job.KindLiveSegment {
				if fifo && m.GroupID != "cam1" {
					t.Errorf("segment %d in group %q, want cam1", j.Live.Sequence, m.GroupID)
				}
				live = append(live, j.Live.Sequence)
			} else if m.GroupID != "" {
				t.Errorf("job %s in group %q, want none", j.ID, m.GroupID)
			}
			if err := q.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !fifo {
		return // SQS standard queues deduplicate nothing
	}
	if got[vod.ID] != 1 || got[again.ID] != 1 || got[long.ID] != 1 || len(got) != 5 || got[dup.ID] != 0 {
		t.Errorf("deliveries by job %v; want %s, %s, %s and two segments once each", got, vod.ID, again.ID, long.ID)
	}
	if len(live) != 2 || live[0] != 0 || live[1] != 1 {
		t.Errorf("live segments delivered as %v, want [0 1]", live)
	}
}

func TestSendJobLocal(t *testing.T) {
	q := openLocal(t)
	defer q.Close()
	runSendJob(t, q, true) // the local driver honours groups and dedup ids
}

func TestSendJobSQS(t *testing.T) {
	c := sqsClient(t)
	for _, fifo := range []bool{false, true} {
		name := "standard"
		if fifo {
			name = "fifo"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, fifo), 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { queue.DeleteSQSQueues(context.Background(), c, u, dlq) })
			q := queue.NewSQS(c, u, queue.Options{DLQ: dlq})
			defer q.Close()
			runSendJob(t, q, fifo)
		})
	}
}
