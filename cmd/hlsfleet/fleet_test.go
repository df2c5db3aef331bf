package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// fleetJobs is the scenario of issue B: 12 jobs, one of them garbage.
const fleetJobs = 12

// fleetClip is a source long enough that a worker can be killed while it
// transcodes, small enough for a 2-core machine.
func fleetClip(t *testing.T) string {
	t.Helper()
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: the fleet tests need it to make their sources")
	}
	return testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 6, Name: "fleet"})
}

// proc is a started hlsfleet process with its output captured.
type proc struct {
	cmd *exec.Cmd
	out *strings.Builder
	mu  *sync.Mutex
	err chan error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startHLSFleet(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(cliBin, args...), out: &strings.Builder{}, mu: &sync.Mutex{}, err: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting hlsfleet %v: %v", args, err)
	}
	go func() { p.err <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.err
		if t.Failed() {
			p.mu.Lock()
			t.Logf("output of hlsfleet %v:\n%s", args, tail(p.out.String(), 4000))
			p.mu.Unlock()
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// fleetEnv describes where one scenario's jobs read and write.
type fleetEnv struct {
	queueURL string
	open     func(ctx context.Context, url string) (*storage.Bucket, error)
	srcURL   func(i int) string
	outURL   func(i int) string
	upload   func(t *testing.T, i int, data []byte)
}

// submitJobs sends the 12 jobs; job 5 reads garbage.
func submitJobs(t *testing.T, q queue.Queue, e fleetEnv, clip []byte) []*job.Job {
	t.Helper()
	var jobs []*job.Job
	for i := range fleetJobs {
		data := clip
		if i == 5 {
			data = []byte(strings.Repeat("this is not a video\n", 4096))
		}
		e.upload(t, i, data)
		j := job.New(e.srcURL(i), e.outURL(i), job.WithSegmentSeconds(2))
		body, err := j.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Send(context.Background(), body, queue.SendOptions{}); err != nil {
			t.Fatalf("sending job %d: %v", i, err)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func readStatus(ctx context.Context, e fleetEnv, j *job.Job) (job.Status, bool) {
	b, err := e.open(ctx, j.Output)
	if err != nil {
		return job.Status{}, false
	}
	defer b.Close()
	data, err := b.ReadAll(ctx, job.StatusName)
	if err != nil {
		return job.Status{}, false
	}
	var st job.Status
	return st, json.Unmarshal(data, &st) == nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runningJob returns a good job that is mid-transcode now on a worker that
// skip does not exclude, and that worker's id.
func runningJob(ctx context.Context, e fleetEnv, jobs []*job.Job, skip func(j *job.Job, worker string) bool) (*job.Job, string) {
	for i, j := range jobs {
		if i == 5 {
			continue
		}
		if st, ok := readStatus(ctx, e, j); ok && st.State == job.StateRunning && st.Progress > 0 && st.Progress < 70 &&
			(skip == nil || !skip(j, st.Worker)) {
			return j, st.Worker
		}
	}
	return nil, ""
}

// checkPublished asserts every good job has one whole presentation: a master
// whose every media playlist and segment exists, and a published status.
func checkPublished(t *testing.T, ctx context.Context, e fleetEnv, jobs []*job.Job) {
	t.Helper()
	for i, j := range jobs {
		if i == 5 {
			continue
		}
		b, err := e.open(ctx, j.Output)
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.ReadAll(ctx, job.MasterName)
		if err != nil {
			t.Errorf("job %d: no master: %v", i, err)
			b.Close()
			continue
		}
		m, err := hls.ParseMaster(data)
		if err != nil || len(m.Variants) == 0 {
			t.Errorf("job %d: master does not parse or has no variant: %v", i, err)
		}
		for _, v := range m.Variants {
			pl, err := b.ReadAll(ctx, v.URI)
			if err != nil {
				t.Errorf("job %d: master names %s, which is missing", i, v.URI)
				continue
			}
			mp, err := hls.ParseMedia(pl)
			if err != nil || !mp.EndList {
				t.Errorf("job %d: %s is not a finished playlist: %v", i, v.URI, err)
				continue
			}
			dir := v.URI[:strings.LastIndex(v.URI, "/")+1]
			for _, s := range mp.Segments {
				if ok, _ := b.Exists(ctx, dir+s.URI); !ok {
					t.Errorf("job %d: segment %s%s is missing", i, dir, s.URI)
				}
			}
		}
		st, ok := readStatus(ctx, e, j)
		if !ok || st.State != job.StatePublished || st.JobID != j.ID {
			t.Errorf("job %d: status %+v, want published", i, st)
		}
		// The quality report and the extras travel from job-exec to job.json.
		if len(st.Quality) != len(m.Variants) {
			t.Errorf("job %d: job.json has %d quality entries for %d variants", i, len(st.Quality), len(m.Variants))
		}
		for _, q := range st.Quality {
			if q.Frames == 0 || q.SSIM <= 0.5 || q.SSIM > 1 || q.PSNR < 20 {
				t.Errorf("job %d: quality %+v out of range", i, q)
			}
		}
		// The extras sit in the folder of the attempt the master reaches.
		by := attempt.PublishedBy(data)
		if by == "" || st.Storyboard != by+"/"+pipeline.StoryboardName || st.Poster != by+"/"+job.PosterName {
			t.Errorf("job %d: job.json names storyboard %q and poster %q; the master is attempt %q's", i, st.Storyboard, st.Poster, by)
		}
		for _, n := range []string{st.Storyboard, st.Poster} {
			if ok, _ := b.Exists(ctx, n); n != "" && !ok {
				t.Errorf("job %d: job.json names %s, which is missing", i, n)
			}
		}
		// Attempts that lost or died left nothing behind.
		if objs, err := b.List(ctx, ""); err == nil {
			for _, o := range objs {
				if a := attempt.Of(o.Key); a != "" && a != by {
					t.Errorf("job %d: %s of attempt %s is left beside the published attempt %s", i, o.Key, a, by)
				}
			}
		}
		b.Close()
	}
	if st, ok := readStatus(ctx, e, jobs[5]); !ok || st.State != job.StateFailed || st.Attempt != 1 {
		t.Errorf("garbage job: status %+v, want failed after one attempt", st)
	}
	b, err := e.open(ctx, jobs[5].Output)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ok, _ := b.Exists(ctx, job.MasterName); ok {
		t.Error("the garbage job published a master")
	}
}

// sqsS3Fixture makes a queue with a dead-letter queue after maxReceive
// receives (both deleted at the end) and a bucket of the same fresh name on
// the peers, and returns the bucket and the two queue URLs.
func sqsS3Fixture(t *testing.T, prefix string, maxReceive int) (bucket, qurl, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	qurl, dlqURL, err = queue.CreateSQSQueues(ctx, sc, name, maxReceive)
	if err != nil {
		t.Fatalf("creating queues: %v", err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, sc, qurl, dlqURL) })
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).
		CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	return name, qurl, dlqURL
}

func TestFleetSQSAndS3(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("SQS and S3 peers not running: make test starts them (scripts/test.sh)")
	}
	clip, err := os.ReadFile(fleetClip(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bucket, qurl, dlqURL := sqsS3Fixture(t, "fleet", 4)
	e := fleetEnv{
		queueURL: qurl,
		open:     storage.Open,
		srcURL:   func(i int) string { return fmt.Sprintf("s3://%s/src/clip%02d.mp4", bucket, i) },
		outURL:   func(i int) string { return fmt.Sprintf("s3://%s/out/clip%02d", bucket, i) },
	}
	root, err := storage.Open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	e.upload = func(t *testing.T, i int, data []byte) {
		if err := root.WriteAll(ctx, fmt.Sprintf("src/clip%02d.mp4", i), data, storage.WriterOptions{}); err != nil {
			t.Fatalf("uploading source %d: %v", i, err)
		}
	}
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: dlqURL})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	// Three workers, one job each; a lease long enough that a job that comes
	// back soon came back because it was released, not because it expired.
	const lease = 60 * time.Second
	args := []string{"worker", "--queue", qurl, "--dlq", dlqURL, "--concurrency", "1", "--metrics-addr", "", "--visibility", lease.String(), "--drain-timeout", "500ms"}
	workers := []*proc{startHLSFleet(t, nil, args...), startHLSFleet(t, nil, args...), startHLSFleet(t, nil, args...)}
	jobs := submitJobs(t, q, e, clip)

	// kill -9 a worker while it transcodes: its job comes back when its
	// lease ends, and another worker does it.
	var victim *job.Job
	var victimWorker string
	waitFor(t, 60*time.Second, "a job to be running", func() bool {
		victim, victimWorker = runningJob(ctx, e, jobs, nil)
		return victim != nil
	})
	var killed *proc
	for _, w := range workers {
		if strings.HasSuffix(victimWorker, fmt.Sprintf("-%d", w.cmd.Process.Pid)) {
			killed = w
		}
	}
	if killed == nil {
		t.Fatalf("no worker process matches %q", victimWorker)
	}
	_ = killed.cmd.Process.Signal(syscall.SIGKILL)
	<-killed.err
	killed.err <- nil // for Cleanup

	// SIGTERM another worker mid-job: with a 500 ms drain its job is released
	// at once and another worker finishes it long before the lease ends.
	var termJob *job.Job
	var termWorker string
	waitFor(t, 60*time.Second, "another job to be running", func() bool {
		termJob, termWorker = runningJob(ctx, e, jobs, func(j *job.Job, w string) bool {
			return j.ID == victim.ID || strings.HasSuffix(w, fmt.Sprintf("-%d", killed.cmd.Process.Pid))
		})
		return termJob != nil
	})
	var termed *proc
	for _, w := range workers {
		if w != killed && strings.HasSuffix(termWorker, fmt.Sprintf("-%d", w.cmd.Process.Pid)) {
			termed = w
		}
	}
	if termed == nil {
		t.Fatalf("no live worker process matches %q", termWorker)
	}
	termAt := time.Now()
	_ = termed.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-termed.err:
		if err != nil {
			t.Errorf("worker after SIGTERM exited with %v, want 0", err)
		}
		termed.err <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not exit within 20 s of SIGTERM")
	}
	// A fresh worker joins, as an ASG would replace the instance.
	startHLSFleet(t, nil, args...)
	// Released, not expired: another worker started it again before its
	// lease could have run out (how soon depends on the queue's backlog;
	// asserted below from its StartedAt). Publishing then takes a transcode,
	// which on a loaded 2-core machine can itself outlast the lease: the
	// wait allows for that, the restart check does not.
	waitFor(t, lease+2*time.Minute, "the SIGTERMed worker's job to be published by another worker", func() bool {
		st, ok := readStatus(ctx, e, termJob)
		return ok && st.State == job.StatePublished
	})
	if st, _ := readStatus(ctx, e, termJob); !st.StartedAt.Before(termAt.Add(lease)) {
		t.Errorf("the released job restarted at %v, %v after SIGTERM: not before its %v lease ended", st.StartedAt, st.StartedAt.Sub(termAt), lease)
	} else {
		t.Logf("SIGTERMed job restarted %v after the signal, published %v after it (lease %v)",
			st.StartedAt.Sub(termAt).Round(time.Millisecond), time.Since(termAt).Round(time.Millisecond), lease)
	}
	if st, _ := readStatus(ctx, e, termJob); st.Worker == termWorker {
		t.Errorf("job %s was published by the worker that was stopped", termJob.ID)
	}

	waitFor(t, 4*time.Minute, "every good job to be published", func() bool {
		for i, j := range jobs {
			if st, ok := readStatus(ctx, e, j); i != 5 && (!ok || st.State != job.StatePublished) {
				return false
			}
		}
		return true
	})
	checkPublished(t, ctx, e, jobs)

	// The garbage job sits in the DLQ with its reason.
	dlq, err := queue.Open(ctx, dlqURL, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	msgs, err := dlq.Receive(ctx, 10, 2*time.Second, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("DLQ holds %d messages, want only the garbage job", len(msgs))
	}
	dl := queue.DeadLetterOf(msgs[0])
	if !strings.Contains(string(dl.Body), jobs[5].ID) || !strings.Contains(dl.Reason, "fingerprint=") || !strings.Contains(strings.ToLower(dl.Reason), "not a media file") {
		t.Errorf("dead letter %q with reason %q: want the garbage job, its reason and fingerprint", dl.Body, dl.Reason)
	}
}

func TestFleetLocalKilledAndRestarted(t *testing.T) {
	clip, err := os.ReadFile(fleetClip(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := t.TempDir()
	srcDir := filepath.Join(data, "src")
	outDir := filepath.Join(data, "published")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := fleetEnv{
		queueURL: "local://" + filepath.Join(data, "fleet", "queue"),
		open:     storage.Open,
		srcURL:   func(i int) string { return fmt.Sprintf("file://%s/clip%02d.mp4", srcDir, i) },
		outURL:   func(i int) string { return fmt.Sprintf("file://%s/clip%02d", outDir, i) },
		upload: func(t *testing.T, i int, b []byte) {
			if err := os.WriteFile(filepath.Join(srcDir, fmt.Sprintf("clip%02d.mp4", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	args := []string{"local", "--data", filepath.Join(data, "fleet"), "--workers", "2", "--metrics-addr", "", "--visibility", "4s"}
	first := startHLSFleet(t, nil, args...)
	waitFor(t, 20*time.Second, "the local queue to exist", func() bool {
		_, err := os.Stat(filepath.Join(data, "fleet", "queue"))
		return err == nil
	})
	q, err := queue.Open(ctx, e.queueURL, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	jobs := submitJobs(t, q, e, clip)
	waitFor(t, 60*time.Second, "a job to be running", func() bool {
		j, _ := runningJob(ctx, e, jobs, nil)
		return j != nil
	})
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.err
	first.err <- nil
	startHLSFleet(t, nil, args...) // the restart
	waitFor(t, 4*time.Minute, "every good job to be published after the restart", func() bool {
		for i, j := range jobs {
			if st, ok := readStatus(ctx, e, j); i != 5 && (!ok || st.State != job.StatePublished) {
				return false
			}
		}
		return true
	})
	checkPublished(t, ctx, e, jobs)
	lq, err := queue.OpenLocal(filepath.Join(data, "fleet", "queue"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	dls, err := lq.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || !strings.Contains(string(dls[0].Body), jobs[5].ID) || !strings.Contains(dls[0].Reason, "fingerprint=") {
		t.Fatalf("dead letters %+v: want exactly the garbage job with its reason and fingerprint", dls)
	}
	if dls[0].ReceiveCount != 1 {
		t.Errorf("garbage job was received %d times, want once (input faults are never retried)", dls[0].ReceiveCount)
	}
}

func TestCLITranscodeS3(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("S3 peer not running: make test starts it (scripts/test.sh)")
	}
	clip := needClip(t)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	b, err := storage.Open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "in/clip one.mp4", data, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "transcode", "--ladder", smallLadderFile(t), "--json", "s3://"+bucket+"/in/clip one.mp4", "s3://"+bucket+"/out")
	if r.code != 0 {
		t.Fatalf("s3 → s3 transcode exited %d: %s", r.code, r.stderr)
	}
	m, err := b.ReadAll(ctx, "out/master.m3u8")
	if err != nil {
		t.Fatalf("no master in S3: %v", err)
	}
	master, err := hls.ParseMaster(m)
	if err != nil || len(master.Variants) == 0 {
		t.Fatalf("master does not parse: %v", err)
	}
	for _, v := range master.Variants {
		if ok, _ := b.Exists(ctx, "out/"+v.URI); !ok {
			t.Errorf("master names out/%s, which is not in S3", v.URI)
		}
	}
	miss := runCLI(t, nil, "transcode", "s3://"+bucket+"/in/missing.mp4", filepath.Join(t.TempDir(), "o"))
	expectFailure(t, miss, 2)
}

// Two workers racing on one job publish exactly one master: the second
// master write is a create-if-absent that loses. Each run wrote under its
// own attempt folder; the master reaches the winner's only, both runs name
// the winner, the loser's files are gone, and the output is correct HLS.
func TestJobExecRacePublishesOnce(t *testing.T) {
	clip := needClip(t)
	out := filepath.Join(t.TempDir(), "out")
	j := job.New("file://"+clip, "file://"+out, job.WithSegmentSeconds(2))
	body, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		out  string
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			cmd := exec.Command(cliBin, "job-exec")
			cmd.Stdin = strings.NewReader(string(body))
			var stdout strings.Builder
			cmd.Stdout = &stdout
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			results <- result{code, stdout.String()}
		}()
	}
	published, attempts := 0, map[string]bool{}
	for range 2 {
		r := <-results
		if r.code != 0 {
			t.Fatalf("job-exec exited %d", r.code)
		}
		var done protocol.Event
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			var ev protocol.Event
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "done" {
				done = ev
			}
		}
		if done.Event != "done" {
			t.Fatalf("job-exec reported no result: %q", r.out)
		}
		if done.Published {
			published++
		}
		attempts[done.AttemptID] = true
	}
	if published != 1 {
		t.Fatalf("%d of 2 racing runs say they published, want exactly 1", published)
	}
	master, err := os.ReadFile(filepath.Join(out, job.MasterName))
	if err != nil {
		t.Fatalf("no master after the race: %v", err)
	}
	by := attempt.PublishedBy(master)
	if by == "" || len(attempts) != 1 || !attempts[by] {
		t.Errorf("the runs name attempts %v; the master is attempt %q's", attempts, by)
	}
	err = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if a := attempt.Of(filepath.ToSlash(rel)); a != "" && a != by {
			t.Errorf("%s of the losing attempt is left", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hlscheck.Check(out, hlscheck.Options{ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
}

// A file dropped into the inbox of `hlsfleet local` is published under
// OUT/<stem>/ with no other step.
func TestLocalInbox(t *testing.T) {
	clip := needClip(t)
	data := t.TempDir()
	inbox, out := filepath.Join(data, "in"), filepath.Join(data, "out")
	startHLSFleet(t, nil, "local", "--data", filepath.Join(data, "fleet"), "--inbox", inbox, "--out", out, "--metrics-addr", "")
	waitFor(t, 20*time.Second, "the inbox to exist", func() bool {
		_, err := os.Stat(inbox)
		return err == nil
	})
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	// Written under a dot name and renamed, as a careful uploader would.
	tmp := filepath.Join(inbox, ".my clip.mp4.part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, "my clip.mp4")); err != nil {
		t.Fatal(err)
	}
	master := filepath.Join(out, "my_clip", job.MasterName)
	waitFor(t, 90*time.Second, master, func() bool {
		_, err := os.Stat(master)
		return err == nil
	})
	if _, err := os.Stat(filepath.Join(inbox, "my clip.mp4")); !os.IsNotExist(err) {
		t.Errorf("the inbox still holds the submitted file (err %v)", err)
	}
}
