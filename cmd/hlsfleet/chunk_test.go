package main

// Issue H end to end: long uploads split into chunk jobs across real
// workers, on the local queue and on the SQS + S3 peers, compared with a
// single pass of the same source by internal/chunkcheck (segments, frames,
// per-frame timestamps, IDRs, audio samples and joins, TS continuity).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/chunkcheck"
	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/imdsmock"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/chunks"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// chunkLadder is the preset the chunked tests use (3 rungs, 720p top).
const chunkLadder = "live"

func needChunkMedia(t *testing.T) {
	t.Helper()
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: the chunked-job tests need it to make their sources")
	}
}

// singlePass transcodes src in one pass with the chunked jobs' ladder.
func singlePass(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "single")
	runCLIOK(t, nil, "transcode", "--ladder", chunkLadder, src, dir)
	return dir
}

// compareWithSinglePass checks a published chunked output in dir against
// a single pass of src, and with hlscheck.
func compareWithSinglePass(t *testing.T, src, dir string) {
	t.Helper()
	rep, err := chunkcheck.Compare(singlePass(t, src), dir)
	if err != nil {
		t.Fatalf("comparing with the single pass: %v", err)
	}
	t.Logf("chunked vs single pass:\n%s", rep.String())
	if err := rep.Err(); err != nil {
		t.Errorf("the chunked output differs from the single pass: %v", err)
	}
	if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 1280, SourceHeight: 720, SourceDuration: 180,
		ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("the chunked output fails the HLS checks: %v", err)
	}
}

