package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// outputOf opens j's output (file storage) for the test.
func outputOf(t *testing.T, j *job.Job) *storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), j.Output)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readJobJSON reads j's job.json; ok false when there is none.
func readJobJSON(t *testing.T, j *job.Job) (job.Status, bool) {
	t.Helper()
	var data []byte
	var err error
	if strings.HasPrefix(j.Output, "file://") {
		data, err = os.ReadFile(filepath.Join(strings.TrimPrefix(j.Output, "file://"), job.StatusName))
	} else {
		data, err = outputOf(t, j).ReadAll(context.Background(), job.StatusName)
	}
	if err != nil {
		return job.Status{}, false
	}
	var st job.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("job.json does not parse: %v\n%s", err, data)
	}
	return st, true
}

// writeMaster publishes j's output the way job-exec does: a conditional
// create of the master.
func writeMaster(ctx context.Context, j *job.Job, body string) error {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.WriteAll(ctx, job.MasterName, []byte(body), storage.WriterOptions{IfNoneMatch: true})
}

const attemptMaster = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/k7p2xq4mza/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/k7p2xq4mza/index.m3u8\n"

// TestStatusIsForwardOnly: job.json is written by compare-and-swap, and a
// document that says published is never replaced, except by itself; on
// file storage, and on the S3 peer when it runs.
func TestStatusIsForwardOnly(t *testing.T) {
	t.Run("file", func(t *testing.T) { statusIsForwardOnly(t, func() *job.Job { return newJob(t) }) })
	t.Run("s3", func(t *testing.T) {
		bucket := s3PeerBucket(t)
		n := 0
		statusIsForwardOnly(t, func() *job.Job {
			n++
			return job.New("s3://"+bucket+"/in.mp4", fmt.Sprintf("s3://%s/out%d", bucket, n))
		})
	})
}

// s3PeerBucket creates a bucket on the S3 peer (AWS_ENDPOINT_URL_S3), or
// skips the test when none runs.
func s3PeerBucket(t *testing.T) string {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("S3 peer not running: scripts/peers/s3.sh start")
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	name := fmt.Sprintf("hlsfleet-worker-%d", time.Now().UnixNano())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	return name
}

