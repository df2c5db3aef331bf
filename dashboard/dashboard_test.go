package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

type fixture struct {
	s      *Server
	ts     *httptest.Server
	q      *queue.Local
	out    string // output root directory
	srcDir string
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{out: filepath.Join(dir, "out"), srcDir: filepath.Join(dir, "sources")}
	for _, d := range []string{f.out, f.srcDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	q, err := queue.OpenLocal(filepath.Join(dir, "queue"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	f.q = q
	cfg := Config{
		Output: "file://" + f.out, Sources: "file://" + f.srcDir, Queue: q,
		DeadLetters: q, Logger: zaptest.NewLogger(t), ScanInterval: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	f.ts = httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		f.ts.CloseClientConnections()
		f.ts.Close()
		s.Close()
	})
	return f
}

// sse reads server-sent events from /api/events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

func (f *fixture) events(t *testing.T) *sse {
	t.Helper()
	resp, err := http.Get(f.ts.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{r: bufio.NewReader(resp.Body), body: resp.Body}
}

// next returns the next event's name and data (comments and retry lines skipped).
func (e *sse) next(t *testing.T) (string, []byte) {
	t.Helper()
	type ev struct {
		name string
		data []byte
		err  error
	}
	ch := make(chan ev, 1)
	go func() {
		var name string
		var data []byte
		for {
			line, err := e.r.ReadString('\n')
			if err != nil {
				ch <- ev{err: err}
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if name != "" || data != nil {
					ch <- ev{name: name, data: data}
					return
				}
			case strings.HasPrefix(line, "event: "):
				name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[len("data: "):]...)
			}
		}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("reading the event stream: %v", x.err)
		}
		return x.name, x.data
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return "", nil
}

// nextJob skips to the next "job" event.
func (e *sse) nextJob(t *testing.T) Job {
	t.Helper()
	for {
		name, data := e.next(t)
		if name != "job" {
			continue
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
}

func TestEventsStreamJobProgress(t *testing.T) {
	f := newFixture(t, nil)
	es := f.events(t)
	name, data := es.next(t)
	if name != "snapshot" {
		t.Fatalf("first event %q, want snapshot", name)
	}
	var snap State
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	if !snap.Info.Uploads || !snap.Info.DLQ || len(snap.Jobs) != 0 {
		t.Fatalf("snapshot %+v", snap)
	}

	j := job.New("file:///src/a.mp4", "file://"+f.out+"/clip")
	t0 := time.Now()
	st := job.Status{JobID: j.ID, State: job.StateRunning, Attempt: 1, StartedAt: t0, UpdatedAt: t0}
	f.s.JobEvent(job.StateChange{Type: job.EventStarted, Time: t0, Job: j, Status: st})
	for i, p := range []float64{10, 40, 70} {
		st.Progress, st.UpdatedAt = p, t0.Add(time.Duration(i+1)*time.Second)
		f.s.JobEvent(job.StateChange{Type: job.EventProgress, Time: st.UpdatedAt, Job: j, Status: st})
	}
	st.State, st.UpdatedAt = job.StatePublished, t0.Add(5*time.Second)
	f.s.JobEvent(job.StateChange{Type: job.EventPublished, Time: st.UpdatedAt, Job: j, Status: st})

	var got []string
	for range 5 {
		v := es.nextJob(t)
		if v.ID != j.ID || v.Path != "clip" {
			t.Fatalf("job event %+v: want id %s path clip", v, j.ID)
		}
		got = append(got, fmt.Sprintf("%s %.0f", v.State, v.Progress))
	}
	want := "running 0,running 10,running 40,running 70,published 100"
	if strings.Join(got, ",") != want {
		t.Fatalf("job events %q, want %q", strings.Join(got, ","), want)
	}

	// A stale job.json (older than what the events said) never moves the bar back.
	old := st
	old.State, old.Progress, old.UpdatedAt = job.StateRunning, 10, t0.Add(time.Second)
	writeStatus(t, filepath.Join(f.out, "clip"), old, nil)
	f.s.Scan(context.Background())
	if v, _ := f.s.hub.job(j.ID); v.State != job.StatePublished || v.Progress != 100 {
		t.Fatalf("after a stale scan: %s %.0f, want published 100", v.State, v.Progress)
	}

	// A second page gets the current state in its snapshot.
	_, data = f.events(t).next(t)
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Jobs) != 1 || snap.Jobs[0].State != job.StatePublished {
		t.Fatalf("second snapshot jobs %+v", snap.Jobs)
	}
}

func writeStatus(t *testing.T, dir string, st job.Status, extra map[string]any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(st)
	if extra != nil {
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		for k, v := range extra {
			m[k] = v
		}
		data, _ = json.Marshal(m)
	}
	if err := os.WriteFile(filepath.Join(dir, job.StatusName), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A remote fleet's jobs come only from job.json documents: the scan shows
// them with their extras, and shows live streams with their latency.
func TestScanStatusDocsAndLiveStreams(t *testing.T) {
	now := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	f := newFixture(t, func(c *Config) { c.Now = func() time.Time { return now } })
	dir := filepath.Join(f.out, "movies", "m1")
	writeStatus(t, dir, job.Status{JobID: "j1", State: job.StatePublished, Progress: 100, UpdatedAt: now.Add(-time.Minute), Renditions: 3},
		map[string]any{"quality": []map[string]any{{"rendition": "720p", "ssim": 0.98, "psnr_db": 41.2}}})
	for _, n := range []string{"master.m3u8", "poster.jpg", "storyboard.vtt", "720p.mp4"} {
		_ = os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	// A fleet output: job.json names the extras in the publishing
	// attempt's folder; a name whose object is missing is not shown.
	fleet := filepath.Join(f.out, "movies", "m3")
	writeStatus(t, fleet, job.Status{JobID: "j3", State: job.StatePublished, Progress: 100, UpdatedAt: now,
		Extras: job.Extras{Poster: "k3x7q2abcd/poster.jpg", Storyboard: "k3x7q2abcd/storyboard.vtt", MP4: "k3x7q2abcd/720p.mp4"}}, nil)
	_ = os.MkdirAll(filepath.Join(fleet, "k3x7q2abcd"), 0o755)
	for _, n := range []string{"master.m3u8", "k3x7q2abcd/poster.jpg", "k3x7q2abcd/720p.mp4"} {
		_ = os.WriteFile(filepath.Join(fleet, filepath.FromSlash(n)), []byte("x"), 0o644)
	}
	writeStatus(t, filepath.Join(f.out, "bad"), job.Status{JobID: "j2", State: job.StateFailed, Error: "input is not a media file", UpdatedAt: now}, nil)
	// A half-written job.json and a staging folder are ignored.
	_ = os.MkdirAll(filepath.Join(f.out, ".hlsfleet-staging-1"), 0o755)
	_ = os.WriteFile(filepath.Join(f.out, ".hlsfleet-staging-1", "job.json"), []byte(`{"job_id":"hidden"}`), 0o644)
	_ = os.MkdirAll(filepath.Join(f.out, "junk"), 0o755)
	_ = os.WriteFile(filepath.Join(f.out, "junk", "job.json"), []byte(`{"job_id":`), 0o644)

	live := filepath.Join(f.out, "live", "cam1")
	_ = os.MkdirAll(filepath.Join(live, "720p"), 0o755)
	_ = os.WriteFile(filepath.Join(live, "master.m3u8"), []byte("#EXTM3U\n"), 0o644)
	_ = os.WriteFile(filepath.Join(live, "720p", "index.m3u8"), []byte("#EXTM3U\n"), 0o644)
	seg := filepath.Join(live, "720p", "00042.ts")
	_ = os.WriteFile(seg, []byte("x"), 0o644)
	if err := os.Chtimes(seg, now.Add(-3500*time.Millisecond), now.Add(-3500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// A folder under live/ without a master is not a stream.
	_ = os.MkdirAll(filepath.Join(f.out, "live", "nomaster", "a"), 0o755)
	_ = os.WriteFile(filepath.Join(f.out, "live", "nomaster", "a", "1.ts"), []byte("x"), 0o644)

	f.s.Scan(context.Background())
	st := f.s.hub.state()
	if len(st.Jobs) != 3 {
		t.Fatalf("jobs %+v, want j1, j2 and j3", st.Jobs)
	}
	byID := map[string]Job{}
	for _, j := range st.Jobs {
		byID[j.ID] = j
	}
	j1 := byID["j1"]
	if j1.Path != "movies/m1" || j1.Poster != "poster.jpg" || j1.Storyboard != "storyboard.vtt" || len(j1.MP4) != 1 || j1.MP4[0] != "720p.mp4" || j1.Renditions != 3 {
		t.Errorf("j1 %+v", j1)
	}
	if j3 := byID["j3"]; j3.Path != "movies/m3" || j3.Poster != "k3x7q2abcd/poster.jpg" || j3.Storyboard != "" ||
		len(j3.MP4) != 1 || j3.MP4[0] != "k3x7q2abcd/720p.mp4" {
		t.Errorf("j3 %+v: want the extras job.json names that exist", j3)
	}
	if !bytes.Contains(j1.Quality, []byte(`"ssim":0.98`)) {
		t.Errorf("j1 quality %s", j1.Quality)
	}
	if j2 := byID["j2"]; j2.State != job.StateFailed || j2.Error != "input is not a media file" {
		t.Errorf("j2 %+v", j2)
	}
	if len(st.Streams) != 1 {
		t.Fatalf("streams %+v, want cam1", st.Streams)
	}
	s := st.Streams[0]
	if s.Name != "cam1" || s.Path != "live/cam1" || s.Segments != 1 || s.Ended {
		t.Errorf("stream %+v", s)
	}
	if s.LatencySeconds < 3.4 || s.LatencySeconds > 3.6 {
		t.Errorf("latency %.2f s, want 3.5", s.LatencySeconds)
	}
}

func postReq(t *testing.T, url string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readErr(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var e struct{ Error string }
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &e)
	return e.Error
}

func deadLetter(t *testing.T, q *queue.Local, body []byte, reason string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := q.Send(ctx, body, queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	ms, err := q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("receive: %v %d", err, len(ms))
	}
	if err := q.DeadLetter(ctx, ms[0], reason); err != nil {
		t.Fatal(err)
	}
	return ms[0].ID
}

func TestRetryRedrivesDeadLetter(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	j := job.New("file:///src/broken.mp4", "file://"+f.out+"/broken")
	body, _ := j.Marshal()
	id := deadLetter(t, f.q, body, "input is not a media file")
	f.s.Scan(ctx)
	st := f.s.hub.state()
	if len(st.DeadLetters) != 1 || st.DeadLetters[0].ID != id || st.DeadLetters[0].JobID != j.ID || st.DeadLetters[0].Reason != "input is not a media file" {
		t.Fatalf("dead letters %+v", st.DeadLetters)
	}
	if st.Stats == nil || st.Stats.DeadLetters != 1 {
		t.Fatalf("stats %+v", st.Stats)
	}

	// From another origin: refused, nothing moves.
	resp := postReq(t, f.ts.URL+"/api/dlq/retry?id="+id, nil, map[string]string{"Origin": "http://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin retry: status %d, want 403", resp.StatusCode)
	}
	resp.Body.Close()
	if dl, _ := f.q.DeadLetters(ctx); len(dl) != 1 {
		t.Fatalf("a cross-origin retry moved the dead letter")
	}

	resp = postReq(t, f.ts.URL+"/api/dlq/retry?id="+id, nil, map[string]string{"Origin": f.ts.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: status %d: %s", resp.StatusCode, readErr(t, resp))
	}
	resp.Body.Close()
	if dl, _ := f.q.DeadLetters(ctx); len(dl) != 0 {
		t.Fatalf("dead letters after retry: %+v", dl)
	}
	ms, err := f.q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].ID != id || !bytes.Equal(ms[0].Body, body) {
		t.Fatalf("after retry the queue gives %v %+v, want message %s", err, ms, id)
	}
	st = f.s.hub.state()
	if len(st.DeadLetters) != 0 {
		t.Errorf("the dashboard still lists %+v", st.DeadLetters)
	}
	if v, ok := f.s.hub.job(j.ID); !ok || v.State != job.StateQueued || v.Path != "broken" {
		t.Errorf("job after retry %+v, want queued", v)
	}

	resp = postReq(t, f.ts.URL+"/api/dlq/retry?id="+id, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second retry: status %d, want 404", resp.StatusCode)
	}
	resp.Body.Close()
}

// A dead-letter queue beside the queue (the SQS form, here two local
// queues): the listing is capped at MaxDeadLetters and reused for
// DeadLetterCache, and a retry drops the cached listing.
func TestRetryFromDeadLetterQueue(t *testing.T) {
	dlq, err := queue.OpenLocal(filepath.Join(t.TempDir(), "dlq"), queue.Options{MaxReceive: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	var src queue.Queue
	f := newFixture(t, func(c *Config) {
		src = c.Queue
		c.DeadLetters, c.MaxDeadLetters, c.DeadLetterCache = queue.DLQ(c.Queue, dlq), 2, time.Hour
	})
	ctx := context.Background()
	for i := range 3 {
		_, err := dlq.Send(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i)), queue.SendOptions{Attributes: map[string]string{
			queue.AttrReason: fmt.Sprintf("reason %d", i), queue.AttrOriginalID: fmt.Sprintf("orig-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	f.s.Scan(ctx)
	st := f.s.hub.state()
	if len(st.DeadLetters) != 2 || st.DeadLetters[0].ID != "orig-0" || st.DeadLetters[0].Reason != "reason 0" {
		t.Fatalf("dead letters %+v, want the first 2", st.DeadLetters)
	}
	// Cached: a new dead letter shows only after the cache is dropped.
	if _, err := dlq.Send(ctx, []byte(`{"n":9}`), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	resp := postReq(t, f.ts.URL+"/api/dlq/retry?id=orig-1", nil, map[string]string{"Origin": f.ts.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: status %d: %s", resp.StatusCode, readErr(t, resp))
	}
	resp.Body.Close()
	ms, err := src.Receive(ctx, 10, time.Second, time.Minute)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != `{"n":1}` {
		t.Fatalf("source after retry: %v %+v", err, ms)
	}
	st = f.s.hub.state()
	if len(st.DeadLetters) != 2 || st.DeadLetters[0].ID != "orig-0" || st.DeadLetters[1].ID != "orig-2" {
		t.Fatalf("dead letters after retry %+v, want orig-0 and orig-2", st.DeadLetters)
	}
	resp = postReq(t, f.ts.URL+"/api/dlq/retry?id=orig-1", nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second retry: status %d, want 404", resp.StatusCode)
	}
	resp.Body.Close()
}

var mp4Head = append([]byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"), bytes.Repeat([]byte{0}, 2000)...)

func TestUploadEnqueuesJob(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Ladder = "default" })
	ctx := context.Background()
	up := func(name string, body []byte, hdr map[string]string) *http.Response {
		return postReq(t, f.ts.URL+"/api/upload?name="+name, bytes.NewReader(body), hdr)
	}
	resp := up("my%20clip.mp4", mp4Head, map[string]string{"Origin": f.ts.URL})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: status %d: %s", resp.StatusCode, readErr(t, resp))
	}
	var res UploadResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stored := filepath.Join(f.srcDir, res.JobID+"-my_clip.mp4")
	if data, err := os.ReadFile(stored); err != nil || !bytes.Equal(data, mp4Head) {
		t.Fatalf("stored upload %s: %v (equal %v)", stored, err, bytes.Equal(data, mp4Head))
	}
	if res.Source != "file://"+stored || res.Path != "my_clip" || res.Output != "file://"+f.out+"/my_clip" {
		t.Fatalf("result %+v", res)
	}
	ms, err := f.q.Receive(ctx, 10, time.Second, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("queue after upload: %v %d messages", err, len(ms))
	}
	j, err := job.Parse(ms[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != res.JobID || j.Source != res.Source || j.Output != res.Output || j.Ladder != "default" {
		t.Fatalf("job %+v, result %+v", j, res)
	}
	if v, ok := f.s.hub.job(j.ID); !ok || v.State != job.StateQueued {
		t.Errorf("dashboard job %+v, want queued", v)
	}
	_ = f.q.Ack(ctx, ms[0])

	// The same name again gets its own output.
	resp = up("my%20clip.mp4", mp4Head, nil)
	var res2 UploadResult
	_ = json.NewDecoder(resp.Body).Decode(&res2)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || res2.Path == res.Path || !strings.HasPrefix(res2.Path, "my_clip-") {
		t.Fatalf("second upload: status %d path %q (first %q)", resp.StatusCode, res2.Path, res.Path)
	}
	ms, _ = f.q.Receive(ctx, 10, time.Second, time.Minute)
	for _, m := range ms {
		_ = f.q.Ack(ctx, m)
	}

	// Refusals store nothing and send nothing.
	entries, _ := os.ReadDir(f.srcDir)
	before := len(entries)
	for _, c := range []struct {
		name, why string
		body      []byte
		hdr       map[string]string
		code      int
	}{
		{"notes.txt", "does not look like a video", []byte("just some text\n"), nil, http.StatusUnsupportedMediaType},
		{"empty.mp4", "is empty", nil, nil, http.StatusBadRequest},
		{"x.mp4", "cross-origin", mp4Head, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"x.mp4", "cross-origin", mp4Head, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"", "no file name", mp4Head, nil, http.StatusBadRequest},
	} {
		resp := up(c.name, c.body, c.hdr)
		msg := readErr(t, resp)
		if resp.StatusCode != c.code || !strings.Contains(msg, c.why) {
			t.Errorf("upload %q: status %d %q, want %d with %q", c.name, resp.StatusCode, msg, c.code, c.why)
		}
	}
	if entries, _ := os.ReadDir(f.srcDir); len(entries) != before {
		t.Errorf("refused uploads left files: %d, want %d", len(entries), before)
	}
	if st, _ := f.q.Stats(ctx); st.Visible != 0 {
		t.Errorf("refused uploads sent %d jobs", st.Visible)
	}
}

func TestUploadSizeLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxUpload = 1000 })
	// Announced too large: refused before reading.
	resp := postReq(t, f.ts.URL+"/api/upload?name=big.mp4", bytes.NewReader(mp4Head), nil)
	if msg := readErr(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "upload limit") {
		t.Errorf("announced oversize: %d %q", resp.StatusCode, msg)
	}
	// Streamed without a length: cut off at the limit.
	pr, pw := io.Pipe()
	go func() { pw.Write(mp4Head); pw.Close() }()
	resp = postReq(t, f.ts.URL+"/api/upload?name=big.mp4", pr, nil)
	if msg := readErr(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "upload limit") {
		t.Errorf("streamed oversize: %d %q", resp.StatusCode, msg)
	}
	if entries, _ := os.ReadDir(f.srcDir); len(entries) != 0 {
		t.Errorf("an oversize upload left %d files", len(entries))
	}
	if st, _ := f.q.Stats(context.Background()); st.Visible != 0 {
		t.Errorf("an oversize upload sent a job")
	}
}

func TestUploadsOffWithoutSources(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Sources = "" })
	resp := postReq(t, f.ts.URL+"/api/upload?name=a.mp4", bytes.NewReader(mp4Head), nil)
	if msg := readErr(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "uploads are off") {
		t.Errorf("upload without sources: %d %q", resp.StatusCode, msg)
	}
	if f.s.hub.state().Info.Uploads {
		t.Error("info says uploads are on")
	}
}

// rawGet sends path exactly as given (no client-side cleaning).
func rawGet(t *testing.T, addr, path, host string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMediaServesOutputsAndRefusesTraversal(t *testing.T) {
	f := newFixture(t, nil)
	secret := "TOP-SECRET-" + randHex()
	parent := filepath.Dir(f.out)
	_ = os.WriteFile(filepath.Join(parent, "secret.txt"), []byte(secret), 0o644)
	_ = os.MkdirAll(filepath.Join(f.out, "clip", "720p"), 0o755)
	_ = os.WriteFile(filepath.Join(f.out, "clip", "master.m3u8"), []byte("#EXTM3U\n"), 0o644)
	_ = os.WriteFile(filepath.Join(f.out, "clip", "720p", "00000.ts"), bytes.Repeat([]byte{0x47}, 1880), 0o644)
	_ = os.MkdirAll(filepath.Join(f.out, ".hlsfleet-staging-1"), 0o755)
	_ = os.WriteFile(filepath.Join(f.out, ".hlsfleet-staging-1", "x.ts"), []byte(secret), 0o644)
	if err := os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(f.out, "clip", "link.ts")); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(f.ts.URL, "http://")

	resp, err := http.Get(f.ts.URL + "/media/clip/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" || string(body) != "#EXTM3U\n" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("master: %d %q %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), body)
	}
	req, _ := http.NewRequest("GET", f.ts.URL+"/media/clip/720p/00000.ts", nil)
	req.Header.Set("Range", "bytes=188-375")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(body) != 188 || resp.Header.Get("Content-Type") != "video/mp2t" {
		t.Errorf("range: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}

	for _, p := range []string{
		"/media/../secret.txt",
		"/media/..%2fsecret.txt",
		"/media/%2e%2e/secret.txt",
		"/media/clip/..%2f..%2fsecret.txt",
		"/media/clip/%2e%2e/%2e%2e/secret.txt",
		"/media/clip/..%5c..%5csecret.txt",
		"/media//etc/passwd",
		"/media/%2fetc%2fpasswd",
		"/media/.hlsfleet-staging-1/x.ts",
		"/media/clip/link.ts",
		"/media/clip/%00",
		"/static/../dashboard.go",
		"/static/..%2fdashboard.go",
	} {
		code, body := rawGet(t, addr, p, addr)
		if code == http.StatusOK || strings.Contains(body, secret) || strings.Contains(body, "root:") || strings.Contains(body, "package dashboard") {
			t.Errorf("GET %s: status %d, body %.80q", p, code, body)
		}
	}

	// DNS rebinding: a foreign Host name is refused.
	if code, _ := rawGet(t, addr, "/api/state", "attacker.example:80"); code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: status %d, want 421", code)
	}
	if code, _ := rawGet(t, addr, "/api/state", "localhost:8080"); code != http.StatusOK {
		t.Errorf("localhost Host: status %d, want 200", code)
	}
}

func randHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestIndexAndStatic(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := http.Get(f.ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`id="jobs"`)) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("index: %d %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	resp, err = http.Get(f.ts.URL + "/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("EventSource")) {
		t.Fatalf("app.js: %d", resp.StatusCode)
	}
	for _, p := range []string{"/static/", "/static/vendor/"} {
		resp, err := http.Get(f.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404 (no listings)", p, resp.StatusCode)
		}
	}
}

func TestSniffMedia(t *testing.T) {
	ts := make([]byte, 376)
	ts[0], ts[188] = 0x47, 0x47
	for _, c := range []struct {
		head []byte
		want string
	}{
		{mp4Head, "mp4"},
		{[]byte("\x00\x00\x00\x08wide\x00\x00"), "mov"},
		{[]byte("\x1a\x45\xdf\xa3\x01\x00"), "matroska"},
		{ts, "mpegts"},
		{[]byte("RIFF\x00\x00\x00\x00AVI LIST"), "riff"},
		{[]byte("FLV\x01"), "flv"},
		{[]byte("ID3\x03\x00"), "mpeg audio"},
		{[]byte("<!doctype html><html>"), ""},
		{[]byte("\x89PNG\r\n\x1a\n"), ""},
		{[]byte("PK\x03\x04"), ""},
		{[]byte("hello"), ""},
	} {
		if got := SniffMedia(c.head); got != c.want {
			t.Errorf("SniffMedia(%.12q) = %q, want %q", c.head, got, c.want)
		}
	}
}

// A page that stops reading never holds a job up: its stream is dropped once
// it falls subscriberBuffer events behind, and JobEvent returns at once.
func TestSlowStreamDoesNotBlockEvents(t *testing.T) {
	f := newFixture(t, nil)
	ch, _ := f.s.hub.subscribe()
	j := job.New("file:///src/a.mp4", "file://"+f.out+"/a")
	done := make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		for i := range subscriberBuffer * 3 {
			f.s.JobEvent(job.StateChange{Type: job.EventProgress, Time: t0.Add(time.Duration(i) * time.Millisecond), Job: j,
				Status: job.Status{JobID: j.ID, State: job.StateRunning, Progress: float64(i) / 10, UpdatedAt: t0.Add(time.Duration(i) * time.Millisecond)}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("JobEvent blocked on a stream that does not read")
	}
	n := 0
	for range ch { // closed after the buffer filled
		n++
	}
	if n != subscriberBuffer {
		t.Fatalf("the slow stream got %d events before it was dropped, want %d", n, subscriberBuffer)
	}
}

// Live-segment jobs are the stream's business (the live table), not rows of
// the job list: their events and queued notices add no job.
func TestLiveSegmentJobsStayOffTheJobList(t *testing.T) {
	f := newFixture(t, nil)
	seg := job.New("file:///src/live/cam1/7.ts", "file://"+f.out+"/live/cam1", job.WithKind(job.KindLiveSegment))
	vod := job.New("file:///src/a.mp4", "file://"+f.out+"/clip")
	now := time.Now()
	f.s.Queued(seg)
	f.s.JobEvent(job.StateChange{Type: job.EventPublished, Time: now, Job: seg,
		Status: job.Status{JobID: seg.ID, State: job.StatePublished, UpdatedAt: now}})
	f.s.Queued(vod)
	if _, ok := f.s.hub.job(seg.ID); ok {
		t.Error("a live-segment job is in the job list")
	}
	if v, ok := f.s.hub.job(vod.ID); !ok || v.State != job.StateQueued {
		t.Errorf("the VOD job: %+v, %v; want it queued", v, ok)
	}
}

// A chunked job is one row (issue H): the scan of its job.json and the
// worker's events (the parent's) both show its figures, counted for the
// row: "chunks: 7/30 done, 3 running on 2 workers".
func TestChunkedJobIsOneRow(t *testing.T) {
	now := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	f := newFixture(t, func(c *Config) { c.Now = func() time.Time { return now } })
	figures := &job.ChunkStatus{Total: 30, Done: 7, Running: map[string]int{"w1-10": 2, "w2-20": 1},
		Active: map[string]job.ChunkProgress{
			"7": {Worker: "w1-10", State: job.StateRunning, Percent: 40}, "8": {Worker: "w1-10", State: job.StateRunning, Percent: 10},
			"9": {Worker: "w2-20", State: job.StateRunning, Percent: 90}, "10": {Worker: "w2-20", State: job.StateRetrying}}}
	writeStatus(t, filepath.Join(f.out, "movies", "long"), job.Status{JobID: "movie", State: job.StateRunning, Progress: 28.1,
		Worker: "w1-10", UpdatedAt: now, Chunks: figures}, nil)
	f.s.Scan(context.Background())
	st := f.s.hub.state()
	if len(st.Jobs) != 1 {
		t.Fatalf("jobs %+v, want the one chunked job", st.Jobs)
	}
	v := st.Jobs[0]
	want := ChunkView{Total: 30, Done: 7, Running: 3, Workers: 2, Text: "chunks: 7/30 done, 3 running on 2 workers"}
	if v.ID != "movie" || v.Progress != 28.1 || v.Chunks == nil || *v.Chunks != want {
		t.Fatalf("row %+v (chunks %+v), want %+v", v, v.Chunks, want)
	}
	// A later event of one of its chunks (sent as the job's) moves the row.
	later := *figures
	later.Done, later.Running, later.Failed = 8, map[string]int{"w1-10": 1}, []job.ChunkFailure{{Index: 12, Reason: "corrupt"}}
	parent := job.New("file:///src/long.mp4", "file://"+f.out+"/movies/long", job.WithID("movie"))
	f.s.JobEvent(job.StateChange{Type: job.EventFailed, Time: now.Add(time.Second), Job: parent,
		Status: job.Status{JobID: "movie", State: job.StateFailed, Error: "chunk 12 of 30: corrupt", UpdatedAt: now.Add(time.Second), Chunks: &later}})
	v, _ = f.s.hub.job("movie")
	if v.State != job.StateFailed || v.Chunks == nil || v.Chunks.Text != "chunks: 8/30 done, 1 running on 1 worker, 1 failed" {
		t.Errorf("after the failed event: %+v (chunks %+v)", v, v.Chunks)
	}
}
