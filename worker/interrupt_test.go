package worker

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

func TestEstimateRemaining(t *testing.T) {
	cases := []struct {
		name    string
		p       Progress
		elapsed time.Duration
		want    time.Duration
		ok      bool
	}{
		{"no progress yet", Progress{}, time.Minute, 0, false},
		{"done, publishing", Progress{Percent: 100, Speed: 2, MediaSeconds: 60}, time.Minute, 0, true},
		{"speed: 30 of 60 media s at 2x", Progress{Percent: 50, Speed: 2, MediaSeconds: 30}, time.Hour, 15 * time.Second, true},
		{"speed: 10% of 600 s at 0.5x", Progress{Percent: 10, Speed: 0.5, MediaSeconds: 60}, 0, 1080 * time.Second, true},
		{"no speed: elapsed scaled", Progress{Percent: 25}, 20 * time.Second, 60 * time.Second, true},
		{"no speed, no elapsed", Progress{Percent: 25}, 0, 0, false},
		{"percent over 100 clamps", Progress{Percent: 140}, time.Second, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := EstimateRemaining(c.p, c.elapsed)
			if ok != c.ok || (ok && (got-c.want).Abs() > time.Millisecond) {
				t.Fatalf("EstimateRemaining(%+v, %v) = %v, %v; want %v, %v", c.p, c.elapsed, got, ok, c.want, c.ok)
			}
		})
	}
}

// paceRunner reports progress for its job from script (keyed by source) and
// then waits until release is closed or ctx ends.
type paceRunner struct {
	script  map[string]Progress
	release map[string]chan struct{}
	started chan string
}

