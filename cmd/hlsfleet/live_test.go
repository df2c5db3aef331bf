package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/inbox"
	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/live"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// liveClip is the 20 s stream: 640x360 (two rungs of the default
// ladder: 360p, 240p), 30 fps, H.264 + AAC.
func liveClip(t *testing.T) string {
	t.Helper()
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: the live tests need it to make their source")
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not on PATH: the live tests use it as the oracle")
	}
	return testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 20, Name: "live"})
}

// runCLIOK runs hlsfleet to the end and fails the test on a non-zero exit.
func runCLIOK(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(cliBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hlsfleet %v: %v\n%s", args, err, tail(string(out), 3000))
	}
	return string(out)
}

// liveWant is what a finished stream's playlists must hold.
type liveWant struct {
	segments []int64 // sequence numbers in the VOD playlist, in order
	discAt   int64   // sequence number preceded by a discontinuity, -1 for none
	window   int
	duration float64 // of the source, for the VOD rendition
}

// checkLiveStream checks a finished stream through read (a key under the
// stream's output prefix → its bytes).
func checkLiveStream(t *testing.T, read func(key string) []byte, w liveWant) {
	t.Helper()
	m, err := hls.ParseMaster(read(live.MasterName))
	if err != nil {
		t.Fatalf("master: %v", err)
	}
	if len(m.Variants) != 2 || m.Variants[0].URI != "360p/index.m3u8" || m.Variants[1].URI != "240p/index.m3u8" {
		t.Fatalf("master variants %+v, want 360p and 240p", m.Variants)
	}
	for _, v := range m.Variants {
		if len(v.Codecs) != 2 || !strings.HasPrefix(v.Codecs[0], "avc1.") || v.Bandwidth <= 0 {
			t.Errorf("variant %s: codecs %v bandwidth %d", v.URI, v.Codecs, v.Bandwidth)
		}
		r := strings.TrimSuffix(v.URI, "/index.m3u8")
		lp, err := hls.ParseMedia(read(v.URI))
		if err != nil {
			t.Fatalf("%s: %v", v.URI, err)
		}
		if !lp.EndList || lp.Type != hls.Live {
			t.Errorf("%s: endlist %v type %q, want a live playlist with EXT-X-ENDLIST", v.URI, lp.EndList, lp.Type)
		}
		if want := int64(len(w.segments) - w.window); lp.MediaSequence != want || len(lp.Segments) != w.window {
			t.Errorf("%s: media sequence %d with %d segments, want %d with %d", v.URI, lp.MediaSequence, len(lp.Segments), want, w.window)
		}
		vp, err := hls.ParseMedia(read(r + "/" + live.VODName))
		if err != nil {
			t.Fatalf("%s VOD: %v", r, err)
		}
		if vp.Type != hls.VOD || !vp.EndList || len(vp.Segments) != len(w.segments) {
			t.Fatalf("%s VOD: type %q endlist %v, %d segments, want %d", r, vp.Type, vp.EndList, len(vp.Segments), len(w.segments))
		}
		var all bytes.Buffer
		var runs [][][]byte // the segments between discontinuities
		total := 0.0
		for i, s := range vp.Segments {
			if want := fmt.Sprintf("%d.ts", w.segments[i]); s.URI != want {
				t.Errorf("%s VOD segment %d is %s, want %s", r, i, s.URI, want)
			}
			if s.Discontinuity != (w.segments[i] == w.discAt) {
				t.Errorf("%s VOD segment %s: discontinuity %v", r, s.URI, s.Discontinuity)
			}
			total += s.Duration
			data := read(r + "/" + s.URI)
			all.Write(data)
			if i == 0 || s.Discontinuity {
				runs = append(runs, nil)
			}
			runs[len(runs)-1] = append(runs[len(runs)-1], data)
		}
		if d := total - w.duration; d < -1.0/30 || d > 1.0/30 {
			t.Errorf("%s: the VOD playlist lasts %.3f s, want %.3f within one frame", r, total, w.duration)
		}
		if w.discAt < 0 {
			checkConcatenation(t, r, all.Bytes(), w.duration)
			continue
		}
		// Across a discontinuity the counters may start afresh; within
		// each run they continue from segment to segment.
		for i, run := range runs {
			bad, err := testmedia.TSContinuityErrors(run...)
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			for _, line := range bad {
				t.Errorf("%s: run %d of the joined segments: %s", r, i, line)
			}
		}
	}
}