func statusIsForwardOnly(t *testing.T, newJob func() *job.Job) {
	ctx := context.Background()
	out := StorageOutputs{}
	j := newJob()
	running := job.Status{JobID: j.ID, State: job.StateRunning, Attempt: 1, Worker: "a"}
	if err := out.WriteStatus(ctx, j, running); err != nil {
		t.Fatal(err)
	}
	pub := job.Status{JobID: j.ID, State: job.StatePublished, Attempt: 1, Worker: "a", PublishedBy: j.ID, AttemptID: "x1"}
	if err := out.WriteStatus(ctx, j, pub); err != nil {
		t.Fatal(err)
	}
	// The same write again (an earlier try landed) is no error.
	if err := out.WriteStatus(ctx, j, pub); err != nil {
		t.Fatalf("rewriting the same published document: %v", err)
	}
	for _, late := range []job.Status{
		{JobID: j.ID, State: job.StateRunning, Attempt: 2, Worker: "b", Progress: 40},
		{JobID: j.ID, State: job.StateRetrying, Attempt: 1, Worker: "b", Error: "lost"},
		{JobID: j.ID, State: job.StateFailed, Attempt: 3, Worker: "b"},
		{JobID: "other", State: job.StateQueued},
		{JobID: "other", State: job.StatePublished, PublishedBy: "other", AttemptID: "x2"},
	} {
		if err := out.WriteStatus(ctx, j, late); !errors.Is(err, ErrStatusFinal) {
			t.Errorf("writing %s over published: %v, want ErrStatusFinal", late.State, err)
		}
	}
	if st, _ := readJobJSON(t, j); st.State != job.StatePublished || st.AttemptID != "x1" || st.Worker != "a" {
		t.Fatalf("job.json %+v, want the first published document", st)
	}
	// Many writers at once: every write lands or is dropped, none is lost
	// to a torn read-modify-write, and published stays.
	j2 := newJob()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := job.Status{JobID: j2.ID, State: job.StateRunning, Attempt: i}
			if i == 3 {
				st = job.Status{JobID: j2.ID, State: job.StatePublished, Attempt: i, PublishedBy: j2.ID}
			}
			if err := out.WriteStatus(ctx, j2, st); err != nil && !errors.Is(err, ErrStatusFinal) {
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if st, _ := readJobJSON(t, j2); st.State != job.StatePublished || st.Attempt != 3 {
		t.Fatalf("after 8 racing writers job.json is %+v, want writer 3's published document", st)
	}
}

func TestRepairStatus(t *testing.T) {
	ctx := context.Background()
	out := StorageOutputs{}
	by := job.Status{JobID: "dup", Attempt: 2, Worker: "w2", UpdatedAt: time.Unix(1700000000, 0).UTC()}
	j := newJob(t)
	// No master: nothing to repair.
	if _, wrote, err := out.RepairStatus(ctx, j, by); wrote || err != nil {
		t.Fatalf("repair without a master: %v, %v", wrote, err)
	}
	stale := job.Status{JobID: j.ID, State: job.StateRunning, Progress: 90, Attempt: 1, Worker: "w1", Source: j.Source, Output: j.Output}
	if err := out.WriteStatus(ctx, j, stale); err != nil {
		t.Fatal(err)
	}
	if err := writeMaster(ctx, j, attemptMaster); err != nil {
		t.Fatal(err)
	}
	st, wrote, err := out.RepairStatus(ctx, j, by)
	if err != nil || !wrote {
		t.Fatalf("repair: %v, %v", wrote, err)
	}
	ma, err := outputOf(t, j).Stat(ctx, job.MasterName)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != job.StatePublished || st.Progress != 100 || st.JobID != j.ID || st.Attempt != 1 || st.Worker != "w1" ||
		st.AttemptID != "k7p2xq4mza" || st.PublishedBy != "" || st.Renditions != 2 ||
		st.RepairedBy != "w2 (job dup, attempt 2)" || st.FinishedAt == nil || !st.FinishedAt.Equal(ma.ModTime) {
		t.Fatalf("repaired status %+v", st)
	}
	if disk, _ := readJobJSON(t, j); disk.State != job.StatePublished || disk.RepairedBy != st.RepairedBy {
		t.Fatalf("job.json %+v, want the repaired document", disk)
	}
	// Repaired once: a second delivery finds nothing to do.
	if _, wrote, err := out.RepairStatus(ctx, j, by); wrote || err != nil {
		t.Fatalf("second repair: %v, %v", wrote, err)
	}
	// No job.json at all: the published document is made.
	j3 := newJob(t)
	if err := writeMaster(ctx, j3, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n"); err != nil {
		t.Fatal(err)
	}
	if st, wrote, err := out.RepairStatus(ctx, j3, by); err != nil || !wrote || st.JobID != j3.ID || st.AttemptID != "" || st.Attempt != 2 {
		t.Fatalf("repair with no job.json: %+v %v %v", st, wrote, err)
	}
}

// publishedEvents counts the published events rec holds.
func publishedEvents(rec *recEvents) (n int, last job.StateChange) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Type == job.EventPublished {
			n++
			last = e
		}
	}
	return n, last
}

