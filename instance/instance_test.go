package instance

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/internal/imdsmock"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/worker"
)

const waitLimit = 20 * time.Second

func TestMetadataSpotAndRebalance(t *testing.T) {
	at := time.Now().UTC().Add(90 * time.Second).Truncate(time.Second)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsmock.Start(t, "spot", "-t", at.Format(time.RFC3339)))
	md := NewMetadata(0)
	ctx := context.Background()
	id, err := md.InstanceID(ctx)
	if err != nil || id != imdsmock.InstanceID {
		t.Fatalf("InstanceID = %q, %v; want %s", id, err, imdsmock.InstanceID)
	}
	a, err := md.Spot(ctx)
	if err != nil || a == nil {
		t.Fatalf("Spot = %v, %v; want a notice", a, err)
	}
	if a.Action != "terminate" || !a.Time.Equal(at) {
		t.Fatalf("Spot = %+v; want terminate at %v", a, at)
	}
	r, err := md.Rebalance(ctx)
	if err != nil || r == nil || r.IsZero() {
		t.Fatalf("Rebalance = %v, %v; want a notice time", r, err)
	}
	s, err := md.LifecycleState(ctx)
	if err != nil || s != "" {
		t.Fatalf("LifecycleState = %q, %v; want \"\" (not served in spot mode)", s, err)
	}
}

func TestMetadataLifecycleState(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsmock.Start(t, "asglifecycle", "--asg-termination-delay-sec", "3600"))
	md := NewMetadata(0)
	s, err := md.LifecycleState(context.Background())
	if err != nil || s != "InService" {
		t.Fatalf("LifecycleState = %q, %v; want InService", s, err)
	}
	a, err := md.Spot(context.Background())
	if err != nil || a != nil {
		t.Fatalf("Spot = %+v, %v; want no notice", a, err)
	}
}

// TestOffEC2StaysQuiet: with no metadata service the controller gives up
// after one request and returns ErrUnavailable quickly, touching nothing.
func TestOffEC2StaysQuiet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+addr)
	fw := &fakeWorker{}
	c, err := NewController(Config{Worker: fw, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Run = %v, want ErrUnavailable", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not give up off EC2")
	}
	if fw.stops != 0 || fw.interrupts != 0 {
		t.Fatalf("the worker was touched off EC2: %+v", fw)
	}
}

type fakeWorker struct {
	mu                sync.Mutex
	stops, interrupts int
	running           int
}

func (f *fakeWorker) Stop() { f.mu.Lock(); f.stops++; f.mu.Unlock() }
func (f *fakeWorker) Interrupt(time.Time, time.Duration) []worker.Decision {
	f.mu.Lock()
	f.interrupts++
	f.mu.Unlock()
	return nil
}
func (f *fakeWorker) Running() int { f.mu.Lock(); defer f.mu.Unlock(); return f.running }

// mediaRunner "transcodes" media seconds of media at speed x realtime,
// reporting progress every 20 ms, and records which jobs it finished.
type mediaRunner struct {
	name  string
	media map[string]float64 // source -> media seconds
	speed float64

	mu       sync.Mutex
	started  []string
	finished []string
	startCh  chan string
	// hold, when set, keeps each job at 1% until it is closed.
	hold chan struct{}
}