// checkVODWithHLSCheck runs the engine's HLS validator on the event's VOD
// presentation (vod.m3u8 as the master of a copy of the stream folder):
// keyframe alignment across renditions, EXTINF against the streams, CODECS,
// RESOLUTION and BANDWIDTH against the segments, durations.
func checkVODWithHLSCheck(t *testing.T, stream string, duration float64) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vod")
	if err := os.CopyFS(dir, os.DirFS(stream)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, live.VODName), filepath.Join(dir, live.MasterName)); err != nil {
		t.Fatal(err)
	}
	rep, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: duration,
		ExpectAudio: true, ExpectVideo: true})
	if err != nil {
		t.Fatalf("the event's VOD presentation fails validation: %v", err)
	}
	if len(rep.Renditions) != 2 {
		t.Fatalf("validated %d renditions, want 2", len(rep.Renditions))
	}
}

// checkConcatenation decodes a rendition's segments joined and compares its
// video span with the source's duration (within one frame).
func checkConcatenation(t *testing.T, r string, data []byte, duration float64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), r+".ts")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Errorf("%s: the rendition does not decode: %v\n%s", r, err, b)
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		t.Errorf("%s: decoding the joined segments: %s", r, tail(s, 2000))
	}
	// Each segment's counters run on from the previous one's (stream.json
	// carries them from job to job).
	bad, err := testmedia.TSContinuityErrors(data)
	if err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	for _, line := range bad {
		t.Errorf("%s: joined segments: %s", r, line)
	}
	pts, err := testmedia.VideoPTS(p)
	if err != nil || len(pts) == 0 {
		t.Fatalf("%s: video pts: %v", r, err)
	}
	span := pts[len(pts)-1] + 1.0/30 - pts[0]
	if d := span - duration; d < -1.0/30 || d > 1.0/30 {
		t.Errorf("%s: video spans %.4f s (%d frames), want %.3f within one frame", r, span, len(pts), duration)
	}
	if len(pts) != int(duration*30+0.5) {
		t.Errorf("%s: %d frames, want %d", r, len(pts), int(duration*30+0.5))
	}
}

