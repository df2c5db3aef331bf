package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/internal/faultproxy"
	"github.com/hlsfleet/hlsfleet/internal/peers"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// soak is one run: its peers, queue, bucket, fault proxy, workers and what
// it submitted.
type soak struct {
	o         options
	dir       string
	peers     *peers.Private
	bucket    string
	q         queue.Queue
	root      *storage.Bucket
	proxy     *faultproxy.Proxy
	fleet     *fleet
	sub       *submitter
	watch     *watcher
	stopWatch context.CancelFunc
	start     time.Time
	stats     runStats
	faults    sync.WaitGroup // faults being injected
	mu        sync.Mutex     // stats.Faults, FaultsSkipped, FaultsBusy (faults run concurrently)
}

// run is the whole soak; it reports whether the checks failed.
func run(ctx context.Context, o options, out io.Writer) (failed bool, err error) {
	dir, cleanup, err := workDir(o)
	if err != nil {
		return false, err
	}
	keep := true
	defer func() { cleanup(keep) }()
	s := &soak{o: o, dir: dir}
	defer s.tearDown()
	if err := s.setUp(ctx); err != nil {
		return false, err
	}
	s.chaos(ctx)
	s.quiet(ctx)
	s.fleet.stop()
	if ctx.Err() != nil {
		return false, errors.New("interrupted")
	}
	v, err := s.judge(ctx)
	if err != nil {
		return false, err
	}
	writeReport(out, &s.stats, v)
	keep = v.Failed()
	return v.Failed(), nil
}

// logf prints a progress line on stderr, with the time since the chaos began.
func (s *soak) logf(format string, args ...any) {
	at := "setup"
	if !s.start.IsZero() {
		at = fmt.Sprintf("+%.1fs", time.Since(s.start).Seconds())
	}
	fmt.Fprintf(os.Stderr, "soak: %s %s\n", at, fmt.Sprintf(format, args...))
}

// setUp starts the peers, makes the queues, the bucket, the sources, the
// fault proxy and the (not yet started) fleet.
func (s *soak) setUp(ctx context.Context) error {
	bin, err := filepath.Abs(s.o.hlsfleet)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		return fmt.Errorf("hlsfleet binary (build it with `make build`): %w", err)
	}
	if s.peers, err = peers.Start(filepath.Join(s.dir, "peers")); err != nil {
		return err
	}
	if err := s.peers.SetEnv(); err != nil {
		return err
	}
	s.logf("S3 peer %s, SQS peer %s (logs in %s)", s.peers.S3, s.peers.SQS, filepath.Join(s.dir, "peers"))
	qurl, dlqURL, err := s.makeStores(ctx)
	if err != nil {
		return err
	}
	clips, err := makeClips(ctx, filepath.Join(s.dir, "media"), s.root)
	if err != nil {
		return err
	}
	rules, err := job.ParseRules([]byte(rulesJSON))
	if err != nil {
		return err
	}
	rulesFile := filepath.Join(s.dir, "rules.json")
	if err := os.WriteFile(rulesFile, []byte(rulesJSON), 0o644); err != nil {
		return err
	}
	s.sub = &submitter{q: s.q, root: s.root, bucket: s.bucket, rules: rules, clips: clips}
	if s.proxy, err = faultproxy.New("127.0.0.1:0", strings.TrimPrefix(s.peers.S3, "http://")); err != nil {
		return err
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s.proxy.URL())
	args := []string{"--queue", qurl, "--dlq", dlqURL, "--concurrency", "1", "--accel", "cpu", "--metrics-addr=",
		"--visibility", s.o.visibility.String(), "--drain-timeout", s.o.drain.String(), "--rules", rulesFile}
	if err := os.MkdirAll(filepath.Join(s.dir, "workers"), 0o755); err != nil {
		return err
	}
	s.fleet = newFleet(bin, filepath.Join(s.dir, "workers"), args, env, s.o.drain, s.o.workers, s.logf)
	s.stats.init(s.o)
	return nil
}

// makeStores creates the bucket and the queue with its dead-letter queue.
func (s *soak) makeStores(ctx context.Context) (qurl, dlqURL string, err error) {
	s.bucket = fmt.Sprintf("soak-%d", time.Now().UnixNano())
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		return "", "", err
	}
	if qurl, dlqURL, err = queue.CreateSQSQueues(ctx, sc, s.bucket, s.o.maxReceive); err != nil {
		return "", "", fmt.Errorf("creating queues: %w", err)
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return "", "", err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return "", "", fmt.Errorf("creating bucket: %w", err)
	}
	if s.root, err = storage.Open(ctx, "s3://"+s.bucket); err != nil {
		return "", "", err
	}
	if s.q, err = queue.Open(ctx, qurl, queue.Options{DLQ: dlqURL}); err != nil {
		return "", "", err
	}
	return qurl, dlqURL, nil
}

// tearDown stops whatever setUp started.
func (s *soak) tearDown() {
	if s.fleet != nil {
		s.fleet.stop()
	}
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
	if s.q != nil {
		_ = s.q.Close()
	}
	if s.root != nil {
		_ = s.root.Close()
	}
	if s.peers != nil {
		s.peers.Stop()
	}
}

// timed is one thing the chaos phase does at a time.
type timed struct {
	at time.Duration
	do func()
}

