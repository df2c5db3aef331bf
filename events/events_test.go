package events_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

const secret = "s3cret"

// receiver is a webhook endpoint that verifies every delivery and records
// the accepted ones; fail decides (per event id and attempt) to answer 500.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	got      []events.WebhookPayload
	attempts map[string]int
	badSig   int
	fail     func(p events.WebhookPayload, attempt int) bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := events.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p events.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get(events.HeaderIdemKey) != p.ID || r.Header.Get(events.HeaderEventID) != p.ID {
		rc.t.Errorf("idempotency headers %q/%q, body id %q", r.Header.Get(events.HeaderIdemKey), r.Header.Get(events.HeaderEventID), p.ID)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts[p.ID]++
	if rc.fail != nil && rc.fail(p, rc.attempts[p.ID]) {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	rc.got = append(rc.got, p)
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, attempts: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func fastOptions(t *testing.T) events.Options {
	return events.Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Timeout: 5 * time.Second}
}

func ev(typ, jobID string, progress float64) job.StateChange {
	return job.StateChange{Type: typ, Time: time.Now(), Job: &job.Job{ID: jobID, Source: "s3://in/" + jobID + ".mp4", Output: "s3://out/" + jobID},
		Status: job.Status{JobID: jobID, State: typ, Progress: progress}}
}

func flush(t *testing.T, s *events.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookSignedOrderedAndRetried(t *testing.T) {
	rc, srv := newReceiver(t)
	// The second event of job a fails twice with a 500: it must be retried
	// with the same id, and job a's later events must wait behind it.
	rc.fail = func(p events.WebhookPayload, attempt int) bool {
		return p.JobID == "a" && p.Status.Progress == 10 && attempt <= 2
	}
	wh, err := events.NewWebhook(srv.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := events.New(wh, fastOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	want := map[string][]float64{}
	for i := 0; i <= 10; i++ {
		for _, id := range []string{"a", "b"} {
			typ := job.EventProgress
			if i == 0 {
				typ = job.EventStarted
			}
			s.JobEvent(ev(typ, id, float64(i*10)))
			want[id] = append(want[id], float64(i*10))
		}
	}
	s.JobEvent(ev(job.EventPublished, "a", 100))
	want["a"] = append(want["a"], 100)
	flush(t, s)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSig != 0 {
		t.Errorf("%d deliveries failed signature verification", rc.badSig)
	}
	got := map[string][]float64{}
	var lastSeq = map[string]uint64{}
	ids := map[string]bool{}
	for _, p := range rc.got {
		got[p.JobID] = append(got[p.JobID], p.Status.Progress)
		if p.Sequence <= lastSeq[p.JobID] {
			t.Errorf("job %s: sequence %d after %d", p.JobID, p.Sequence, lastSeq[p.JobID])
		}
		lastSeq[p.JobID] = p.Sequence
		if ids[p.ID] {
			t.Errorf("event %s accepted twice", p.ID)
		}
		ids[p.ID] = true
	}
	for id, w := range want {
		if fmtFloats(got[id]) != fmtFloats(w) {
			t.Errorf("job %s: delivered in order %v, want %v", id, got[id], w)
		}
	}
	retried := false
	for _, p := range rc.got {
		if p.JobID == "a" && p.Status.Progress == 10 {
			retried = rc.attempts[p.ID] == 3
		}
	}
	if !retried {
		t.Error("the event answered 500 twice was not delivered on its third attempt under the same id")
	}
	last := rc.got[len(rc.got)-1]
	if last.JobID != "a" || last.Type != job.EventPublished || last.Job == nil || last.Job.Output != "s3://out/a" {
		t.Errorf("last delivery %+v, want job a published with its job", last)
	}
}

func fmtFloats(f []float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestVerifyRejectsForgeryAndReplay(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1_700_000_000, 0)
	h := http.Header{}
	ts := "1700000000"
	h.Set(events.HeaderTimestamp, ts)
	h.Set(events.HeaderSignature, "sha256="+events.Sign([]byte(secret), ts, body))
	if err := events.Verify([]byte(secret), h, body, now, time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	if err := events.Verify([]byte("other"), h, body, now, time.Minute); !errors.Is(err, events.ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	if err := events.Verify([]byte(secret), h, []byte(`{"id":"evt_2"}`), now, time.Minute); !errors.Is(err, events.ErrBadSignature) {
		t.Errorf("altered body: %v", err)
	}
	if err := events.Verify([]byte(secret), h, body, now.Add(10*time.Minute), time.Minute); !errors.Is(err, events.ErrStale) {
		t.Errorf("replayed 10 minutes later: %v", err)
	}
	// Moving the timestamp forward breaks the signature.
	h.Set(events.HeaderTimestamp, "1700000600")
	if err := events.Verify([]byte(secret), h, body, now.Add(10*time.Minute), time.Minute); !errors.Is(err, events.ErrBadSignature) {
		t.Errorf("re-stamped replay: %v", err)
	}
}

// blockingTransport is a dead receiver: every delivery hangs until release.
type blockingTransport struct {
	*events.Webhook
	inFlight chan string
	release  chan struct{}
}

func (b *blockingTransport) Deliver(ctx context.Context, r *events.Record) error {
	select {
	case b.inFlight <- r.Type:
	default:
	}
	select {
	case <-b.release:
		return errors.New("receiver gone")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestDeadReceiverNeverBlocks: while a delivery hangs, JobEvent keeps
// returning, a full queue drops rather than waits, and Close gives up at
// its deadline.
func TestDeadReceiverNeverBlocks(t *testing.T) {
	wh, _ := events.NewWebhook("http://127.0.0.1:1/hook", secret)
	bt := &blockingTransport{Webhook: wh, inFlight: make(chan string, 1), release: make(chan struct{})}
	defer close(bt.release)
	o := fastOptions(t)
	o.QueueSize = 5
	o.Timeout = time.Hour
	o.Metrics = events.NewMetrics(nil)
	s, err := events.New(bt, o)
	if err != nil {
		t.Fatal(err)
	}
	s.JobEvent(ev(job.EventStarted, "j", 0))
	if typ := <-bt.inFlight; typ != job.EventStarted {
		t.Fatalf("in flight: %s", typ)
	}
	// The receiver now holds "started"; these calls return regardless.
	for i := 1; i <= 20; i++ {
		s.JobEvent(ev(job.EventProgress, "j", float64(i)))
	}
	if p := s.Pending(); p != 5 {
		t.Errorf("pending %d, want the queue size 5", p)
	}
	if d := testutil.ToFloat64(o.Metrics.Dropped.WithLabelValues("webhook", "queue_full")); d != 16 {
		t.Errorf("dropped %v events for a full queue, want 16", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a dead receiver and no spool: %v, want the deadline", err)
	}
}

// failing refuses every delivery.
type failing struct{ *events.Webhook }

func (failing) Deliver(context.Context, *events.Record) error { return errors.New("down") }

// TestSpoolSurvivesRestart: events pending at Close are in the spool, and
// the next sink on it delivers them in order under their original ids.
func TestSpoolSurvivesRestart(t *testing.T) {
	spool := t.TempDir()
	wh, _ := events.NewWebhook("http://127.0.0.1:1/hook", secret)
	o := fastOptions(t)
	o.SpoolDir = spool
	s, err := events.New(failing{wh}, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{job.EventStarted, job.EventProgress, job.EventPublished} {
		s.JobEvent(ev(typ, "j", float64(i*50)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close with a spool: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(spool, "*.json"))
	if len(files) != 3 {
		t.Fatalf("%d spool files after Close, want 3", len(files))
	}

	rc, srv := newReceiver(t)
	wh2, _ := events.NewWebhook(srv.URL, secret)
	s2, err := events.New(wh2, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	flush(t, s2)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var types []string
	for _, p := range rc.got {
		types = append(types, p.Type)
		if !strings.Contains(strings.Join(files, " "), p.ID) {
			t.Errorf("event %s was not delivered under its spooled id", p.ID)
		}
	}
	if strings.Join(types, ",") != "started,progress,published" {
		t.Errorf("delivered after restart: %v", types)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*.json")); len(left) != 0 {
		t.Errorf("spool keeps %v after delivery", left)
	}
}

func TestGiveUpAfterMaxAge(t *testing.T) {
	wh, _ := events.NewWebhook("http://127.0.0.1:1/hook", secret)
	o := fastOptions(t)
	o.MaxAge = 100 * time.Millisecond
	o.Metrics = events.NewMetrics(nil)
	s, err := events.New(failing{wh}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	s.JobEvent(ev(job.EventStarted, "j", 0))
	s.JobEvent(ev(job.EventFailed, "j", 0))
	flush(t, s)
	if d := testutil.ToFloat64(o.Metrics.Dropped.WithLabelValues("webhook", "expired")); d != 2 {
		t.Errorf("expired %v, want 2", d)
	}
	if f := testutil.ToFloat64(o.Metrics.Failures.WithLabelValues("webhook")); f < 2 {
		t.Errorf("failed attempts %v, want at least 2", f)
	}
}

func publishedEvent() job.StateChange {
	e := ev(job.EventPublished, "job-1", 100)
	e.Job.Attributes = map[string]string{"customer": "acme"}
	e.Status.Duration = 12.5
	// A fleet output's files sit in the publishing attempt's folder.
	e.Status.Extras = job.Extras{MP4: "k3x7q2abcd/720p.mp4",
		Playlists: []string{"720p/k3x7q2abcd/index.m3u8", "360p/k3x7q2abcd/index.m3u8"}, Quality: []job.Quality{
			{Rendition: "720p", Width: 1280, Height: 720, SSIM: 0.98, PSNR: 41, Frames: 12},
			{Rendition: "480p", Width: 854, Height: 480, SSIM: 0.95, PSNR: 37, Frames: 12, Dropped: true},
			{Rendition: "360p", Width: 640, Height: 360, SSIM: 0.93, PSNR: 35, Frames: 12},
		}}
	return e
}

func checkStateChange(t *testing.T, body []byte) {
	t.Helper()
	var m events.StateChange
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("message %s: %v", body, err)
	}
	d := m.Detail
	if m.Version != "0" || m.DetailType != events.DetailType || m.Source != "hlsfleet" || m.ID == "" ||
		d.Status != events.StatusComplete || d.JobID != "job-1" || d.UserMetadata["customer"] != "acme" || d.HlsfleetEvent != "published" {
		t.Errorf("message %s", body)
	}
	if len(d.OutputGroupDetails) != 2 || d.OutputGroupDetails[0].Type != "HLS_GROUP" ||
		d.OutputGroupDetails[0].PlaylistFilePaths[0] != "s3://out/job-1/master.m3u8" {
		t.Fatalf("output groups %+v", d.OutputGroupDetails)
	}
	od := d.OutputGroupDetails[0].OutputDetails
	if len(od) != 2 || od[0].OutputFilePaths[0] != "s3://out/job-1/720p/k3x7q2abcd/index.m3u8" || od[0].DurationInMs != 12500 ||
		od[1].VideoDetails.HeightInPx != 360 || od[1].OutputFilePaths[0] != "s3://out/job-1/360p/k3x7q2abcd/index.m3u8" {
		t.Errorf("output details (the dropped 480p must be absent) %+v", od)
	}
	if d.OutputGroupDetails[1].OutputDetails[0].OutputFilePaths[0] != "s3://out/job-1/k3x7q2abcd/720p.mp4" {
		t.Errorf("mp4 group %+v", d.OutputGroupDetails[1])
	}
	// The raw JSON uses MediaConvert's key names.
	for _, k := range []string{`"detail-type"`, `"outputGroupDetails"`, `"playlistFilePaths"`, `"userMetadata"`, `"jobId"`} {
		if !strings.Contains(string(body), k) {
			t.Errorf("message lacks %s", k)
		}
	}
}

func TestStateChangeMapping(t *testing.T) {
	for typ, want := range map[string]string{
		events.TypeQueued: events.StatusSubmitted, job.EventStarted: events.StatusProgressing,
		job.EventProgress: events.StatusStatusUpdate, job.EventPublished: events.StatusComplete,
		job.EventFailed: events.StatusError, job.EventDeadLettered: events.StatusError,
		job.EventRetrying: events.StatusStatusUpdate,
	} {
		e := ev(typ, "j", 40)
		e.Reason = "boom"
		m := events.StateChangeOf("id", e, "123", "eu-west-1", "q")
		if m.Detail.Status != want {
			t.Errorf("%s -> %s, want %s", typ, m.Detail.Status, want)
		}
		if want == events.StatusError && m.Detail.ErrorMessage != "boom" {
			t.Errorf("%s: errorMessage %q", typ, m.Detail.ErrorMessage)
		}
		if typ == job.EventProgress && (m.Detail.JobProgress == nil || m.Detail.JobProgress.JobPercentComplete != 40) {
			t.Errorf("progress: %+v", m.Detail.JobProgress)
		}
	}
}

// requirePeer skips without the SQS peer, or fails under scripts/test.sh.
func requirePeer(t *testing.T) {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_SQS") != "" {
		return
	}
	if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
		t.Fatal("SQS peer not running (AWS_ENDPOINT_URL_SQS unset) but HLSFLEET_REQUIRE_S3_PEER=1")
	}
	t.Skip("SQS peer not running: start it with scripts/peers/sqs.sh start")
}

func TestSQSSinkOnPeer(t *testing.T) {
	requirePeer(t)
	ctx := context.Background()
	c, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, dlq, err := queue.CreateSQSQueues(ctx, c, "hlsfleet-events-"+job.NewID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.DeleteSQSQueues(ctx, c, u, dlq)
	tr, err := events.NewSQS(ctx, u, "https://sqs.example/jobs")
	if err != nil {
		t.Fatal(err)
	}
	s, err := events.New(tr, fastOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	s.JobEvent(publishedEvent())
	flush(t, s)
	s.Close(ctx)
	q := queue.NewSQS(c, u, queue.Options{})
	defer q.Close()
	msgs, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(msgs))
	}
	checkStateChange(t, msgs[0].Body)
}

// TestSNSSink speaks the SNS query protocol from an httptest server (the
// SQS peer, fauxqs, has no SNS).
func TestSNSSink(t *testing.T) {
	var mu sync.Mutex
	var published []string
	var topics []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "Publish" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		published = append(published, r.Form.Get("Message"))
		topics = append(topics, r.Form.Get("TopicArn"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		type result struct {
			MessageID string `xml:"MessageId"`
		}
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName xml.Name `xml:"PublishResponse"`
			Result  result   `xml:"PublishResult"`
		}{Result: result{MessageID: "m-1"}})
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SNS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	ctx := context.Background()
	if _, err := events.NewSNS(ctx, "not-an-arn", ""); err == nil {
		t.Error("a topic that is not an ARN was accepted")
	}
	arn := "arn:aws:sns:eu-west-1:123456789012:jobs"
	tr, err := events.NewSNS(ctx, arn, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := events.New(tr, fastOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	s.JobEvent(publishedEvent())
	flush(t, s)
	s.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(published) != 1 || topics[0] != arn {
		t.Fatalf("published %d messages to %v", len(published), topics)
	}
	checkStateChange(t, []byte(published[0]))
	var m events.StateChange
	_ = json.Unmarshal([]byte(published[0]), &m)
	if m.Account != "123456789012" || m.Region != "eu-west-1" {
		t.Errorf("account %q region %q, want the topic's", m.Account, m.Region)
	}
}

// TestWebhookErrorsRedactTheURL: a delivery failure is logged with its
// error; the webhook URL's token must not be in it (issue N).
func TestWebhookErrorsRedactTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var hooks []*events.Webhook
	for _, u := range []string{srv.URL + "/hook?token=s3cret", "http://user:pw@127.0.0.1:1/hook?token=s3cret"} {
		w, err := events.NewWebhook(u, "")
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, w)
	}
	for _, w := range hooks {
		err := w.Deliver(context.Background(), &events.Record{ID: "e1", Type: "published", Body: []byte("{}")})
		if err == nil {
			t.Fatalf("%s: delivered", events.Redact(w.URL))
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "pw@") || !strings.Contains(msg, "/hook?…") {
			t.Errorf("delivery error %q shows the URL's secrets (or not the redacted URL)", msg)
		}
	}
	if got := events.Redact("https://h.example/p"); got != "https://h.example/p" {
		t.Errorf("Redact of a plain URL = %q", got)
	}
}
