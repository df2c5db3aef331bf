package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/chunks"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// fakeExec stands in for `hlsfleet job-exec` on a chunked job, with the
// real chunks.json (jobexec/chunks) on the job's file output: a VOD job
// is planned into n chunks; a chunk job records itself done, or fails, or
// finds its plan failed; the chunk that finds every chunk done writes the
// master (created only if absent) and reports the job published.
type fakeExec struct {
	n int
	// chunk, when set, runs inside every chunk job before it records
	// itself done; an error fails the chunk (a permanent one fails the
	// plan, as jobexec does).
	chunk func(ctx context.Context, i int, progress func(Progress)) error

	mu   sync.Mutex
	runs map[string]int // job id → runs
}

func (f *fakeExec) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id]
}

func (f *fakeExec) Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
	f.mu.Lock()
	if f.runs == nil {
		f.runs = map[string]int{}
	}
	f.runs[j.ID]++
	f.mu.Unlock()
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	store := chunks.Open(b)
	if j.Kind == job.KindVOD {
		plan, _ := job.PlanChunks(float64(60*f.n)+30, 6, 60)
		doc, _, err := store.Start(ctx, chunks.New(j, chunks.Source{URL: j.Source, Size: 1}, *plan))
		if err != nil {
			return nil, err
		}
		return &Outcome{Planned: len(doc.Chunks), Sent: doc.Sent, Chunk: &job.ChunkReport{PlanID: doc.ID,
			Count: len(doc.Chunks), Round: doc.Round, Done: doc.DoneCount(), Pending: doc.Pending()}}, nil
	}
	return f.runChunk(ctx, j, b, store, progress)
}