// chunkStarts returns, per chunk index, the times its runs started, from
// the workers' JSON log lines ("chunk started").
func chunkStarts(t *testing.T, logs ...string) map[int][]time.Time {
	t.Helper()
	starts := map[int][]time.Time{}
	for _, l := range logs {
		for _, e := range logEntries(l) {
			if e["msg"] != "chunk started" {
				continue
			}
			i, ok := e["chunk"].(float64)
			if !ok {
				t.Fatalf("a chunk started line without its index: %v", e)
			}
			ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", fmt.Sprint(e["ts"]))
			if err != nil {
				t.Fatalf("log time %v: %v", e["ts"], err)
			}
			starts[int(i)] = append(starts[int(i)], ts)
		}
	}
	for _, ts := range starts {
		slices.SortFunc(ts, time.Time.Compare)
	}
	return starts
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitPublished waits for j's job.json to say published (failing fast on
// failed) and returns it.
func waitPublished(t *testing.T, e fleetEnv, j *job.Job, d time.Duration) job.Status {
	t.Helper()
	var st job.Status
	waitFor(t, d, "the chunked job to be published", func() bool {
		var ok bool
		st, ok = readStatus(context.Background(), e, j)
		if ok && st.State == job.StateFailed {
			t.Fatalf("the chunked job failed: %s", st.Error)
		}
		return ok && st.State == job.StatePublished
	})
	if st.Chunks == nil || st.Chunks.Total != 3 || st.Chunks.Done != 3 {
		t.Errorf("job.json chunks %+v: want 3 of 3 done", st.Chunks)
	}
	return st
}

// submitToLocal starts `hlsfleet local` with workers workers and 60 s
// chunks, and sends it one job of src with the chunked tests' ladder. It
// returns the process, its queue folder and the job.
func submitToLocal(t *testing.T, src string, workers int) (*proc, string, *job.Job) {
	t.Helper()
	data := t.TempDir()
	local := startHLSFleet(t, nil, "local", "--data", filepath.Join(data, "fleet"), "--workers", strconv.Itoa(workers),
		"--metrics-addr", "", "--http", "", "--chunk-seconds", "60")
	qdir := filepath.Join(data, "fleet", "queue")
	waitFor(t, 20*time.Second, "the local queue to exist", func() bool {
		_, err := os.Stat(qdir)
		return err == nil
	})
	q, err := queue.Open(context.Background(), "local://"+qdir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	j := job.New("file://"+src, "file://"+filepath.Join(data, "out"), job.WithLadder(chunkLadder))
	if _, err := queue.SendJob(context.Background(), q, j); err != nil {
		t.Fatal(err)
	}
	return local, qdir, j
}

// TestChunkedLocal: a 3-minute 29.97 fps 720p source through `hlsfleet
// local --workers 3` is planned into 3 chunk jobs, each run once, and the
// stitched output is what a single pass makes.
func TestChunkedLocal(t *testing.T) {
	needChunkMedia(t)
	src := testmedia.ChunkSource(t, testmedia.ChunkNTSC)
	local, _, j := submitToLocal(t, src, 3)
	out := strings.TrimPrefix(j.Output, "file://")
	ctx := context.Background()
	e := fleetEnv{open: storage.Open}
	sawRunning := 0
	waitFor(t, 8*time.Minute, "the chunked job to be published", func() bool {
		st, ok := readStatus(ctx, e, j)
		if ok && st.Chunks != nil {
			n := 0
			for _, c := range st.Chunks.Running {
				n += c
			}
			sawRunning = max(sawRunning, n)
		}
		return ok && (st.State == job.StatePublished || st.State == job.StateFailed)
	})
	st := waitPublished(t, e, j, time.Second)
	if sawRunning < 2 {
		t.Errorf("job.json never showed more than %d chunks running at once with 3 workers", sawRunning)
	}
	starts := chunkStarts(t, local.output())
	for i := range 3 {
		if len(starts[i]) != 1 {
			t.Errorf("chunk %d ran %d times, want once", i, len(starts[i]))
		}
	}
	t.Logf("published: %.1f s of media, %d renditions, chunks %+v", st.Duration, st.Renditions, st.Chunks)
	compareWithSinglePass(t, src, out)
}

// TestChunkedSQSKilledWorker: a VFR source through 3 workers on the SQS and
// S3 peers with the default lease; the worker running chunk 1 is killed
// with SIGKILL mid-chunk. The job is published whole, only chunk 1 runs
// twice, and another worker picks it up within 60 s of the kill.
func TestChunkedSQSKilledWorker(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		t.Skip("SQS and S3 peers not running: make test starts them (scripts/test.sh)")
	}
	needChunkMedia(t)
	src := testmedia.ChunkSource(t, testmedia.ChunkVFR)
	ctx := context.Background()
	bucket, qurl, _ := sqsS3Fixture(t, "chunked", 5)
	root, err := storage.Open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.WriteAll(ctx, "src/long.mkv", body, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	var workers []*proc
	for range 3 {
		workers = append(workers, startHLSFleet(t, nil, "worker", "--queue", qurl, "--metrics-addr", "",
			"--concurrency", "1", "--chunk-seconds", "60"))
	}
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	j := job.New("s3://"+bucket+"/src/long.mkv", "s3://"+bucket+"/out/long", job.WithLadder(chunkLadder))
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		t.Fatal(err)
	}
	e := fleetEnv{open: storage.Open}
	victim, killed := killChunkRunner(t, e, j, workers, 1)
	st := waitPublished(t, e, j, 8*time.Minute)
	var logs []string
	for _, w := range workers {
		logs = append(logs, w.output())
	}
	starts := chunkStarts(t, logs...)
	for i := range 3 {
		want := 1
		if i == 1 {
			want = 2
		}
		if len(starts[i]) != want {
			t.Errorf("chunk %d ran %d times, want %d (only the killed chunk is redone)", i, len(starts[i]), want)
		}
	}
	if redo := starts[1]; len(redo) == 2 {
		pickup := redo[1].Sub(killed)
		t.Logf("chunk 1 (worker pid %d killed) picked up again %.1f s after the kill", victim, pickup.Seconds())
		if pickup > 60*time.Second {
			t.Errorf("chunk 1 was picked up %.1f s after the kill, want within 60 s", pickup.Seconds())
		}
	}
	t.Logf("published: %.1f s of media, chunks %+v", st.Duration, st.Chunks)
	outB, err := storage.Open(ctx, j.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer outB.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if err := outB.DownloadAll(ctx, "", dir); err != nil {
		t.Fatal(err)
	}
	compareWithSinglePass(t, src, dir)
}

// killChunkRunner waits until chunk i runs on one of workers and is
// partly done, kills that worker with SIGKILL and returns its pid and when.
func killChunkRunner(t *testing.T, e fleetEnv, j *job.Job, workers []*proc, i int) (int, time.Time) {
	t.Helper()
	var victim *proc
	waitFor(t, 4*time.Minute, fmt.Sprintf("chunk %d to be a quarter done", i), func() bool {
		st, ok := readStatus(context.Background(), e, j)
		if !ok || st.Chunks == nil {
			return false
		}
		a, ok := st.Chunks.Active[strconv.Itoa(i)]
		if !ok || a.State != job.StateRunning || a.Percent < 25 {
			return false
		}
		for _, w := range workers {
			if strings.HasSuffix(a.Worker, fmt.Sprintf("-%d", w.cmd.Process.Pid)) {
				victim = w
			}
		}
		return victim != nil
	})
	pid := victim.cmd.Process.Pid
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	victim.err <- <-victim.err // for the cleanup
	return pid, killed
}

// TestChunkedSpotNotice: a spot interruption notice mid-job releases only
// the chunk that runs; the chunks finished before it are kept (the
// published playlists reach their segments) and never run again.
func TestChunkedSpotNotice(t *testing.T) {
	needChunkMedia(t)
	clip := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 40, Name: "spot"})
	ctx := context.Background()
	data := t.TempDir()
	qurl := "local://" + filepath.Join(data, "queue")
	out := filepath.Join(data, "out")
	j := job.New("file://"+clip, "file://"+out, job.WithSegmentSeconds(2), job.WithChunkSeconds(10))
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		t.Fatal(err)
	}
	args := []string{"worker", "--queue", qurl, "--metrics-addr", "", "--concurrency", "1", "--lifecycle-poll", "200ms"}
	first, spot := startWithSpotNotice(t, args)
	e := fleetEnv{open: storage.Open}
	waitFor(t, 3*time.Minute, "a chunk done and the next one running", func() bool {
		st, ok := readStatus(ctx, e, j)
		return ok && st.Chunks != nil && st.Chunks.Done >= 1 && len(st.Chunks.Running) > 0
	})
	spot()
	select {
	case err := <-first.err:
		first.err <- err
	case <-time.After(15 * time.Second):
		t.Fatal("the interrupted worker did not exit within 15 s of the notice")
	}
	kept := doneChunks(t, out)
	if len(kept) == 0 || len(kept) == 4 {
		t.Fatalf("chunks done at the notice: %v; want some but not all", kept)
	}
	second := startHLSFleet(t, nil, args[:len(args)-2]...)
	waitFor(t, 3*time.Minute, "the job to be published by the second worker", func() bool {
		st, ok := readStatus(ctx, e, j)
		return ok && st.State == job.StatePublished
	})
	if after := doneChunks(t, out); len(after) != 4 {
		t.Fatalf("chunks done after the publish: %v", after)
	}
	starts := chunkStarts(t, second.output())
	reached := reachedAttempts(t, out)
	for i, att := range kept {
		if len(starts[i]) != 0 {
			t.Errorf("chunk %d, done before the notice, ran again on the second worker", i)
		}
		if !reached[att] {
			t.Errorf("chunk %d's attempt %s (done before the notice) is not what the published playlists reach (%v)", i, att, reached)
		}
	}
}