func (r *mediaRunner) Run(ctx context.Context, j *job.Job, progress func(worker.Progress)) (*worker.Outcome, error) {
	r.mu.Lock()
	r.started = append(r.started, j.Source)
	r.mu.Unlock()
	if r.startCh != nil {
		r.startCh <- j.Source
	}
	total := r.media[j.Source]
	if r.hold != nil {
		progress(worker.Progress{Percent: 1, Speed: r.speed, MediaSeconds: total / 100})
		select {
		case <-r.hold:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done := min(time.Since(start).Seconds()*r.speed, total)
		progress(worker.Progress{Percent: 100 * done / total, Speed: r.speed, MediaSeconds: done})
		if done >= total {
			r.mu.Lock()
			r.finished = append(r.finished, j.Source)
			r.mu.Unlock()
			return &worker.Outcome{Published: true, Duration: total, Speed: r.speed}, nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

func (r *mediaRunner) list(which *[]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), (*which)...)
}

func sendJob(t *testing.T, q queue.Queue, src string) {
	t.Helper()
	body, err := job.New(src, "file:///out"+src[len("file://"):]).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(context.Background(), body, queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSpotInterruptionReleasesLongJob: a spot notice comes while a long job
// and a nearly done one run; the worker stops receiving, releases the long
// job at once, finishes the short one, and stops well before the deadline; a
// second worker then runs the long job (and one sent after the notice).
func TestSpotInterruptionReleasesLongJob(t *testing.T) {
	deadline := time.Now().UTC().Add(60 * time.Second).Truncate(time.Second)
	q, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	media := map[string]float64{"file:///long": 3600, "file:///short": 20, "file:///late": 1}
	r1 := &mediaRunner{name: "w1", media: media, speed: 4, startCh: make(chan string, 4)}
	sendJob(t, q, "file:///long")
	w1, err := worker.New(worker.Config{Queue: q, Runner: r1, Concurrency: 2, DrainTimeout: 5 * time.Minute,
		WorkerID: "w1", Logger: zaptest.NewLogger(t).Named("w1")})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w1.Run(context.Background()) }()
	<-r1.startCh // the long job runs
	// The short one: 20 media s at 4x is 5 s, well inside 60 s - 30 s.
	sendJob(t, q, "file:///short")
	select {
	case <-r1.startCh:
	case <-time.After(waitLimit):
		t.Fatal("the short job did not start")
	}
	// Now the notice: the mock serves it from the start.
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsmock.Start(t, "spot", "-t", deadline.Format(time.RFC3339)))
	m := NewMetrics(nil)
	c, err := NewController(Config{Worker: w1, Interval: 200 * time.Millisecond, Margin: 30 * time.Second,
		Logger: zaptest.NewLogger(t).Named("lifecycle"), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	waitUntil(t, "the worker stopped receiving", func() bool { return !w1.Ready() })
	sendJob(t, q, "file:///late")
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the interrupted worker did not stop")
	}
	if left := time.Until(deadline); left < 30*time.Second {
		t.Fatalf("the worker stopped only %v before the deadline", left)
	}
	if got := r1.list(&r1.finished); len(got) != 1 || got[0] != "file:///short" {
		t.Fatalf("the interrupted worker finished %v, want only the short job", got)
	}
	if contains(r1.list(&r1.started), "file:///late") {
		t.Fatal("the interrupted worker received a job sent after the notice")
	}
	if got := counter(t, m.InterruptionJobs.WithLabelValues("release")); got != 1 {
		t.Errorf("released on interruption: %v, want 1", got)
	}
	if got := counter(t, m.InterruptionJobs.WithLabelValues("finish")); got != 1 {
		t.Errorf("finished on interruption: %v, want 1", got)
	}
	if got := counter(t, m.Notices.WithLabelValues(KindSpotInterruption)); got != 1 {
		t.Errorf("spot notices: %v, want 1", got)
	}

	// A second worker (on another instance) picks the long job up at once.
	media["file:///long"] = 2
	r2 := &mediaRunner{name: "w2", media: media, speed: 4}
	w2, err := worker.New(worker.Config{Queue: q, Runner: r2, Concurrency: 2, WorkerID: "w2",
		Logger: zaptest.NewLogger(t).Named("w2")})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	run2 := make(chan error, 1)
	go func() { run2 <- w2.Run(ctx2) }()
	waitUntil(t, "the second worker finished the released jobs", func() bool {
		f := r2.list(&r2.finished)
		return contains(f, "file:///long") && contains(f, "file:///late")
	})
	cancel2()
	<-run2
	st, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Visible+st.InFlight+st.Delayed != 0 {
		t.Fatalf("queue not empty at the end: %+v", st)
	}
}

// TestLifecycleTerminationDrainsThenCompletes: Auto Scaling marks the
// instance Terminated while a job runs; the worker drains (the job
// finishes and is acked), then the controller completes the lifecycle
// action with CONTINUE, and only then.
func TestLifecycleTerminationDrainsThenCompletes(t *testing.T) {
	rec := imdsmock.NewAutoScaling(t)
	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", rec.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	lq, err := queue.OpenLocal(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	q := &ackTimes{Queue: lq}
	// The job holds until the controller has seen the termination, then
	// runs 8 media s at 4x: 2 s of drain.
	r := &mediaRunner{media: map[string]float64{"file:///a": 8, "file:///b": 1}, speed: 4, startCh: make(chan string, 2),
		hold: make(chan struct{})}
	sendJob(t, lq, "file:///a")
	w, err := worker.New(worker.Config{Queue: q, Runner: r, Concurrency: 1, DrainTimeout: time.Minute,
		Logger: zaptest.NewLogger(t).Named("worker")})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(context.Background()) }()
	<-r.startCh
	// Auto Scaling terminates the instance now that the job runs.
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsmock.Start(t, "asglifecycle"))
	m := NewMetrics(nil)
	c, err := NewController(Config{Worker: w, ASG: "hlsfleet-cpu", LifecycleHook: "hlsfleet-drain",
		HookHeartbeat: 300 * time.Millisecond, Interval: 200 * time.Millisecond, Logger: zaptest.NewLogger(t).Named("lifecycle"), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	waitUntil(t, "the controller saw the termination", c.Terminating)
	sendJob(t, lq, "file:///b") // not received: the worker drains
	close(r.hold)
	select {
	case <-runDone:
	case <-time.After(waitLimit):
		t.Fatal("the worker did not drain")
	}
	for _, call := range rec.Calls() {
		if call.Action != "RecordLifecycleActionHeartbeat" {
			t.Fatalf("%s called before the drain ended", call.Action)
		}
	}
	if err := c.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.list(&r.finished); len(got) != 1 || got[0] != "file:///a" {
		t.Fatalf("finished %v, want the running job only", got)
	}
	all := rec.Calls()
	if len(all) < 2 || all[0].Action != "RecordLifecycleActionHeartbeat" || all[0].Params.Get("InstanceId") != imdsmock.InstanceID ||
		all[0].Params.Get("LifecycleHookName") != "hlsfleet-drain" {
		t.Fatalf("calls %+v: want lifecycle heartbeats for the instance during the 2 s drain", all)
	}
	calls := all[len(all)-1:]
	if calls[0].Action != "CompleteLifecycleAction" {
		t.Fatalf("last call %s, want CompleteLifecycleAction", calls[0].Action)
	}
	time.Sleep(time.Second)
	if n := len(rec.Calls()); n != len(all) {
		t.Fatalf("%d more calls after the lifecycle action was completed: heartbeats did not stop", n-len(all))
	}
	p := calls[0].Params
	for k, want := range map[string]string{"AutoScalingGroupName": "hlsfleet-cpu", "LifecycleHookName": "hlsfleet-drain",
		"InstanceId": imdsmock.InstanceID, "LifecycleActionResult": "CONTINUE"} {
		if p.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, p.Get(k), want)
		}
	}
	if acked := q.last(); acked.IsZero() || !calls[0].At.After(acked) {
		t.Errorf("lifecycle completed at %v, job acked at %v: want the ack first", calls[0].At, acked)
	}
	if got := counter(t, m.LifecycleCompleted.WithLabelValues("ok")); got != 1 {
		t.Errorf("completed lifecycle actions: %v, want 1", got)
	}
	st, _ := lq.Stats(context.Background())
	if st.Visible != 1 {
		t.Errorf("queue %+v: want the job sent during the drain still visible", st)
	}
}

// TestScaleInProtectionFollowsLoad: protected when a job starts, unprotected
// after the idle debounce.
func TestScaleInProtectionFollowsLoad(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsmock.Start(t, "asglifecycle", "--asg-termination-delay-sec", "3600"))
	rec := imdsmock.NewAutoScaling(t)
	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", rec.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	fw := &fakeWorker{running: 1}
	m := NewMetrics(nil)
	c, err := NewController(Config{Worker: fw, ASG: "g", ScaleInProtection: true, ProtectionIdle: 600 * time.Millisecond,
		Interval: 100 * time.Millisecond, Logger: zaptest.NewLogger(t), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	protections := func() []string {
		var out []string
		for _, call := range rec.Calls() {
			if call.Action == "SetInstanceProtection" {
				out = append(out, call.Params.Get("ProtectedFromScaleIn")+" "+call.Params.Get("InstanceIds.member.1"))
			}
		}
		return out
	}
	waitUntil(t, "protection on", func() bool { return len(protections()) == 1 })
	if got := protections()[0]; got != "true "+imdsmock.InstanceID {
		t.Fatalf("first call %q, want protection on for the instance", got)
	}
	fw.mu.Lock()
	fw.running = 0
	fw.mu.Unlock()
	idle := time.Now()
	waitUntil(t, "protection off", func() bool { return len(protections()) == 2 })
	if got := protections()[1]; got != "false "+imdsmock.InstanceID {
		t.Fatalf("second call %q, want protection off", got)
	}
	if d := time.Since(idle); d < 500*time.Millisecond {
		t.Fatalf("protection lifted after %v idle, want the 600 ms debounce", d)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(protections()); n != 2 {
		t.Fatalf("%d protection calls while idle, want no more", n)
	}
}

// ackTimes records when the last ack happened.
type ackTimes struct {
	queue.Queue
	mu sync.Mutex
	at time.Time
}

func (q *ackTimes) Ack(ctx context.Context, m queue.Message) error {
	err := q.Queue.Ack(ctx, m)
	q.mu.Lock()
	q.at = time.Now()
	q.mu.Unlock()
	return err
}

func (q *ackTimes) last() time.Time { q.mu.Lock(); defer q.mu.Unlock(); return q.at }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}