func (r *paceRunner) Run(ctx context.Context, j *job.Job, progress func(Progress)) (*Outcome, error) {
	progress(r.script[j.Source])
	r.started <- j.Source
	select {
	case <-r.release[j.Source]:
		return &Outcome{Published: true, Duration: 60}, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// TestInterruptFinishesWhatFitsAndReleasesTheRest: a job whose estimate fits
// before the deadline keeps running and is acked; a long one and one with no
// progress are released at once with no delay; receiving stops; Run returns.
func TestInterruptFinishesWhatFitsAndReleasesTheRest(t *testing.T) {
	lq, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	q := &recQueue{Queue: lq, events: make(chan qEvent, 16)}
	r := &paceRunner{
		script: map[string]Progress{
			"file:///short": {Percent: 90, Speed: 4, MediaSeconds: 54},  // 6 s of media left at 4x: 1.5 s
			"file:///long":  {Percent: 5, Speed: 0.5, MediaSeconds: 30}, // 570 s of media at 0.5x
			"file:///new":   {},                                         // no progress yet
		},
		release: map[string]chan struct{}{"file:///short": make(chan struct{}), "file:///long": make(chan struct{}), "file:///new": make(chan struct{})},
		started: make(chan string, 3),
	}
	w, err := New(Config{Queue: q, Runner: r, Concurrency: 3, Logger: zaptest.NewLogger(t), DrainTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, src := range []string{"file:///short", "file:///long", "file:///new"} {
		j := job.New(src, "file:///out"+src[len("file://"):])
		body, _ := j.Marshal()
		if _, err := lq.Send(context.Background(), body, queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		ids[src] = j.ID
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(context.Background()) }()
	for range 3 {
		select {
		case <-r.started:
		case <-time.After(waitLimit):
			t.Fatal("the three jobs did not start")
		}
	}
	ds := w.Interrupt(time.Now().Add(2*time.Minute), 30*time.Second)
	if len(ds) != 3 {
		t.Fatalf("got %d decisions, want 3: %+v", len(ds), ds)
	}
	byID := map[string]Decision{}
	for _, d := range ds {
		byID[d.JobID] = d
	}
	if d := byID[ids["file:///short"]]; !d.Finish || !d.Known {
		t.Errorf("short job: %+v, want finish", d)
	}
	if d := byID[ids["file:///long"]]; d.Finish || !d.Known || d.Remaining < 1000*time.Second {
		t.Errorf("long job: %+v, want release with a known remaining time over 1000 s", d)
	}
	if d := byID[ids["file:///new"]]; d.Finish || d.Known {
		t.Errorf("job without progress: %+v, want release, unknown", d)
	}
	if w.Ready() {
		t.Error("still ready after Interrupt: receiving should have stopped")
	}
	// Two releases with no delay come at once.
	for range 2 {
		select {
		case ev := <-q.events:
			if ev.op != "release" || ev.delay != 0 {
				t.Fatalf("got %s delay %v, want release with no delay", ev.op, ev.delay)
			}
		case <-time.After(waitLimit):
			t.Fatal("the jobs that do not fit were not released")
		}
	}
	// A job sent now is not received by the interrupted worker.
	late := job.New("file:///late", "file:///out/late")
	body, _ := late.Marshal()
	if _, err := lq.Send(context.Background(), body, queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	close(r.release["file:///short"])
	// A receive already in flight when receiving stopped may hand a
	// released message back; it is released again at once, not run.
	for acked := false; !acked; {
		select {
		case ev := <-q.events:
			switch {
			case ev.op == "ack":
				acked = true
			case ev.op != "release" || ev.delay != 0:
				t.Fatalf("got %s delay %v, want the short job acked", ev.op, ev.delay)
			}
		case <-time.After(waitLimit):
			t.Fatal("the short job was not acked")
		}
	}
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the kept job finished")
	}
	st, err := lq.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Visible != 3 || st.InFlight != 0 {
		t.Fatalf("queue after the interruption: %+v; want 3 visible (2 released + the late one), none in flight", st)
	}
}

// TestInterruptReleasesOverrunningJobAtDeadline: a job expected to fit that
// is still running at deadline-margin is released then.
func TestInterruptReleasesOverrunningJobAtDeadline(t *testing.T) {
	lq, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	q := &recQueue{Queue: lq, events: make(chan qEvent, 16)}
	r := &paceRunner{
		script:  map[string]Progress{"file:///a": {Percent: 99, Speed: 10, MediaSeconds: 99}},
		release: map[string]chan struct{}{"file:///a": make(chan struct{})}, // never closed: it overruns
		started: make(chan string, 1),
	}
	w, err := New(Config{Queue: q, Runner: r, Concurrency: 1, DrainTimeout: time.Hour, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := job.New("file:///a", "file:///out/a").Marshal()
	if _, err := lq.Send(context.Background(), body, queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(context.Background()) }()
	select {
	case <-r.started:
	case <-time.After(waitLimit):
		t.Fatal("the job did not start")
	}
	ds := w.Interrupt(time.Now().Add(1500*time.Millisecond), time.Second)
	if len(ds) != 1 || !ds[0].Finish {
		t.Fatalf("decisions %+v, want one finish", ds)
	}
	select {
	case ev := <-q.events:
		if ev.op != "release" || ev.delay != 0 {
			t.Fatalf("got %s delay %v, want release with no delay", ev.op, ev.delay)
		}
	case <-time.After(waitLimit):
		t.Fatal("the overrunning job was not released at deadline-margin")
	}
	select {
	case <-runDone:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
}

// TestInterruptStartsNoFurtherJobOfAMessage: a message of two jobs (an S3
// event with two records) whose first job is kept to finish; the second
// does not start, and the message is released for another worker.
func TestInterruptStartsNoFurtherJobOfAMessage(t *testing.T) {
	lq, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	q := &recQueue{Queue: lq, events: make(chan qEvent, 16)}
	r := &paceRunner{
		script: map[string]Progress{
			"s3://media-in/up/a.mp4": {Percent: 90, Speed: 4, MediaSeconds: 54},
			"s3://media-in/up/b.mp4": {Percent: 1, Speed: 4, MediaSeconds: 1},
		},
		release: map[string]chan struct{}{"s3://media-in/up/a.mp4": make(chan struct{}), "s3://media-in/up/b.mp4": make(chan struct{})},
		started: make(chan string, 2),
	}
	close(r.release["s3://media-in/up/b.mp4"])
	w, err := New(Config{Queue: q, Runner: r, Concurrency: 1, DrainTimeout: time.Hour, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(key string) string {
		return `{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media-in"},` +
			`"object":{"key":"` + key + `","size":1048576,"eTag":"d41d8cd98f00b204e9800998ecf8427e"}}}`
	}
	body := `{"Records":[` + rec("up/a.mp4") + `,` + rec("up/b.mp4") + `]}`
	if _, err := lq.Send(context.Background(), []byte(body), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(context.Background()) }()
	select {
	case src := <-r.started:
		if src != "s3://media-in/up/a.mp4" {
			t.Fatalf("first job %s, want a.mp4", src)
		}
	case <-time.After(waitLimit):
		t.Fatal("the first job did not start")
	}
	if ds := w.Interrupt(time.Now().Add(2*time.Minute), 30*time.Second); len(ds) != 1 || !ds[0].Finish {
		t.Fatalf("decisions %+v, want the first job kept", ds)
	}
	close(r.release["s3://media-in/up/a.mp4"])
	select {
	case ev := <-q.events:
		if ev.op != "release" || ev.delay != 0 {
			t.Fatalf("got %s delay %v, want the message released with no delay", ev.op, ev.delay)
		}
	case <-time.After(waitLimit):
		t.Fatal("the message was not released")
	}
	select {
	case <-runDone:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	select {
	case src := <-r.started:
		t.Fatalf("%s started after the interruption", src)
	default:
	}
}