// The local scenario: a 20 s stream pushed as 2 s segments into
// `hlsfleet local`'s live inbox, segment 4 poisoned: every playlist goes on
// past it with a discontinuity, ENDLIST after END, a VOD playlist of the
// event.
func TestLiveLocalPoisonedSegment(t *testing.T) {
	clip := liveClip(t)
	data := t.TempDir()
	staging := filepath.Join(data, "staging")
	runCLIOK(t, nil, "live", "push", "--stream", "cam1", "--no-pace", clip, staging)
	segDir := filepath.Join(staging, "live", "cam1")
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(segDir, fmt.Sprintf("%d.ts", i))); err != nil {
			t.Fatalf("live push wrote no segment %d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(segDir, "END")); err != nil {
		t.Fatalf("live push wrote no END: %v", err)
	}
	if err := os.WriteFile(filepath.Join(segDir, "4.ts"), bytes.Repeat([]byte("not a video "), 4000), 0o644); err != nil {
		t.Fatal(err)
	}
	inbox, out := filepath.Join(data, "in"), filepath.Join(data, "out")
	p := startHLSFleet(t, nil, "local", "--data", filepath.Join(data, "fleet"), "--inbox", inbox, "--out", out,
		"--metrics-addr", "", "--workers", "1")
	liveIn := filepath.Join(inbox, "live", "cam1")
	if err := os.MkdirAll(liveIn, 0o755); err != nil {
		t.Fatal(err)
	}
	// Segments arrive one by one, END last.
	for _, name := range []string{"0.ts", "1.ts", "2.ts", "3.ts", "4.ts", "5.ts", "6.ts", "7.ts", "8.ts", "9.ts", "END"} {
		if err := os.Rename(filepath.Join(segDir, name), filepath.Join(liveIn, name)); err != nil {
			t.Fatal(err)
		}
		if name == "9.ts" {
			waitFor(t, 60*time.Second, "segment 9 submitted", func() bool {
				_, err := os.Stat(filepath.Join(liveIn, name))
				return os.IsNotExist(err)
			})
		}
	}
	stream := filepath.Join(out, "live", "cam1")
	waitFor(t, 240*time.Second, "the stream's VOD playlist", func() bool {
		_, err := os.Stat(filepath.Join(stream, live.VODName))
		return err == nil
	})
	read := func(key string) []byte {
		b, err := os.ReadFile(filepath.Join(stream, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	checkLiveStream(t, read, liveWant{segments: []int64{0, 1, 2, 3, 5, 6, 7, 8, 9}, discAt: 5, window: 6, duration: 18})
	// Timestamps keep the 2 s hole at the skipped segment, so the streams
	// span 20 s: no duration check here (the EXTINF total was checked).
	checkVODWithHLSCheck(t, stream, 0)
	p.mu.Lock()
	log := p.out.String()
	p.mu.Unlock()
	if !strings.Contains(log, "live segment skipped") {
		t.Errorf("the local fleet logged no skipped segment")
	}
}

// The fleet scenario: live push uploads to S3 and sends each
// segment's job on an SQS FIFO queue (group = stream); two workers take
// them in order.
func TestLiveSQSFIFOAndS3(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" || os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal("SQS and S3 peers not running and HLSFLEET_REQUIRE_S3_PEER=1")
		}
		t.Skip("SQS and S3 peers not running: make test starts them (scripts/test.sh)")
	}
	clip := liveClip(t)
	ctx := context.Background()
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("live-%d", time.Now().UnixNano())
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, sc, name+".fifo", 4)
	if err != nil {
		t.Fatalf("creating FIFO queues: %v", err)
	}
	t.Cleanup(func() { _ = queue.DeleteSQSQueues(ctx, sc, qurl, dlqURL) })
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	args := []string{"worker", "--queue", qurl, "--dlq", dlqURL, "--concurrency", "1", "--metrics-addr", "", "--visibility", "60s"}
	startHLSFleet(t, nil, args...)
	startHLSFleet(t, nil, args...)
	output := "s3://" + name + "/hls/live/cam2"
	runCLIOK(t, nil, "live", "push", "--stream", "cam2", "--no-pace", "--queue", qurl, "--output", output, clip, "s3://"+name)
	b, err := storage.Open(ctx, output)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFor(t, 240*time.Second, "the stream's VOD playlist", func() bool {
		ok, _ := b.Exists(ctx, live.VODName)
		return ok
	})
	read := func(key string) []byte {
		data, err := b.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	checkLiveStream(t, read, liveWant{segments: []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, discAt: -1, window: 6, duration: 20})
	local := filepath.Join(t.TempDir(), "cam2")
	if err := b.DownloadAll(ctx, "", local); err != nil {
		t.Fatal(err)
	}
	checkVODWithHLSCheck(t, local, 20)
}

// The real paced mode, cheaply: a 3 s clip in 1 s segments cannot be pushed
// in less than its own duration.
func TestLivePushPaced(t *testing.T) {
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	clip := testmedia.Generate(t, testmedia.Spec{Width: 160, Height: 120, Duration: 3, Name: "paced"})
	dir := t.TempDir()
	start := time.Now()
	runCLIOK(t, nil, "live", "push", "--stream", "p", "--segment-seconds", "1", clip, dir)
	if el := time.Since(start); el < 2900*time.Millisecond {
		t.Fatalf("a paced push of 3 s took %v: faster than real time", el)
	}
	for i := 0; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(dir, "live", "p", strconv.Itoa(i)+".ts")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLivePushBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"live", "push", "in.mp4", "out"}, "--stream is required"},
		{[]string{"live", "push", "--stream", "../x", "in.mp4", "out"}, "--stream"},
		{[]string{"live", "push", "--stream", "s", "--segment-seconds", "0", "in.mp4", "out"}, "--segment-seconds"},
		{[]string{"live", "push", "--stream", "s", "--queue", "local:///tmp/q", "in.mp4", "out"}, "--queue and --output"},
		{[]string{"live", "pull"}, "usage"},
	} {
		cmd := exec.Command(cliBin, tc.args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("hlsfleet %v: %v\n%s\nwant exit 2 mentioning %q", tc.args, err, out, tc.want)
		}
	}
	cmd := exec.Command(cliBin, "live", "push", "--stream", "s", "--no-pace", "/nonexistent.mp4", t.TempDir())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("a missing input: %v\n%s, want exit 2", err, out)
	}
}