// TestRedeliveryRepairsStaleStatus: a worker died between the master write
// and the status write (job.json says running, the master exists, the
// message comes back). The redelivery repairs job.json and sends the
// published event once; a later duplicate sends nothing more.
func TestRedeliveryRepairsStaleStatus(t *testing.T) {
	rec := &recEvents{}
	var calls atomic.Int32
	e := newEnv(t, queue.Options{}, runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
		calls.Add(1)
		return nil, errors.New("must not run")
	}), func(c *Config) { c.Outputs = NewStorageOutputs(); c.Events = rec })
	j := newJob(t)
	ctx := context.Background()
	if err := (StorageOutputs{}).WriteStatus(ctx, j, job.Status{JobID: j.ID, State: job.StateRunning, Progress: 95,
		Attempt: 1, Worker: "dead-worker", Source: j.Source, Output: j.Output}); err != nil {
		t.Fatal(err)
	}
	if err := writeMaster(ctx, j, attemptMaster); err != nil {
		t.Fatal(err)
	}
	// The dead worker's delivery: received, never finished.
	e.send(j)
	if msgs, err := e.local.Receive(ctx, 1, 0, 50*time.Millisecond); err != nil || len(msgs) != 1 {
		t.Fatalf("first delivery: %v, %v", msgs, err)
	}
	time.Sleep(100 * time.Millisecond)
	e.start()
	if ev := e.next(); ev.op != "ack" || ev.msg.ReceiveCount != 2 {
		t.Fatalf("got %s of receive %d, want the redelivery acknowledged", ev.op, ev.msg.ReceiveCount)
	}
	e.send(j) // a duplicate submission later
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("got %s, want ack", ev.op)
	}
	e.stop()
	if calls.Load() != 0 {
		t.Errorf("runner called %d times, want 0", calls.Load())
	}
	st, _ := readJobJSON(t, j)
	if st.State != job.StatePublished || st.Worker != "dead-worker" || st.AttemptID != "k7p2xq4mza" ||
		st.RepairedBy != "test-worker (job "+j.ID+", attempt 2)" {
		t.Errorf("job.json %+v, want published, repaired by the redelivery", st)
	}
	n, ev := publishedEvents(rec)
	if n != 1 || ev.Status.State != job.StatePublished || ev.Job.ID != j.ID {
		t.Errorf("%d published events (last %+v), want 1", n, ev)
	}
	if got := e.metric("hlsfleet_status_writes_total", "result", "repaired"); got != 1 {
		t.Errorf("repairs counted %v, want 1", got)
	}
	e.wantJobs(map[string]float64{OutcomeDuplicate: 2})
}

// TestPublisherStoppedBeforeStatusWrite: the publishing run stops between
// its master write and its status write; its lease runs out, another
// worker's delivery repairs job.json and sends the published event; when
// the first run goes on, its published status and event are dropped. One
// published event in all, and job.json never leaves published.
func TestPublisherStoppedBeforeStatusWrite(t *testing.T) {
	rec := &recEvents{}
	mastered, resume := make(chan struct{}), make(chan struct{})
	e1 := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, _ func(Progress)) (*Outcome, error) {
		if err := writeMaster(ctx, j, attemptMaster); err != nil {
			return nil, err
		}
		close(mastered)
		<-resume // stopped here, as if killed
		return &Outcome{Published: true, AttemptID: "k7p2xq4mza"}, nil
	}), func(c *Config) {
		c.Outputs, c.Events, c.Visibility, c.WorkerID = NewStorageOutputs(), rec, 300*time.Millisecond, "w1"
	})
	e1.q.extendErr = errors.New("network down") // the lease runs out
	j := e1.send(newJob(t))
	e1.start()
	<-mastered

	q2 := &recQueue{Queue: e1.local, events: make(chan qEvent, 10)}
	w2, err := New(Config{Queue: q2, Outputs: NewStorageOutputs(), Events: rec, Concurrency: 1, Visibility: time.Minute,
		Runner: runnerFunc(func(context.Context, *job.Job, func(Progress)) (*Outcome, error) {
			return nil, errors.New("must not run: the output is published")
		}),
		WorkerID: "w2", Logger: zaptest.NewLogger(t), Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- w2.Run(context.Background()) }()
	select {
	case ev := <-q2.events:
		if ev.op != "ack" || ev.msg.ReceiveCount != 2 {
			t.Fatalf("second worker: %s of receive %d, want ack of the redelivery", ev.op, ev.msg.ReceiveCount)
		}
	case <-time.After(waitLimit):
		t.Fatal("the redelivery was not acknowledged")
	}
	w2.Stop()
	<-done2
	st, _ := readJobJSON(t, j)
	if st.State != job.StatePublished || !strings.HasPrefix(st.RepairedBy, "w2 ") || st.AttemptID != "k7p2xq4mza" {
		t.Fatalf("after the redelivery job.json is %+v, want published, repaired by w2", st)
	}
	close(resume)
	e1.stop()
	if after, _ := readJobJSON(t, j); after.State != job.StatePublished || after.RepairedBy != st.RepairedBy {
		t.Errorf("the late publisher changed job.json to %+v", after)
	}
	if n, _ := publishedEvents(rec); n != 1 {
		t.Errorf("%d published events, want 1 (types %v)", n, rec.types())
	}
	if got := e1.metric("hlsfleet_status_writes_total", "result", "dropped"); got != 1 {
		t.Errorf("the late publisher's dropped status writes: %v, want 1", got)
	}
}

