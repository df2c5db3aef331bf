package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/worker"
)

// fakeOutputs is Outputs on file:// outputs with a fixed fingerprint (the
// sources are s3:// URLs nothing reads).
type fakeOutputs struct{ Outputs }

func (fakeOutputs) Fingerprint(context.Context, *job.Job) string { return "size=1 etag=x" }

type runnerFunc func(ctx context.Context, j *job.Job, progress func(worker.Progress)) (*worker.Outcome, error)

func (f runnerFunc) Run(ctx context.Context, j *job.Job, p func(worker.Progress)) (*worker.Outcome, error) {
	return f(ctx, j, p)
}

type fixture struct {
	h             *Handler
	out           string
	cpu, gpu, dlq queue.Queue
}

// newFixture: probe answers by key (see probeByKey), the runner by runner.
func newFixture(t *testing.T, runner worker.Runner, gpu, dlq bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{out: filepath.Join(dir, "out")}
	open := func(name string) queue.Queue {
		q, err := queue.OpenLocal(filepath.Join(dir, name), queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	f.cpu = open("cpu")
	c := Config{Queue: f.cpu, QueueURL: "local://cpu", Probe: probeByKey, Runner: runner,
		Outputs: fakeOutputs{}, Logger: zaptest.NewLogger(t), Cores: 2,
		Rules: job.Rules{{Prefix: "", Output: "file://" + f.out + "/{stem}/"}}}
	if gpu {
		f.gpu = open("gpu")
		c.GPUQueue, c.GPUURL = f.gpu, "local://gpu"
	}
	if dlq {
		f.dlq = open("dlq")
		c.DLQ = f.dlq
	}
	h, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

var errS3Down = errors.New("s3: connection refused")

// probeByKey: "garbage*" is an input fault, "flaky*" a transient fault,
// "long*" a 3 min 1080p clip, anything else a 10 s 1080p clip.
func probeByKey(_ context.Context, url string) (*pipeline.Info, error) {
	name := url[strings.LastIndex(url, "/")+1:]
	v := &pipeline.VideoInfo{Codec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1", BitDepth: 8, Chroma: "4:2:0", FieldOrder: "progressive"}
	switch {
	case strings.HasPrefix(name, "garbage"):
		return nil, fmt.Errorf("%w: not a media file", job.ErrPermanent)
	case strings.HasPrefix(name, "flaky"):
		return nil, errS3Down
	case strings.HasPrefix(name, "long"):
		return &pipeline.Info{Duration: 180, Video: v}, nil
	}
	return &pipeline.Info{Duration: 10, Video: v}, nil
}

func okRunner(context.Context, *job.Job, func(worker.Progress)) (*worker.Outcome, error) {
	return &worker.Outcome{Published: true, Duration: 10, Renditions: 3}, nil
}

func event(keys ...string) []byte {
	var recs []string
	for _, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":%q,"size":10,"eTag":"e"}}}`, k))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

func messages(t *testing.T, q queue.Queue) []*job.Job {
	t.Helper()
	var jobs []*job.Job
	for {
		msgs, err := q.Receive(context.Background(), 10, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return jobs
		}
		for _, m := range msgs {
			j, err := job.Parse(m.Body)
			if err != nil {
				t.Fatalf("queued message is not a job: %v", err)
			}
			jobs = append(jobs, j)
		}
	}
}

func (f *fixture) status(t *testing.T, stem string) job.Status {
	t.Helper()
	st, ok := Outputs{}.ReadStatus(context.Background(), &job.Job{Output: "file://" + f.out + "/" + stem + "/"})
	if !ok {
		t.Fatalf("no job.json for %s", stem)
	}
	return st
}

func TestInlineCrashGoesToTheFleet(t *testing.T) {
	f := newFixture(t, runnerFunc(func(context.Context, *job.Job, func(worker.Progress)) (*worker.Outcome, error) {
		return nil, fmt.Errorf("%w: signal: segmentation fault", worker.ErrCrashed)
	}), true, false)
	resp, err := f.h.HandleEvent(context.Background(), event("clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; r.Action != ActionQueued || r.Route != "cpu-queue" || !strings.Contains(r.Reason, "segmentation fault") {
		t.Errorf("result %+v, want queued on the CPU queue with the crash as reason", r)
	}
	if n := len(messages(t, f.cpu)); n != 1 {
		t.Errorf("%d jobs on the CPU queue, want 1", n)
	}
	if n := len(messages(t, f.gpu)); n != 0 {
		t.Errorf("%d jobs on the GPU queue, want 0 (a crashed job goes to the CPU fleet)", n)
	}
	if st := f.status(t, "clip"); st.State != job.StateQueued {
		t.Errorf("job.json %+v, want queued", st)
	}
}

func TestInlineOutOfTimeGoesToTheFleet(t *testing.T) {
	f := newFixture(t, runnerFunc(func(ctx context.Context, _ *job.Job, _ func(worker.Progress)) (*worker.Outcome, error) {
		<-ctx.Done() // the transcode takes longer than the invocation has
		return nil, ctx.Err()
	}), false, false)
	// 10 s 1080p: estimated 19 s, 43.5 s with margin; the invocation has 50 s,
	// and the runner gets it less finishReserve.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	f.h.c.Now = func() time.Time { return start }
	runCtxDeadline := make(chan time.Time, 1)
	f.h.c.Runner = runnerFunc(func(ctx context.Context, _ *job.Job, _ func(worker.Progress)) (*worker.Outcome, error) {
		dl, _ := ctx.Deadline()
		runCtxDeadline <- dl
		return nil, context.DeadlineExceeded
	})
	resp, err := f.h.HandleEvent(ctx, event("clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	dl, _ := ctx.Deadline()
	if got := <-runCtxDeadline; dl.Sub(got) != finishReserve {
		t.Errorf("the inline run's deadline is %v before the invocation's, want %v", dl.Sub(got), finishReserve)
	}
	if r := resp.Results[0]; r.Action != ActionQueued {
		t.Errorf("result %+v, want queued", r)
	}
	if n := len(messages(t, f.cpu)); n != 1 {
		t.Errorf("%d jobs on the queue, want 1", n)
	}
}

func TestRoutesAndDuplicates(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), true, false)
	ctx := context.Background()
	resp, err := f.h.HandleEvent(ctx, event("clip.mp4", "long.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := resp.Results[0], resp.Results[1]; a.Action != ActionPublished || b.Action != ActionQueued || b.Route != "gpu-queue" {
		t.Errorf("results %+v, want clip published inline and long queued for the GPU fleet", resp.Results)
	}
	if st := f.status(t, "clip"); st.State != job.StatePublished || st.Renditions != 3 {
		t.Errorf("clip job.json %+v, want published", st)
	}
	// The long clip again: already queued, not sent twice.
	resp, err = f.h.HandleEvent(ctx, event("long.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; r.Action != ActionDuplicate {
		t.Errorf("second event for the long clip: %+v, want a duplicate", r)
	}
	if n := len(messages(t, f.gpu)); n != 1 {
		t.Errorf("%d jobs on the GPU queue, want exactly 1", n)
	}
}

func TestEventFaults(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), false, false)
	ctx := context.Background()
	// A transient fault is an invocation error: Lambda retries it.
	if _, err := f.h.HandleEvent(ctx, event("flaky.mp4")); !errors.Is(err, errS3Down) {
		t.Errorf("transient fault: %v, want an error wrapping it", err)
	}
	// A bad input is recorded and answered, never an error.
	resp, err := f.h.HandleEvent(ctx, event("garbage.mp4"))
	if err != nil || resp.Results[0].Action != ActionFailed {
		t.Errorf("garbage: %+v, %v; want a failed result and no error", resp, err)
	}
	if st := f.status(t, "garbage"); st.State != job.StateFailed || st.Reason != "permanent" {
		t.Errorf("garbage job.json %+v", st)
	}
	// A malformed event: answered, not retried.
	resp, err = f.h.HandleEvent(ctx, []byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`))
	if err != nil || resp.Results[0].Action != ActionFailed {
		t.Errorf("malformed event: %+v, %v; want a failed result and no error", resp, err)
	}
	// The S3 test event asks for nothing.
	resp, err = f.h.HandleEvent(ctx, []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`))
	if err != nil || resp.Results[0].Action != ActionIgnored {
		t.Errorf("test event: %+v, %v; want ignored", resp, err)
	}
}

func sqsEvent(bodies ...[]byte) json.RawMessage {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("m", i), Body: string(b), EventSource: "aws:sqs"})
	}
	out, _ := json.Marshal(ev)
	return out
}

func TestSQSBatchFailures(t *testing.T) {
	for _, tc := range []struct {
		dlq  bool
		want []string
	}{
		// Without a DLQ the permanent fault is reported too, so the source
		// queue's redrive policy dead-letters it; the transient one always.
		{false, []string{"m1", "m3", "m4"}},
		{true, []string{"m3"}},
	} {
		t.Run(fmt.Sprint("dlq=", tc.dlq), func(t *testing.T) {
			f := newFixture(t, runnerFunc(okRunner), false, tc.dlq)
			out, err := f.h.Invoke(context.Background(), sqsEvent(event("a.mp4"), event("garbage.mp4"), event("b.mp4"),
				event("flaky.mp4"), []byte("not json")))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range out.(events.SQSEventResponse).BatchItemFailures {
				got = append(got, x.ItemIdentifier)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("BatchItemFailures %v, want %v", got, tc.want)
			}
			if tc.dlq {
				msgs, err := f.dlq.Receive(context.Background(), 10, 0, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) != 2 || msgs[0].Attributes[queue.AttrReason] == "" {
					t.Errorf("DLQ: %d messages %+v, want the garbage job and the unparsable body, with reasons", len(msgs), msgs)
				}
			}
		})
	}
}

func TestSQSBatchOutOfTime(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	calls := 0
	f.h.c.Now = func() time.Time {
		// The first record is started with 30 s left, the rest find 5 s.
		calls++
		if calls <= 1 {
			return dl.Add(-30 * time.Second)
		}
		return dl.Add(-5 * time.Second)
	}
	out := f.h.HandleSQS(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m0", Body: string(event("long.mp4"))}, {MessageId: "m1", Body: string(event("long2.mp4"))},
	}})
	if len(out.BatchItemFailures) != 1 || out.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Errorf("BatchItemFailures %+v, want only m1 (no time left to start it)", out.BatchItemFailures)
	}
	if n := len(messages(t, f.cpu)); n != 1 {
		t.Errorf("%d jobs queued, want 1", n)
	}
}

