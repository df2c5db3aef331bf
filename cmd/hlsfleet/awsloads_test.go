package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/worker"
)

// inProcessRunner runs a job in this process with the code the job child
// runs (jobexec.Exec), so that one process does all of a job's AWS work.
type inProcessRunner struct{ log *zap.Logger }

func (r inProcessRunner) Run(ctx context.Context, j *job.Job, progress func(worker.Progress)) (*worker.Outcome, error) {
	done, err := jobexec.Exec(ctx, jobexec.Config{Logger: r.log}, j, func(p pipeline.Progress) {
		if p.Duration > 0 {
			progress(worker.Progress{Percent: min(100, 100*p.Seconds/p.Duration), MediaSeconds: p.Seconds})
		}
	})
	if err != nil {
		return nil, err
	}
	return &worker.Outcome{Published: done.Published, Duration: done.Duration, Renditions: done.Renditions}, nil
}

// One job through the worker on the SQS and S3 peers — receive, lease,
// published check, status writes, the transcode reading its source from S3
// and writing its output there, events to an SQS queue, ack — loads the AWS
// configuration once for the whole process (it used to load it for every
// bucket and queue opened: every status write, the source, the output, each
// queue).
func TestSQSAndS3JobLoadsAWSConfigOnce(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("SQS and S3 peers not running: make test starts them (scripts/test.sh)")
	}
	clip := needClip(t)
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	before := awsconf.Loads()

	// Queues and bucket, with clients on the process's configuration.
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("awsloads-%d", time.Now().UnixNano())
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, sc, name, 4)
	if err != nil {
		t.Fatalf("creating queues: %v", err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, sc, qurl, dlqURL) })
	evURL, evDLQ, err := queue.CreateSQSQueues(ctx, sc, name+"-events", 0)
	if err != nil {
		t.Fatalf("creating the events queue: %v", err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, sc, evURL, evDLQ) })
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	root, err := storage.Open(ctx, "s3://"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.WriteAll(ctx, "src/clip.mp4", data, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}

	// The worker as `hlsfleet worker --events-sqs` wires it, with the job
	// run in this process instead of a child.
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: dlqURL})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tr, err := events.NewSQS(ctx, evURL, qurl)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := events.New(tr, events.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Queue: q, Rules: job.DefaultRules(), Outputs: worker.NewStorageOutputs(),
		Runner: inProcessRunner{log: log}, Concurrency: 1, Visibility: time.Minute, DrainTimeout: time.Second,
		Logger: log, Events: sink,
	})
	if err != nil {
		t.Fatal(err)
	}
	j := job.New("s3://"+name+"/src/clip.mp4", "s3://"+name+"/out/clip", job.WithLadder("mobile"), job.WithSegmentSeconds(2))
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	e := fleetEnv{open: storage.Open}
	waitFor(t, 2*time.Minute, "the job to be published", func() bool {
		st, ok := readStatus(ctx, e, j)
		if ok && st.State == job.StateFailed {
			t.Fatalf("the job failed: %s", st.Error)
		}
		return ok && st.State == job.StatePublished
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := root.Exists(ctx, "out/clip/"+pipeline.MasterName); !ok {
		t.Fatalf("no master in S3: %v", err)
	}
	evq, err := queue.Open(ctx, evURL, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer evq.Close()
	msgs, err := evq.Receive(ctx, 10, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 || !strings.Contains(string(msgs[0].Body), j.ID) {
		t.Errorf("the events queue holds %d messages, want the job's events", len(msgs))
	}

	loads := awsconf.Loads()
	t.Logf("AWS configuration loads in this process: %d before the test, %d after", before, loads)
	if loads != 1 {
		t.Errorf("the AWS configuration was loaded %d times in this process, want once", loads)
	}
}
