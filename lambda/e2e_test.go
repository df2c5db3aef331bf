package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/rie"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/lambda"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// needPeers skips (or, under scripts/test.sh, fails) without the S3 and SQS
// peers.
func needPeers(t *testing.T) {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal("S3/SQS peers not configured and HLSFLEET_REQUIRE_S3_PEER=1")
		}
		t.Skip("S3 and SQS peers not running: make test starts them (scripts/test.sh)")
	}
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: the Lambda tests need it to make their sources")
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the bootstrap and hlsfleet into one temporary directory
// (as they sit together in the Lambda image) and returns the bootstrap.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hlsfleet-lambda-test-")
		if buildErr != nil {
			return
		}
		for name, pkg := range map[string]string{"bootstrap": "./cmd/hlsfleet-lambda", "hlsfleet": "./cmd/hlsfleet"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, name), pkg)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "bootstrap")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// world is one test's bucket, queues and emulator.
type world struct {
	bucket   string
	queueURL string
	dlqURL   string
	q, dlq   queue.Queue
	root     *storage.Bucket
	emu      *rie.Emulator
}

func newWorld(t *testing.T, withDLQ bool) *world {
	t.Helper()
	needPeers(t)
	rieBin, err := rie.Find(".")
	if err != nil {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatalf("%v (scripts/test.sh installs it)", err)
		}
		t.Skipf("%v", err)
	}
	boot := binaries(t)
	ctx := context.Background()
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{bucket: fmt.Sprintf("lambda-%d", time.Now().UnixNano())}
	w.queueURL, w.dlqURL, err = queue.CreateSQSQueues(ctx, sc, w.bucket, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(context.Background(), sc, w.queueURL, w.dlqURL) })
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(w.bucket)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	if w.root, err = storage.Open(ctx, "s3://"+w.bucket); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.root.Close() })
	if w.q, err = queue.Open(ctx, w.queueURL, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.q.Close() })
	if w.dlq, err = queue.Open(ctx, w.dlqURL, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dlq.Close() })
	env := []string{
		lambda.EnvQueueURL + "=" + w.queueURL,
		lambda.EnvOutputURL + "=s3://" + w.bucket + "/out",
		lambda.EnvShortClipSeconds + "=60",
		"AWS_LAMBDA_FUNCTION_NAME=hlsfleet-test",
	}
	if withDLQ {
		env = append(env, lambda.EnvDLQURL+"="+w.dlqURL)
	}
	w.emu, err = rie.Start(ctx, rie.Options{RIE: rieBin, Bootstrap: boot, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.emu.Stop()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", tail(w.emu.Logs(), 8000))
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// upload puts the file at path under key and returns the object's ETag.
func (w *world) upload(t *testing.T, key, path string) (string, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.root.WriteAll(ctx, key, data, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := w.root.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return a.ETag, a.Size
}

// s3Event is the notification S3 sends for one new object.
func s3Event(bucket, key, etag string, size int64) []byte {
	type obj struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	}
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": "2026-11-29T05:00:00.000Z", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object":          obj{Key: url.QueryEscape(key), Size: size, ETag: etag, Sequencer: "0062E99A88DC407460"},
		},
	}}}
	b, _ := json.Marshal(ev)
	return b
}

func (w *world) invoke(t *testing.T, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := w.emu.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v (%s)", err, out)
	}
	return out
}

func results(t *testing.T, out []byte) []lambda.Result {
	t.Helper()
	var r lambda.Response
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return r.Results
}

func (w *world) status(t *testing.T, prefix string) job.Status {
	t.Helper()
	data, err := w.root.ReadAll(context.Background(), prefix+job.StatusName)
	if err != nil {
		t.Fatalf("reading %s%s: %v", prefix, job.StatusName, err)
	}
	var st job.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// keys lists the objects under prefix.
func (w *world) keys(t *testing.T, prefix string) map[string]storage.Attrs {
	t.Helper()
	as, err := w.root.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]storage.Attrs{}
	for _, a := range as {
		m[a.Key] = a
	}
	return m
}

// drain receives every message now on q.
func drain(t *testing.T, q queue.Queue) []queue.Message {
	t.Helper()
	var all []queue.Message
	for {
		msgs, err := q.Receive(context.Background(), 10, time.Second, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return all
		}
		all = append(all, msgs...)
	}
}