func TestLiveSegmentsAlwaysQueued(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), true, false)
	f.h.c.Rules = job.DefaultRules()
	probed := false
	f.h.c.Probe = func(context.Context, string) (*pipeline.Info, error) { probed = true; return nil, errS3Down }
	for i := range 2 {
		resp, err := f.h.HandleEvent(context.Background(), event(fmt.Sprintf("live/cam1/%d.ts", i)))
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.Results[0]; r.Action != ActionQueued || r.Route != "cpu-queue" {
			t.Errorf("segment %d: %+v, want queued on the CPU queue", i, r)
		}
	}
	// One group per stream: the second is delivered after the first is done.
	var seqs []int64
	for range 3 {
		msgs, err := f.cpu.Receive(context.Background(), 10, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			j, err := job.Parse(m.Body)
			if err != nil || j.Kind != job.KindLiveSegment || m.GroupID != "cam1" {
				t.Fatalf("queued %+v (group %q), %v; want a live segment of cam1", j, m.GroupID, err)
			}
			seqs = append(seqs, j.Live.Sequence)
			if err := f.cpu.Ack(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if fmt.Sprint(seqs) != "[0 1]" {
		t.Errorf("live segments delivered %v, want [0 1]", seqs)
	}
	if probed {
		t.Error("a live segment was probed")
	}
}

// TestLiveQueueGroupsByStream: with a live queue configured, live segments
// go there (not to the CPU queue), one FIFO group per stream with the
// stream.seq deduplication id a worker's --live-queue forwarding uses, so
// two streams run in parallel and a repeated event is dropped.
func TestLiveQueueGroupsByStream(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), false, false)
	live, err := queue.OpenLocal(filepath.Join(t.TempDir(), "live"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	f.h.c.LiveQueue, f.h.c.LiveURL = live, "local://live"
	f.h.c.Rules = job.DefaultRules()
	for _, key := range []string{"live/cam1/0.ts", "live/cam2/0.ts", "live/cam1/1.ts", "live/cam1/0.ts", "live/cam2/END"} {
		resp, err := f.h.HandleEvent(context.Background(), event(key))
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.Results[0]; r.Action != ActionQueued || r.Route != "live-queue" || r.Queue != "local://live" {
			t.Errorf("%s: %+v, want queued on the live queue", key, r)
		}
	}
	// The first receive gets the head of each group: both streams at once.
	msgs, err := live.Receive(context.Background(), 10, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	heads := map[string]string{}
	for _, m := range msgs {
		j, err := job.Parse(m.Body)
		if err != nil || j.Kind != job.KindLiveSegment {
			t.Fatalf("queued %+v, %v; want a live segment", j, err)
		}
		if m.GroupID != j.Live.Stream {
			t.Errorf("segment %s.%d in group %q, want its stream", j.Live.Stream, j.Live.Sequence, m.GroupID)
		}
		heads[m.GroupID] = j.LiveDedupID()
	}
	if fmt.Sprint(heads) != "map[cam1:cam1.0 cam2:cam2.0]" {
		t.Errorf("first receive %v, want the head of both streams (cam1.0, cam2.0)", heads)
	}
	for _, m := range msgs {
		if err := live.Ack(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var rest []string
	for range 3 {
		msgs, err := live.Receive(context.Background(), 10, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			j, _ := job.Parse(m.Body)
			rest = append(rest, j.LiveDedupID())
			if err := live.Ack(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Strings(rest)
	if fmt.Sprint(rest) != "[cam1.1 cam2.END]" {
		t.Errorf("then %v, want [cam1.1 cam2.END] (the repeated cam1.0 dropped)", rest)
	}
	if n := len(messages(t, f.cpu)); n != 0 {
		t.Errorf("%d jobs on the CPU queue, want 0 (live segments belong to the live queue)", n)
	}
}

// snsEvent is the event a topic subscription invokes the function with:
// one record per notification, each carrying an S3 event as its Message.
func snsEvent(messages ...[]byte) json.RawMessage {
	var ev events.SNSEvent
	for i, m := range messages {
		ev.Records = append(ev.Records, events.SNSEventRecord{EventSource: "aws:sns", EventVersion: "1.0",
			SNS: events.SNSEntity{Type: "Notification", MessageID: fmt.Sprint("n", i), TopicArn: "arn:aws:sns:us-east-1:1:uploads",
				Message: string(m), Timestamp: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}})
	}
	out, _ := json.Marshal(ev)
	return out
}

// S3 → SNS → Lambda: each record's S3 event is routed like a direct one;
// a transient fault in any record fails the invocation for Lambda's retry,
// and the retry finds the records already handed on as duplicates.
func TestSNSEvent(t *testing.T) {
	f := newFixture(t, runnerFunc(okRunner), false, false)
	ctx := context.Background()
	payload := snsEvent(event("clip.mp4"), event("long.mp4"), event("garbage.mp4"))
	if !strings.Contains(string(payload), `"EventSource":"aws:sns"`) || !strings.Contains(string(payload), `"Sns":{`) {
		t.Fatalf("fixture is not Lambda's SNS event shape: %s", payload)
	}
	out, err := f.h.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.(*Response).Results {
		got = append(got, string(r.Action))
	}
	want := []string{string(ActionPublished), string(ActionQueued), string(ActionFailed)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("results %v, want %v", got, want)
	}
	if st := f.status(t, "clip"); st.State != job.StatePublished {
		t.Errorf("clip job.json %+v, want published", st)
	}
	if jobs := messages(t, f.cpu); len(jobs) != 1 || !strings.HasSuffix(jobs[0].Source, "/long.mp4") {
		t.Errorf("queued %d jobs, want the long clip only", len(jobs))
	}

	if _, err := f.h.Invoke(ctx, snsEvent(event("long.mp4"), event("flaky.mp4"))); !errors.Is(err, errS3Down) {
		t.Errorf("SNS record with a transient fault: %v, want an invocation error wrapping it", err)
	}
	out, err = f.h.Invoke(ctx, snsEvent(event("long.mp4")))
	if err != nil || out.(*Response).Results[0].Action != ActionDuplicate {
		t.Errorf("the retried record: %+v, %v; want a duplicate", out, err)
	}
}