// chaos starts the workers, then submits and injects faults as planned
// until the chaos phase is over (or ctx ends).
func (s *soak) chaos(ctx context.Context) {
	d := s.o.chaos()
	rng := rand.New(rand.NewPCG(s.o.seed, 0x736f616b))
	steps := PlanSubmissions(rng, d, s.o.perMinute, len(s.sub.clips))
	faults := PlanFaults(rng, d, s.o.faultEvery, s.o.workers, s.o.stopFor, s.o.outageFor)
	s.logf("seed %d: %d submissions and %d faults planned over %s; %d workers", s.o.seed, len(steps), len(faults), d, s.o.workers)
	var plan []timed
	for i, st := range steps {
		plan = append(plan, timed{st.At, func() { s.doSubmit(ctx, st, i) }})
	}
	for _, f := range faults {
		plan = append(plan, timed{f.At, func() {
			s.faults.Add(1)
			go func() { defer s.faults.Done(); s.doFault(f) }()
		}})
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	plan = append(plan, timed{d, func() {}})
	s.fleet.start()
	s.start = time.Now()
	s.watch = newWatcher()
	wctx, stopWatch := context.WithCancel(ctx)
	s.stopWatch = stopWatch
	go s.watch.run(wctx, 2*time.Second, s.goodOutputs)
	defer s.faults.Wait()
	for _, t := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(s.start.Add(t.at))):
		}
		t.do()
	}
}

// goodOutputs are the outputs of good work submitted so far.
func (s *soak) goodOutputs() []string {
	var outs []string
	for _, sub := range s.sub.submissions() {
		if sub.Sent && sub.Kind.Good() && !slices.Contains(outs, sub.Output) {
			outs = append(outs, sub.Output)
		}
	}
	return outs
}

func (s *soak) doSubmit(ctx context.Context, st Step, n int) {
	sub, err := s.sub.submit(ctx, st, n)
	s.stats.Submitted[st.Kind]++
	if err != nil {
		s.stats.SendFailed++
		s.logf("submit #%d %s failed: %v", n, st.Kind, err)
		return
	}
	what := sub.Output
	if what == "" {
		what = fmt.Sprintf("%q", oneLine(string(sub.Body)))
	}
	if st.Ref >= 0 {
		what += fmt.Sprintf(" (repeats #%d)", st.Ref)
	}
	s.logf("submit #%d %s → %s", n, st.Kind, what)
}

// doFault injects fault f. It waits up to half the mean gap between faults
// for a worker to be running a job, so that faults hit work rather than idle
// workers, then strikes anyway.
func (s *soak) doFault(f Fault) {
	wait := s.o.faultEvery / 2
	if f.Kind == FaultOutage {
		busy := s.waitBusy(wait)
		s.proxy.Cut(f.For)
		s.countFault(f.Kind, busy, false)
		s.logf("fault %s for %s: the workers' S3 endpoint resets every connection%s", f.Kind, f.For, during(busy))
		return
	}
	slot, pid, busy, err := s.fleet.inject(f.Kind, f.Worker, f.For, wait)
	if err != nil {
		s.countFault(f.Kind, false, true)
		s.logf("fault %s skipped: %v", f.Kind, err)
		return
	}
	s.countFault(f.Kind, busy, false)
	extra := ""
	if f.Kind == FaultStop {
		extra = fmt.Sprintf(" and its job child, for %s", f.For)
	}
	s.logf("fault %s: worker %d (pid %d)%s%s", f.Kind, slot, pid, extra, during(busy))
}

func during(busy bool) string {
	if busy {
		return " (a job was running)"
	}
	return " (no job was running)"
}

func (s *soak) countFault(k FaultKind, busy, skipped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case skipped:
		s.stats.FaultsSkipped++
	case busy:
		s.stats.FaultsBusy++
		fallthrough
	default:
		s.stats.Faults[k]++
	}
}

// waitBusy waits up to d for a worker to run a job and reports whether one does.
func (s *soak) waitBusy(d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if s.fleet.busy() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
	}
}

// quiet ends every fault and waits until the queue has been empty for three
// looks in a row (2 s apart), or -settle runs out.
func (s *soak) quiet(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	s.fleet.resumeAll()
	s.proxy.SetDown(false)
	s.logf("quiet: no more submissions or faults; waiting up to %s for the queue to empty", s.o.settle)
	t0 := time.Now()
	empty := 0
	for time.Since(t0) < s.o.settle {
		st, err := s.q.Stats(ctx)
		switch {
		case err != nil:
			empty = 0
			s.stats.QueueLeft = "unknown: " + err.Error()
		case st.Visible+st.InFlight+st.Delayed == 0:
			empty++
			s.stats.QueueLeft = ""
		default:
			empty = 0
			s.stats.QueueLeft = fmt.Sprintf("%d visible, %d in flight, %d delayed", st.Visible, st.InFlight, st.Delayed)
		}
		if empty >= 3 {
			s.stats.Settled = true
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	s.stats.SettleWait = time.Since(t0)
	s.logf("quiet for %s: queue %s", s.stats.SettleWait.Round(time.Second), orElse(s.stats.QueueLeft, "empty"))
}

// judge reads what the soak left (worker logs, dead letters, outputs) and
// classifies it.
func (s *soak) judge(ctx context.Context) (*Verdict, error) {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	subs := s.sub.submissions()
	exits, logs := s.fleet.report()
	s.stats.addExits(exits, s.o.drain)
	msgs, err := messageLogs(logs)
	if err != nil {
		return nil, fmt.Errorf("reading the worker logs: %w", err)
	}
	s.stats.addReceives(msgs)
	dls, err := deadLetters(ctx, s.q)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	obs := observeAll(ctx, subs, s.watch)
	s.stats.HLSChecked, err = hlsCheck(ctx, filepath.Join(s.dir, "check"), subs, s.sub.clips, obs, s.o.hlscheckLimit)
	if err != nil {
		return nil, fmt.Errorf("hlscheck: %w", err)
	}
	s.stats.Proxy = s.proxy.Stats()
	s.stats.Dir = s.dir
	return Classify(subs, obs, dls, msgs), nil
}