// download copies every object under prefix to a local directory.
func (w *world) download(t *testing.T, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	for key := range w.keys(t, prefix) {
		dst := filepath.Join(dir, strings.TrimPrefix(key, prefix))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := w.root.Download(context.Background(), key, dst); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLambdaS3Events runs the bootstrap under aws-lambda-rie on S3 events:
// a 10 s clip is published inline, whole and valid; the same event again
// changes nothing; a 3 min clip becomes exactly one job on the queue and no
// output; a garbage object fails once, clearly, and is not retried.
func TestLambdaS3Events(t *testing.T) {
	w := newWorld(t, false)
	ctx := context.Background()

	short := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 10, FPS: "24", Name: "short"})
	etag, size := w.upload(t, "uploads/short.mp4", short)
	ev := s3Event(w.bucket, "uploads/short.mp4", etag, size)

	t.Run("short clip published inline", func(t *testing.T) {
		res := results(t, w.invoke(t, ev))
		if len(res) != 1 || res[0].Action != lambda.ActionPublished || res[0].Route != "inline" {
			t.Fatalf("results %+v, want one inline publish", res)
		}
		if want := "s3://" + w.bucket + "/out/uploads/short/"; res[0].Output != want {
			t.Errorf("output %s, want %s", res[0].Output, want)
		}
		st := w.status(t, "out/uploads/short/")
		if st.State != job.StatePublished || st.Progress != 100 || st.Renditions < 2 || !strings.HasPrefix(st.Worker, "lambda") {
			t.Errorf("job.json %+v, want published by the lambda", st)
		}
		dir := w.download(t, "out/uploads/short/")
		rep, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 10,
			ExpectAudio: true, ExpectVideo: true})
		if err != nil {
			t.Fatalf("hlscheck:\n%v", err)
		}
		if len(rep.Renditions) < 2 {
			t.Errorf("%d renditions, want 360p and 240p", len(rep.Renditions))
		}
		if len(drain(t, w.q)) != 0 {
			t.Error("an inline clip also put a job on the queue")
		}
	})

	t.Run("same event twice gives one output", func(t *testing.T) {
		before := w.keys(t, "out/uploads/short/")
		res := results(t, w.invoke(t, ev))
		if len(res) != 1 || res[0].Action != lambda.ActionDuplicate {
			t.Fatalf("results %+v, want a duplicate", res)
		}
		after := w.keys(t, "out/uploads/short/")
		for k, a := range after {
			b, ok := before[k]
			if !ok {
				t.Errorf("%s appeared on the second event", k)
			} else if a.ETag != b.ETag || !a.ModTime.Equal(b.ModTime) {
				t.Errorf("%s was rewritten on the second event", k)
			}
		}
		if len(after) != len(before) {
			t.Errorf("%d objects after the second event, %d before", len(after), len(before))
		}
		if len(drain(t, w.q)) != 0 {
			t.Error("the duplicate event put a job on the queue")
		}
	})

	t.Run("long clip becomes one fleet job", func(t *testing.T) {
		// Really 3 minutes long: tiny and at 5 fps, so cheap to make.
		long := testmedia.Generate(t, testmedia.Spec{Width: 128, Height: 72, Duration: 180, FPS: "5", Name: "long"})
		if info, err := testmedia.Probe(long); err != nil || info.Format.Seconds() < 179 {
			t.Fatalf("generated long clip: %v %+v", err, info.Format)
		}
		etag, size := w.upload(t, "uploads/long.mp4", long)
		lev := s3Event(w.bucket, "uploads/long.mp4", etag, size)
		res := results(t, w.invoke(t, lev))
		if len(res) != 1 || res[0].Action != lambda.ActionQueued || res[0].Queue != w.queueURL {
			t.Fatalf("results %+v, want one job queued on %s", res, w.queueURL)
		}
		// A duplicate delivery of the event sends nothing more.
		if res := results(t, w.invoke(t, lev)); len(res) != 1 || res[0].Action != lambda.ActionDuplicate {
			t.Errorf("second delivery: %+v, want a duplicate", res)
		}
		msgs := drain(t, w.q)
		if len(msgs) != 1 {
			t.Fatalf("%d messages on the queue, want exactly 1", len(msgs))
		}
		j, err := job.Parse(msgs[0].Body)
		if err != nil {
			t.Fatalf("the queued message is not a job: %v", err)
		}
		if j.Source != "s3://"+w.bucket+"/uploads/long.mp4" || j.Output != "s3://"+w.bucket+"/out/uploads/long/" {
			t.Errorf("queued job %s → %s", j.Source, j.Output)
		}
		for k := range w.keys(t, "out/uploads/long/") {
			if k != "out/uploads/long/"+job.StatusName {
				t.Errorf("a queued job has output %s", k)
			}
		}
		if ok, _ := w.root.Exists(ctx, "out/uploads/long/"+job.MasterName); ok {
			t.Error("a queued job has a master playlist")
		}
		if st := w.status(t, "out/uploads/long/"); st.State != job.StateQueued || st.JobID != j.ID {
			t.Errorf("job.json %+v, want queued with the job's id", st)
		}
	})

	t.Run("garbage fails once without retry", func(t *testing.T) {
		etag, size := w.upload(t, "uploads/garbage.mp4", testmedia.Garbage(t, 64<<10))
		out, err := w.emu.Invoke(ctx, s3Event(w.bucket, "uploads/garbage.mp4", etag, size))
		var fe *rie.FunctionError
		if errors.As(err, &fe) {
			t.Fatalf("a garbage upload made the invocation fail (Lambda would retry it): %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		res := results(t, out)
		if len(res) != 1 || res[0].Action != lambda.ActionFailed || !strings.Contains(res[0].Reason, "fingerprint=") {
			t.Fatalf("results %+v, want one failure with the input's fingerprint", res)
		}
		st := w.status(t, "out/uploads/garbage/")
		if st.State != job.StateFailed || st.Reason != "permanent" || st.Error == "" {
			t.Errorf("job.json %+v, want failed, permanent, with the error", st)
		}
		if ok, _ := w.root.Exists(ctx, "out/uploads/garbage/"+job.MasterName); ok {
			t.Error("garbage published a master")
		}
		if n := len(drain(t, w.q)); n != 0 {
			t.Errorf("garbage put %d jobs on the queue", n)
		}
		if !strings.Contains(w.emu.Logs(), "job failed: the input is at fault; not retrying") {
			t.Error("no log line for the failure")
		}
	})
}

// sqsBatch wraps bodies as an SQS event source mapping delivers them.
func sqsBatch(queueARN string, bodies ...[]byte) []byte {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("msg-%d", i), ReceiptHandle: fmt.Sprintf("rh-%d", i), Body: string(b),
			EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	out, _ := json.Marshal(ev)
	return out
}

func batchFailures(t *testing.T, out []byte) []string {
	t.Helper()
	var r events.SQSEventResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// TestLambdaSQSBatch: a batch of three S3 notifications through SQS, the
// middle one for a garbage object. Without a DLQ only that record is
// reported in BatchItemFailures (the source queue's redrive policy then
// dead-letters it); with HLSFLEET_DLQ_URL it is parked there with its
// reason and the whole batch succeeds.
func TestLambdaSQSBatch(t *testing.T) {
	for _, withDLQ := range []bool{false, true} {
		t.Run(fmt.Sprintf("dlq=%v", withDLQ), func(t *testing.T) {
			w := newWorld(t, withDLQ)
			clip := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 90, Duration: 3, Name: "tiny"})
			e1, s1 := w.upload(t, "in/a.mp4", clip)
			eg, sg := w.upload(t, "in/bad.mp4", testmedia.Garbage(t, 32<<10))
			e2, s2 := w.upload(t, "in/b.mp4", clip)
			out := w.invoke(t, sqsBatch("arn:aws:sqs:us-east-1:000000000000:"+w.bucket,
				s3Event(w.bucket, "in/a.mp4", e1, s1), s3Event(w.bucket, "in/bad.mp4", eg, sg), s3Event(w.bucket, "in/b.mp4", e2, s2)))
			failed := batchFailures(t, out)
			if withDLQ {
				if len(failed) != 0 {
					t.Errorf("BatchItemFailures %v, want none (the bad record is parked on the DLQ)", failed)
				}
				dl := drain(t, w.dlq)
				if len(dl) != 1 || !strings.Contains(dl[0].Attributes[queue.AttrReason], "fingerprint=") {
					t.Fatalf("DLQ has %d messages (%+v), want the bad record with its reason", len(dl), dl)
				}
				if j, err := job.Parse(dl[0].Body); err != nil || !strings.HasSuffix(j.Source, "/in/bad.mp4") {
					t.Errorf("DLQ message is not the bad job: %v", err)
				}
			} else if len(failed) != 1 || failed[0] != "msg-1" {
				t.Errorf("BatchItemFailures %v, want exactly [msg-1]", failed)
			}
			for _, stem := range []string{"a", "b"} {
				if ok, err := w.root.Exists(context.Background(), "out/in/"+stem+"/"+job.MasterName); !ok || err != nil {
					t.Errorf("record %s was not published: %v", stem, err)
				}
			}
			if st := w.status(t, "out/in/bad/"); st.State != job.StateFailed {
				t.Errorf("bad record's job.json %+v, want failed", st)
			}
		})
	}
}