func (f *fakeExec) runChunk(ctx context.Context, j *job.Job, b *storage.Bucket, store *chunks.Store, progress func(Progress)) (*Outcome, error) {
	i := j.Chunk.Index
	rep := &job.ChunkReport{Index: i, Count: j.Chunk.Count, Result: job.ChunkSkipped}
	doc, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	rep.PlanID = doc.ID
	if len(doc.Failed) > 0 {
		return &Outcome{Chunk: rep}, nil
	}
	if f.chunk != nil {
		if err := f.chunk(ctx, i, progress); err != nil {
			if errors.Is(err, job.ErrPermanent) {
				_, _ = store.MarkFailed(context.WithoutCancel(ctx), doc.ID, i, err.Error())
			}
			return nil, err
		}
	}
	att := attempt.NewID()
	rec, err := store.MarkDone(ctx, doc.ID, i, att, "w", json.RawMessage(`{}`))
	if err != nil {
		return nil, err
	}
	rep.Done, rep.Result = rec.Doc.DoneCount(), job.ChunkTranscoded
	if !rec.Mine {
		rep.Result = job.ChunkDuplicate
	}
	if !rec.AllDone {
		return &Outcome{Chunk: rep}, nil
	}
	master := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/" + att + "/index.m3u8\n"
	err = b.WriteAll(ctx, job.MasterName, []byte(master), storage.WriterOptions{IfNoneMatch: true})
	if errors.Is(err, storage.ErrExists) {
		return &Outcome{Chunk: rep}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Outcome{Published: true, AttemptID: att, Duration: float64(60 * f.n), Renditions: 2, BytesOut: 1000, Chunk: rep}, nil
}

// chunkEnv is a worker on a queue whose chunk jobs go to a second queue,
// read by a second worker when started; both keep job.json in the job's
// file output.
type chunkEnv struct {
	*env
	chunkQ *recQueue
	cw     *env // the chunk queue's worker
	rec    *recEvents
	fake   *fakeExec
}

func newChunkEnv(t *testing.T, fake *fakeExec, slots int, outputs Outputs) *chunkEnv {
	t.Helper()
	rec := &recEvents{}
	if outputs == nil {
		outputs = NewStorageOutputs()
	}
	chunkLocal, err := queue.OpenLocal(t.TempDir(), queue.Options{MaxReceive: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chunkLocal.Close() })
	chunkQ := &recQueue{Queue: chunkLocal, events: make(chan qEvent, 100)}
	parent := newEnv(t, queue.Options{}, fake, func(c *Config) {
		c.Outputs, c.Events, c.ChunkQueue, c.WorkerID = outputs, rec, chunkQ, "planner"
		c.InfraBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	})
	cw := &env{t: t, local: chunkLocal, q: chunkQ, reg: prometheus.NewRegistry()}
	cw.m = NewMetrics(cw.reg)
	cw.w, err = New(Config{Queue: chunkQ, Runner: fake, Outputs: outputs, Concurrency: slots, Visibility: time.Minute,
		DrainTimeout: waitLimit, Backoff: func(int) time.Duration { return 0 }, MaxReceive: 3,
		WorkerID: "chunker", Logger: zaptest.NewLogger(t), Metrics: cw.m, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	return &chunkEnv{env: parent, chunkQ: chunkQ, cw: cw, rec: rec, fake: fake}
}

// nextN returns the next n queue events of e.
func nextN(e *env, n int) []qEvent {
	e.t.Helper()
	var evs []qEvent
	for range n {
		evs = append(evs, e.next())
	}
	return evs
}

func visible(t *testing.T, q queue.Queue) int {
	t.Helper()
	st, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Visible)
}

// failOnce fails MarkChunksSent once with an unavailable storage: the
// chunk jobs were sent, their record was not.
type failOnce struct {
	StorageOutputs
	failed atomic.Bool
}

func (o *failOnce) MarkChunksSent(ctx context.Context, j *job.Job, planID string, round int) error {
	if o.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("writing chunks.json: %w", storage.ErrUnavailable)
	}
	return o.StorageOutputs.MarkChunksSent(ctx, j, planID, round)
}

// TestChunkJobsSentOnce: a long job's run plans it; its chunk jobs go to
// the chunk queue once, though the record of their sending failed once (the
// try is repeated: the resend is deduplicated by the chunk ids) and the
// job's message comes again (the plan says sent: nothing is sent). The
// chunks then run on another worker, and the one that finishes publishes
// the job: one published event, the parent's.
func TestChunkJobsSentOnce(t *testing.T) {
	fake := &fakeExec{n: 5}
	ce := newChunkEnv(t, fake, 2, &failOnce{StorageOutputs: NewStorageOutputs()})
	parent := ce.send(job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie")))
	ce.start()
	if ev := ce.next(); ev.op != "ack" {
		t.Fatalf("the planned job's message: %s, want ack", ev.op)
	}
	if n := fake.count("movie"); n != 2 {
		t.Errorf("the job ran %d times, want 2 (the try whose record failed, repeated)", n)
	}
	ce.send(parent) // the job again: its plan is sent
	if ev := ce.next(); ev.op != "ack" {
		t.Fatalf("the job's second message: %s, want ack", ev.op)
	}
	if got := visible(t, ce.chunkQ); got != 5 {
		t.Fatalf("%d chunk jobs on the chunk queue, want 5", got)
	}
	if got := ce.metric("hlsfleet_jobs_total", "outcome", OutcomePlanned); got != 2 {
		t.Errorf("planned outcomes %v, want 2 (the try whose record failed counts none)", got)
	}
	st, _ := readJobJSON(t, parent)
	if st.State != job.StateRunning || st.Chunks == nil || st.Chunks.Total != 5 || st.Chunks.Done != 0 || st.JobID != "movie" {
		t.Fatalf("job.json after the plan: %+v (chunks %+v)", st, st.Chunks)
	}

	ce.cw.start()
	for _, ev := range nextN(ce.cw, 5) {
		if ev.op != "ack" {
			t.Errorf("a chunk job's message: %s, want ack", ev.op)
		}
	}
	ce.cw.stop()
	ce.stop()
	for i := range 5 {
		if n := fake.count(fmt.Sprintf("movie-c%05d", i)); n != 1 {
			t.Errorf("chunk %d ran %d times, want 1", i, n)
		}
	}
	st, _ = readJobJSON(t, parent)
	if st.State != job.StatePublished || st.PublishedBy != "movie" || st.AttemptID == "" || st.Progress != 100 ||
		st.Chunks == nil || st.Chunks.Done != 5 || len(st.Chunks.Active) != 0 || st.Duration != 300 {
		t.Errorf("job.json at the end: %+v (chunks %+v)", st, st.Chunks)
	}
	n, last := publishedEvents(ce.rec)
	if n != 1 || last.Job.ID != "movie" || last.Status.JobID != "movie" {
		t.Errorf("%d published events (last %+v), want 1 of job movie", n, last)
	}
	if got := ce.cw.metric("hlsfleet_chunks_total", "outcome", ChunkTranscoded) + ce.cw.metric("hlsfleet_chunks_total", "outcome", ChunkFinished); got != 5 {
		t.Errorf("chunks transcoded or finished: %v, want 5", got)
	}
}

// TestChunkStatusAggregation: four chunks run at once on two workers; each
// merges its own progress into the job's job.json, none clobbers another's.
func TestChunkStatusAggregation(t *testing.T) {
	started, release := make(chan int, 10), make(chan struct{})
	fake := &fakeExec{n: 5, chunk: func(ctx context.Context, i int, progress func(Progress)) error {
		if i < 4 {
			progress(Progress{Percent: 50})
			started <- i
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	ce := newChunkEnv(t, fake, 2, nil)
	parent := ce.send(job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie")))
	ce.start()
	ce.next()
	// A second worker on the chunk queue, beside the first.
	w2, err := New(Config{Queue: ce.chunkQ, Runner: fake, Outputs: NewStorageOutputs(), Concurrency: 2, Visibility: time.Minute,
		WorkerID: "chunker2", Logger: zaptest.NewLogger(t), Metrics: NewMetrics(nil), Events: ce.rec})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- w2.Run(context.Background()) }()
	ce.cw.start()
	for range 4 {
		select {
		case <-started:
		case <-time.After(waitLimit):
			t.Fatal("four chunks did not start")
		}
	}
	st, _ := readJobJSON(t, parent)
	c := st.Chunks
	if c == nil || c.Total != 5 || len(c.Active) != 4 || c.Running["chunker"]+c.Running["chunker2"] != 4 || st.Progress != 40 {
		t.Fatalf("job.json with four chunks at 50%%: progress %v, chunks %+v", st.Progress, c)
	}
	if c.Running["chunker"] != 2 || c.Running["chunker2"] != 2 {
		t.Errorf("running per worker %v, want 2 on each", c.Running)
	}
	close(release)
	for range 5 {
		select {
		case ev := <-ce.chunkQ.events:
			if ev.op != "ack" {
				t.Errorf("a chunk's message: %s", ev.op)
			}
		case <-time.After(waitLimit):
			t.Fatal("the chunks did not all end")
		}
	}
	w2.Stop()
	<-done2
	st, _ = readJobJSON(t, parent)
	if st.State != job.StatePublished || st.Chunks.Done != 5 || len(st.Chunks.Active) != 0 {
		t.Errorf("job.json at the end: %+v (chunks %+v)", st, st.Chunks)
	}
	var progress int
	for _, ev := range ce.rec.events {
		if ev.Type == job.EventProgress {
			progress++
			if ev.Job.ID != "movie" || ev.Status.JobID != "movie" {
				t.Errorf("a progress event not of the job: %+v", ev)
			}
		}
	}
	if progress < 4 || progress > 9 {
		t.Errorf("%d progress events, want one per 10%% passed (4 to 9)", progress)
	}
}

// TestChunkFailureFailsJob: a chunk that fails for good is dead-lettered
// with its reason, and the job's job.json says failed with it; the chunks
// after it find the plan failed and are acknowledged.
func TestChunkFailureFailsJob(t *testing.T) {
	fake := &fakeExec{n: 4, chunk: func(_ context.Context, i int, _ func(Progress)) error {
		if i == 1 {
			return fmt.Errorf("%w: chunk 1 of 4: corrupt packet at 61.2 s", job.ErrPermanent)
		}
		return nil
	}}
	ce := newChunkEnv(t, fake, 1, nil)
	parent := ce.send(job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie")))
	ce.start()
	ce.next()
	ce.cw.start()
	evs := nextN(ce.cw, 4)
	ce.cw.stop()
	ce.stop()
	var dead []qEvent
	for _, ev := range evs {
		if ev.op == "dead-letter" {
			dead = append(dead, ev)
		}
	}
	if len(dead) != 1 || !strings.Contains(dead[0].reason, "corrupt packet at 61.2 s") {
		t.Fatalf("dead letters %+v, want chunk 1's with its reason", dead)
	}
	var cj job.Job
	if json.Unmarshal(dead[0].msg.Body, &cj) != nil || cj.Chunk == nil || cj.Chunk.Index != 1 {
		t.Errorf("the dead letter is not chunk 1's message: %s", dead[0].msg.Body)
	}
	st, _ := readJobJSON(t, parent)
	if st.State != job.StateFailed || !strings.Contains(st.Error, "chunk 1 of 4") || !strings.Contains(st.Error, "corrupt packet") ||
		st.Reason != fault.Input.String() || st.Chunks == nil || len(st.Chunks.Failed) != 1 || st.Chunks.Failed[0].Index != 1 {
		t.Errorf("job.json: %+v (chunks %+v), want failed with chunk 1's reason", st, st.Chunks)
	}
	var failed, deadEv int
	for _, ev := range ce.rec.events {
		switch ev.Type {
		case job.EventFailed:
			failed++
		case job.EventDeadLettered:
			deadEv++
		default:
			continue
		}
		if ev.Job.ID != "movie" || ev.Status.JobID != "movie" || !strings.Contains(ev.Reason, "chunk 1 of 4") {
			t.Errorf("%s event not the job's, with the chunk's reason: %+v", ev.Type, ev)
		}
	}
	if failed != 1 || deadEv != 1 {
		t.Errorf("%d failed and %d dead-lettered events, want one each", failed, deadEv)
	}
	if n, _ := publishedEvents(ce.rec); n != 0 {
		t.Error("a failed job was published")
	}
}

// TestChunkOfPublishedJobAcked: a chunk of a job that is published is
// acknowledged without running.
func TestChunkOfPublishedJobAcked(t *testing.T) {
	fake := &fakeExec{n: 3}
	e := newEnv(t, queue.Options{}, fake, func(c *Config) { c.Outputs = NewStorageOutputs() })
	parent := job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie"))
	if err := writeMaster(context.Background(), parent, attemptMaster); err != nil {
		t.Fatal(err)
	}
	e.send(job.ChunkJob(parent, 2, 3))
	e.start()
	if ev := e.next(); ev.op != "ack" {
		t.Fatalf("chunk of a published job: %s, want ack", ev.op)
	}
	e.stop()
	if n := fake.count("movie-c00002"); n != 0 {
		t.Errorf("the chunk ran %d times", n)
	}
	if got := e.metric("hlsfleet_chunks_total", "outcome", ChunkSkipped); got != 1 {
		t.Errorf("skipped chunks %v, want 1", got)
	}
	if st, _ := readJobJSON(t, parent); st.State != job.StatePublished || st.JobID != "movie" {
		t.Errorf("job.json: %+v, want the job's, published (repaired)", st)
	}
}

// TestChunkReleasedOnShutdown: SIGTERM (a forced stop) and a spot
// interruption release a running chunk's message at once, as any job's;
// its entry leaves the job's job.json.
func TestChunkReleasedOnShutdown(t *testing.T) {
	for _, how := range []string{"stop", "interrupt"} {
		t.Run(how, func(t *testing.T) {
			started := make(chan struct{}, 1)
			fake := &fakeExec{n: 3, chunk: func(ctx context.Context, _ int, progress func(Progress)) error {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}}
			e := newEnv(t, queue.Options{}, fake, func(c *Config) { c.Outputs = NewStorageOutputs() })
			parent := job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie"))
			if _, err := fake.Run(context.Background(), parent, nil); err != nil { // the plan
				t.Fatal(err)
			}
			e.send(job.ChunkJob(parent, 0, 3))
			e.start()
			<-started
			if st, _ := readJobJSON(t, parent); st.Chunks == nil || len(st.Chunks.Active) != 1 {
				t.Fatalf("job.json of a running chunk: %+v", st)
			}
			if how == "stop" {
				e.w.Stop()
				e.w.Stop()
			} else {
				e.w.Interrupt(time.Now().Add(time.Second), 0)
			}
			if ev := e.next(); ev.op != "release" || ev.delay != 0 {
				t.Fatalf("%s: %s with delay %v, want release at once", how, ev.op, ev.delay)
			}
			e.wait()
			// At least once: a receive already in flight when receiving
			// stopped may still hand the released message back, and it is
			// released again at once without running (seen in CI).
			if got := e.metric("hlsfleet_chunks_total", "outcome", ChunkReleased); got < 1 {
				t.Errorf("released chunks %v, want at least 1", got)
			}
			if got := e.metric("hlsfleet_chunks_total", "outcome", ChunkTranscoded); got != 0 {
				t.Errorf("transcoded chunks %v, want 0", got)
			}
			if st, _ := readJobJSON(t, parent); st.Chunks == nil || len(st.Chunks.Active) != 0 || st.State != job.StateRunning {
				t.Errorf("job.json after the release: %+v (chunks %+v)", st, st.Chunks)
			}
		})
	}
}

// TestCrashingChunkResumedByResubmission: a chunk that keeps crashing is
// dead-lettered on the queue's last receive with the last error; the job
// fails with it, and its plan records the failure, so that resubmitting the
// job re-opens the plan and sends only that chunk again, in the next round.
func TestCrashingChunkResumedByResubmission(t *testing.T) {
	var crashes atomic.Int32
	fake := &fakeExec{n: 3, chunk: func(_ context.Context, i int, _ func(Progress)) error {
		if i == 1 && crashes.Add(1) <= 3 {
			return fmt.Errorf("%w: signal: killed", ErrCrashed)
		}
		return nil
	}}
	ce := newChunkEnv(t, fake, 1, nil)
	parent := ce.send(job.New("file:///in/long.mp4", "file://"+t.TempDir()+"/out", job.WithID("movie")))
	ce.start()
	ce.next()
	ce.cw.start()
	var dead qEvent
	for acks := 0; acks < 2 || dead.op == ""; {
		switch ev := ce.cw.next(); ev.op {
		case "ack":
			acks++
		case "dead-letter":
			dead = ev
		}
	}
	if !strings.Contains(dead.reason, "gave up after 3 attempts") {
		t.Fatalf("dead letter reason %q", dead.reason)
	}
	st, _ := readJobJSON(t, parent)
	if st.State != job.StateFailed || !strings.Contains(st.Error, "chunk 1 of 3") || st.Reason != fault.Crashed.String() {
		t.Fatalf("job.json: %+v", st)
	}
	b, _ := storage.Open(context.Background(), parent.Output)
	defer b.Close()
	doc, err := chunks.Open(b).Load(context.Background())
	if err != nil || len(doc.Failed) != 1 || doc.Failed[0].Index != 1 || doc.Chunks[0].State != chunks.Done {
		t.Fatalf("chunks.json: %v, %+v", err, doc)
	}
	pending := len(doc.Pending()) // chunk 1, and chunk 2 if it ran after the failure (then it did nothing)

	again := parent.Clone()
	again.ID = "movie-again"
	ce.send(again)
	if ev := ce.next(); ev.op != "ack" {
		t.Fatalf("the resubmission: %s", ev.op)
	}
	for _, ev := range nextN(ce.cw, pending) {
		if ev.op != "ack" {
			t.Fatalf("a re-sent chunk: %s", ev.op)
		}
	}
	ce.cw.stop()
	ce.stop()
	if n := fake.count("movie-again-r1-c00001"); n != 1 {
		t.Errorf("round 1's chunk 1 ran %d times, want 1", n)
	}
	if n := fake.count("movie-again-r1-c00000"); n != 0 {
		t.Errorf("a done chunk was sent again (%d runs)", n)
	}
	st, _ = readJobJSON(t, parent)
	if st.State != job.StatePublished || st.Chunks == nil || st.Chunks.Done != 3 || len(st.Chunks.Failed) != 0 {
		t.Errorf("job.json at the end: %+v (chunks %+v)", st, st.Chunks)
	}
}
