package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/faultproxy"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// startProxy puts a faultproxy between the worker and a peer: cut, the
// peer is unreachable (held connections reset, new ones refused by reset);
// the peer keeps its data.
func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// hostOf returns the host:port of an endpoint URL.
func hostOf(t *testing.T, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		t.Fatalf("endpoint %q is not a URL", endpoint)
	}
	return u.Host
}

// outageTime is how long each outage of TestFleetOutages lasts.
const outageTime = 60 * time.Second

// TestFleetOutages: a 60 s S3 outage and then a 60 s SQS outage, each
// while jobs run, on the peers with maxReceiveCount 3 (issue P: 10 s
// outages dead-lettered good jobs). The worker reaches both peers through a
// proxy that the test cuts. Every job is published, none is dead-lettered,
// and each message was received at most twice (job.json's attempt is the
// receive count of the publishing delivery).
func TestFleetOutages(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("SQS and S3 peers not running: make test starts them (scripts/test.sh)")
	}
	fleetClip(t) // skips without ffmpeg
	// Long enough (about 4 s of transcoding here) that the poll below sees
	// a job of each batch running before it is published: the 6 s fleet
	// clip took 0.9 s and was once missed.
	clip, err := os.ReadFile(testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 30, Name: "outage"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name, qurl, dlqURL := sqsS3Fixture(t, "outage", 3)
	root, err := storage.Open(ctx, "s3://"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	e := fleetEnv{open: storage.Open}
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: dlqURL})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	s3p := startProxy(t, hostOf(t, os.Getenv("AWS_ENDPOINT_URL_S3")))
	sqsp := startProxy(t, hostOf(t, os.Getenv("AWS_ENDPOINT_URL_SQS")))
	// A lease of 2 minutes: the heartbeat extends it every 40 s, so an SQS
	// outage of 60 s never outlasts it.
	w := startHLSFleet(t, []string{"AWS_ENDPOINT_URL_S3=" + s3p.URL(), "AWS_ENDPOINT_URL_SQS=" + sqsp.URL()},
		"worker", "--queue", qurl, "--dlq", dlqURL, "--concurrency", "2", "--metrics-addr", "",
		"--visibility", "2m", "--drain-timeout", "500ms")

	var jobs []*job.Job
	submit := func(n int) []*job.Job {
		var batch []*job.Job
		for range n {
			i := len(jobs)
			if err := root.WriteAll(ctx, fmt.Sprintf("src/clip%02d.mp4", i), clip, storage.WriterOptions{}); err != nil {
				t.Fatal(err)
			}
			j := job.New(fmt.Sprintf("s3://%s/src/clip%02d.mp4", name, i), fmt.Sprintf("s3://%s/out/clip%02d", name, i), job.WithSegmentSeconds(2))
			if _, err := queue.SendJob(ctx, q, j); err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, j)
			batch = append(batch, j)
		}
		return batch
	}
	outage := func(what string, p *faultproxy.Proxy, batch []*job.Job) {
		waitFor(t, 2*time.Minute, "a job of the batch to be transcoding", func() bool {
			j, _ := runningJob(ctx, e, batch, nil)
			return j != nil
		})
		t.Logf("%s outage: %v from now", what, outageTime)
		p.SetDown(true)
		time.Sleep(outageTime)
		p.SetDown(false)
		t.Logf("%s is back", what)
	}
	outage("S3", s3p, submit(2))
	outage("SQS", sqsp, submit(2))

	waitFor(t, 5*time.Minute, "every job to be published", func() bool {
		for _, j := range jobs {
			if st, ok := readStatus(ctx, e, j); !ok || st.State != job.StatePublished {
				return false
			}
		}
		return true
	})
	for i, j := range jobs {
		st, _ := readStatus(ctx, e, j)
		t.Logf("job %d: published on receive %d by %s (published_by_job %s)", i, st.Attempt, st.Worker, st.PublishedBy)
		if st.Attempt < 1 || st.Attempt > 2 || st.PublishedBy != j.ID {
			t.Errorf("job %d: status %+v, want published by itself on receive 1 or 2", i, st)
		}
		if ok, err := root.Exists(ctx, fmt.Sprintf("out/clip%02d/%s", i, job.MasterName)); !ok {
			t.Errorf("job %d: no master: %v", i, err)
		}
	}
	dlq, err := queue.Open(ctx, dlqURL, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	if msgs, err := dlq.Receive(ctx, 10, time.Second, 30*time.Second); err != nil || len(msgs) != 0 {
		t.Errorf("DLQ holds %d messages (%v), want none", len(msgs), err)
	}
	w.mu.Lock()
	log := w.out.String()
	w.mu.Unlock()
	count := func(all ...string) int {
		n := 0
		for _, line := range strings.Split(log, "\n") {
			ok := true
			for _, s := range all {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				n++
			}
		}
		return n
	}
	waits := count("keeping the message and trying again")
	t.Logf("worker: %d waits with the message held (%d after a job process failed on storage, %d on the published check, "+
		"%d on a status write); %d queue calls retried while SQS was out; %d lease extensions failed",
		waits, count("keeping the message", "job process failed"), count("keeping the message", "checking for a published output"),
		count("keeping the message", "job.json"), count(`"queue_unavailable":true`), count("lease extension failed"))
	if waits == 0 || count("keeping the message", "job process failed") == 0 {
		t.Errorf("the S3 outage caused %d waits, none after a failed job process: it did not hit the work", waits)
	}
}

// TestSubmitWaitDuplicate: a second submission of an output that the first
// one published is acknowledged without work, and its `submit --wait`
// returns too, saying which job published the output.
func TestSubmitWaitDuplicate(t *testing.T) {
	clip := needClip(t)
	dir := t.TempDir()
	qurl, out := "local://"+filepath.Join(dir, "queue"), filepath.Join(dir, "out")
	startHLSFleet(t, nil, "worker", "--queue", qurl, "--concurrency", "1", "--metrics-addr", "", "--drain-timeout", "500ms")
	first := runCLI(t, nil, "submit", "--queue", qurl, "--wait", "--timeout", "90s", "--segment-seconds", "2", clip, out)
	if first.code != 0 {
		t.Fatalf("first submit exited %d:\n%s", first.code, first.stderr)
	}
	lines := strings.Fields(first.stdout)
	if len(lines) != 2 || !strings.HasSuffix(lines[1], "/"+job.MasterName) {
		t.Fatalf("first submit printed %q, want the job id and the master", first.stdout)
	}
	firstID := lines[0]
	if strings.Contains(first.stderr, "published by job") {
		t.Errorf("the first submission is told another job published it:\n%s", first.stderr)
	}
	second := runCLI(t, nil, "submit", "--queue", qurl, "--wait", "--timeout", "60s", "--segment-seconds", "2", clip, out)
	if second.code != 0 {
		t.Fatalf("second submit exited %d:\n%s", second.code, second.stderr)
	}
	if l := strings.Fields(second.stdout); len(l) != 2 || l[0] == firstID || l[1] != lines[1] {
		t.Fatalf("second submit printed %q, want its own job id and the same master", second.stdout)
	}
	if !strings.Contains(second.stderr, "the output is published by job "+firstID) {
		t.Errorf("second submit's stderr does not name the publisher %s:\n%s", firstID, second.stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, job.StatusName))
	if err != nil {
		t.Fatal(err)
	}
	var st job.Status
	if err := json.Unmarshal(data, &st); err != nil || st.State != job.StatePublished || st.PublishedBy != firstID || st.JobID != firstID {
		t.Errorf("job.json %s, want published by %s", data, firstID)
	}
}