// Separate job processes racing on one stream's playlists (as with a
// standard queue, or a redelivery next to a slow worker) never lose a
// segment, and a redelivered segment is acknowledged without work.
func TestLiveJobExecRace(t *testing.T) {
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	clip := testmedia.Generate(t, testmedia.Spec{Width: 320, Height: 240, Duration: 6, Name: "race"})
	ingest := t.TempDir()
	runCLIOK(t, nil, "live", "push", "--stream", "r", "--segment-seconds", "1", "--no-pace", clip, ingest)
	out := filepath.Join(t.TempDir(), "out")
	execSeg := func(seq int64) (protocol.Event, error) {
		j := job.New(fmt.Sprintf("file://%s/live/r/%d.ts", ingest, seq), "file://"+out,
			job.WithLive("r", seq, false), job.WithLiveWindow(0, true), job.WithSegmentSeconds(1))
		body, err := j.Marshal()
		if err != nil {
			return protocol.Event{}, err
		}
		cmd := exec.Command(cliBin, "job-exec")
		cmd.Stdin = bytes.NewReader(body)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return protocol.Event{}, fmt.Errorf("segment %d: %v\n%s", seq, err, tail(stderr.String(), 2000))
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var ev protocol.Event
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "done" {
				return ev, nil
			}
		}
		return protocol.Event{}, fmt.Errorf("segment %d: no result", seq)
	}
	if _, err := execSeg(0); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for seq := int64(1); seq <= 5; seq++ {
		go func() {
			ev, err := execSeg(seq)
			if err == nil && !ev.Published {
				err = fmt.Errorf("segment %d not published", seq)
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p, err := hls.ParseMedia(mustRead(t, filepath.Join(out, "240p", live.PlaylistName)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Segments) != 6 || p.Type != hls.Event {
		t.Fatalf("EVENT playlist has %d segments, want 6", len(p.Segments))
	}
	for i, s := range p.Segments {
		if s.URI != fmt.Sprintf("%d.ts", i) || s.Discontinuity {
			t.Fatalf("segment %d is %+v", i, s)
		}
	}
	ev, err := execSeg(3)
	if err != nil || ev.Published {
		t.Fatalf("a redelivered segment: %+v %v, want done without publishing", ev, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// submit --live-stream sends a live-segment job in its stream's FIFO group.
func TestSubmitLiveJob(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "3.ts")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(dir, "q")
	runCLIOK(t, nil, "submit", "--queue", "local://"+qdir, "--live-stream", "cam", "--live-seq", "3", src, filepath.Join(dir, "out"))
	q, err := queue.OpenLocal(qdir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ms, err := q.Receive(context.Background(), 1, 0, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("receive: %d messages, %v", len(ms), err)
	}
	j, err := job.Parse(ms[0].Body)
	if err != nil || ms[0].GroupID != "cam" || j.Live == nil || j.Live.Sequence != 3 {
		t.Fatalf("message group %q job %+v %v", ms[0].GroupID, j, err)
	}
}

// The live inbox submits a stream's segments in sequence order once their
// size is stable, END only after them, and leaves misnamed files alone.
func TestLiveInboxOrder(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "inbox", "live", "cam")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(in, name), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"10.ts", "2.ts", "notes.txt", "END"} {
		write(n)
	}
	q, err := queue.OpenLocal(filepath.Join(dir, "q"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	w := inbox.NewLive(inbox.Config{Dir: filepath.Join(dir, "inbox"), Sources: filepath.Join(dir, "sources"), Out: filepath.Join(dir, "out"), LiveWindow: 4})
	log := zaptest.NewLogger(t)
	ctx := context.Background()
	w.Scan(ctx, q, log) // sizes seen
	write("3.ts")       // arrives late, before END is sent
	w.Scan(ctx, q, log) // 2 goes; 10 waits for 3; END waits
	w.Scan(ctx, q, log) // 3, 10
	w.Scan(ctx, q, log) // END
	var got []string
	for {
		ms, err := q.Receive(ctx, 1, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		j, err := job.Parse(ms[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		if ms[0].GroupID != "cam" || j.Live.Window != 4 || !strings.HasSuffix(j.Output, "/out/live/cam") {
			t.Fatalf("job %+v group %q", j, ms[0].GroupID)
		}
		if j.Live.End {
			got = append(got, "END")
		} else {
			got = append(got, strconv.FormatInt(j.Live.Sequence, 10))
		}
		if err := q.Ack(ctx, ms[0]); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, " ") != "2 3 10 END" {
		t.Fatalf("submitted %v, want 2 3 10 END", got)
	}
	if _, err := os.Stat(filepath.Join(in, "notes.txt")); err != nil {
		t.Fatalf("the misnamed file was moved: %v", err)
	}
}

// A live job asking for fMP4 segments fails permanently with a reason.
func TestLiveJobExecRefusesFMP4(t *testing.T) {
	dir := t.TempDir()
	j := job.New("file://"+dir+"/3.ts", "file://"+dir+"/out", job.WithLive("cam", 3, false), job.WithSegmentType(job.SegmentFMP4))
	body, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cliBin, "job-exec")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "MPEG-TS only") {
		t.Fatalf("job-exec: %v\n%s\nwant exit 2 saying MPEG-TS only", err, out)
	}
}