// TestRacingAttemptsNeverUnpublish: two deliveries of one job run at once;
// one publishes, the other goes on reporting progress and then fails. Its
// writes are dropped: job.json, read all along, never leaves published once
// it says so, and one published event is sent.
func TestRacingAttemptsNeverUnpublish(t *testing.T) {
	rec := &recEvents{}
	var calls atomic.Int32
	bothStarted := make(chan struct{})
	var startOnce sync.WaitGroup
	startOnce.Add(2)
	go func() { startOnce.Wait(); close(bothStarted) }()
	published := make(chan struct{})
	e := newEnv(t, queue.Options{}, runnerFunc(func(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
		n := calls.Add(1)
		if n > 2 {
			return nil, errors.New("a third run: the redelivery must find the output published")
		}
		startOnce.Done()
		<-bothStarted
		if n == 1 { // the winner
			if err := writeMaster(ctx, j, attemptMaster); err != nil {
				return nil, err
			}
			return &Outcome{Published: true, AttemptID: "k7p2xq4mza"}, nil
		}
		<-published // the loser goes on after the winner's status says published
		progress(Progress{Percent: 60})
		return nil, errors.New("the master's conditional create lost")
	}), func(c *Config) { c.Outputs, c.Events, c.Concurrency = NewStorageOutputs(), rec, 2 })
	j := newJob(t)
	e.send(j)
	e.send(j)

	var seen []string
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		last := ""
		for {
			if st, ok := readJobJSON(t, j); ok && st.State != last {
				last = st.State
				seen = append(seen, last)
				if last == job.StatePublished {
					select {
					case <-published:
					default:
						close(published)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	e.start()
	acks := 0
	for acks < 2 {
		switch ev := e.next(); ev.op {
		case "ack":
			acks++
		case "release":
		default:
			t.Fatalf("got %s, want ack or release", ev.op)
		}
	}
	e.stop()
	close(stop)
	<-watched
	if i := strings.Index(strings.Join(seen, " "), job.StatePublished); i < 0 || !strings.HasSuffix(strings.Join(seen, " "), job.StatePublished) ||
		strings.Count(strings.Join(seen, " "), job.StatePublished) != 1 {
		t.Errorf("job.json went through %v: it must end published and never leave it", seen)
	}
	st, _ := readJobJSON(t, j)
	if st.PublishedBy != j.ID || st.AttemptID != "k7p2xq4mza" {
		t.Errorf("job.json %+v, want published by %s, attempt k7p2xq4mza", st, j.ID)
	}
	if n, _ := publishedEvents(rec); n != 1 {
		t.Errorf("%d published events, want 1", n)
	}
	if got := e.metric("hlsfleet_status_writes_total", "result", "dropped"); got < 2 {
		t.Errorf("dropped status writes %v, want the loser's progress and retrying writes (2)", got)
	}
	t.Logf("job.json states seen: %v", seen)
}