// startWithSpotNotice starts a worker watching a metadata mock that says
// the instance is in service; spot() switches it to a spot interruption
// notice 20 s ahead (less than the worker's margin: it must leave).
func startWithSpotNotice(t *testing.T, args []string) (*proc, func()) {
	t.Helper()
	imdsmock.Binary(t) // skip (or fail under scripts/test.sh) before the slow part
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	endpoint, stopInService := imdsmock.StartAt(t, port, "asglifecycle", "--asg-termination-delay-sec", "3600")
	p := startHLSFleet(t, []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + endpoint}, args...)
	return p, func() {
		stopInService()
		imdsmock.StartAt(t, port, "spot", "-t", time.Now().UTC().Add(20*time.Second).Format(time.RFC3339))
	}
}

// doneChunks reads chunks.json in the output folder dir: the attempt of
// every chunk done, by index.
func doneChunks(t *testing.T, dir string) map[int]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, chunks.Name))
	if err != nil {
		t.Fatal(err)
	}
	var d chunks.Doc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	done := map[int]string{}
	for _, c := range d.Chunks {
		if c.State == chunks.Done {
			done[c.Index] = c.Attempt
		}
	}
	return done
}

// reachedAttempts is the set of attempt folders the published media
// playlists in dir reach.
func reachedAttempts(t *testing.T, dir string) map[string]bool {
	t.Helper()
	m, err := hls.ParseMaster(mustRead(t, filepath.Join(dir, job.MasterName)))
	if err != nil {
		t.Fatal(err)
	}
	reached := map[string]bool{}
	for _, v := range m.Variants {
		mp, err := hls.ParseMedia(mustRead(t, filepath.Join(dir, v.URI)))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range mp.Segments {
			seg := filepath.Clean(filepath.Join(filepath.Dir(v.URI), s.URI))
			reached[filepath.Base(filepath.Dir(seg))] = true
		}
	}
	return reached
}

// TestChunkedCorruptRegion: a source whose middle minute does not decode
// fails the chunk over it for good: the job fails with that chunk's
// reason, no master is published, and the chunk's message is the one
// dead letter.
func TestChunkedCorruptRegion(t *testing.T) {
	needChunkMedia(t)
	src := testmedia.ChunkCorruptSource(t)
	_, qdir, j := submitToLocal(t, src, 2)
	out := strings.TrimPrefix(j.Output, "file://")
	ctx := context.Background()
	e := fleetEnv{open: storage.Open}
	var st job.Status
	waitFor(t, 6*time.Minute, "the chunked job to fail", func() bool {
		var ok bool
		st, ok = readStatus(ctx, e, j)
		return ok && (st.State == job.StateFailed || st.State == job.StatePublished)
	})
	if st.State != job.StateFailed || !strings.Contains(st.Error, "chunk 1 of 3") || !strings.Contains(st.Error, "corrupt") {
		t.Fatalf("job.json %s: %q; want failed with chunk 1's corrupt-input reason", st.State, st.Error)
	}
	if _, err := os.Stat(filepath.Join(out, job.MasterName)); !os.IsNotExist(err) {
		t.Errorf("a master was published for a job that failed: %v", err)
	}
	lq, err := queue.OpenLocal(qdir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lq.Close()
	dls, err := lq.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || !strings.Contains(string(dls[0].Body), `"index":1`) || !strings.Contains(dls[0].Reason, "corrupt") {
		t.Fatalf("dead letters %+v: want chunk 1's message with its reason", dls)
	}
}
