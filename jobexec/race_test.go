package jobexec

import (
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/storage"
)

// s3Bucket makes a fresh bucket on the S3 peer (make test starts it) and
// returns its name; without the peer the test is skipped, or fails under
// HLSFLEET_REQUIRE_S3_PEER=1.
func s3Bucket(t *testing.T, prefix string) string {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal("S3 peer not configured (AWS_ENDPOINT_URL_S3) and HLSFLEET_REQUIRE_S3_PEER=1")
		}
		t.Skip("S3 peer not running: make test starts it (scripts/peers/s3.sh)")
	}
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: the test makes its source with it")
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// TestRacingAttemptsS3: two attempts of one job on the S3 peer, the second
// started while the first is mid-way. One publishes; the published master's
// bandwidths are what the bytes it reaches give, nothing it reaches changed
// after it, the loser's objects are gone, and the output is correct HLS. A
// dead attempt's leftovers (written after the publish) go at the next run,
// which finds the output published and names the attempt that published it.
func TestRacingAttemptsS3(t *testing.T) {
	bucket := s3Bucket(t, "race")
	ctx := context.Background()
	root, err := storage.Open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	clip := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 6, Name: "race"})
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.WriteAll(ctx, "src/race.mp4", data, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	j := job.New("s3://"+bucket+"/src/race.mp4", "s3://"+bucket+"/out/", job.WithSegmentSeconds(2))
	out, err := storage.Open(ctx, j.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	evs := raceTwoAttempts(t, j)
	var win, lose protocol.Event
	switch {
	case evs[0].Published && !evs[1].Published:
		win, lose = evs[0], evs[1]
	case evs[1].Published && !evs[0].Published:
		win, lose = evs[1], evs[0]
	default:
		t.Fatalf("done events %+v and %+v: want exactly one published", evs[0], evs[1])
	}
	if !attempt.IsID(win.AttemptID) || lose.AttemptID != win.AttemptID {
		t.Errorf("attempt ids: winner %q, loser reports %q: want the winner's id in both", win.AttemptID, lose.AttemptID)
	}
	master := checkPublishedBytes(t, ctx, out, win)
	checkOnlyAttempt(t, ctx, out, win.AttemptID)

	// A dead attempt's leftovers, written after the publish and its cleanup:
	// the next run finds the output published, cleans, and names the winner.
	dead := attempt.NewID()
	for _, k := range []string{"360p/" + dead + "/seg_00000.ts", dead + "/poster.jpg"} {
		if err := out.WriteAll(ctx, k, []byte("leftover"), storage.WriterOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := Exec(ctx, Config{Logger: zaptest.NewLogger(t)}, j, nil)
	if err != nil || ev.Published || ev.AttemptID != win.AttemptID {
		t.Errorf("a run on the published output: %+v, %v; want not published, attempt %s", ev, err, win.AttemptID)
	}
	checkOnlyAttempt(t, ctx, out, win.AttemptID)

	dir := t.TempDir()
	if err := out.DownloadAll(ctx, "", dir); err != nil {
		t.Fatal(err)
	}
	rep, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 6,
		ExpectAudio: true, ExpectVideo: true})
	if err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
	if rep != nil && len(rep.Renditions) != len(master.Variants) {
		t.Errorf("hlscheck saw %d renditions, the master names %d", len(rep.Renditions), len(master.Variants))
	}
}

// raceTwoAttempts runs j twice in this process: the second run starts once
// the first has transcoded 2 s of media, so both are mid-way when one
// publishes.
func raceTwoAttempts(t *testing.T, j *job.Job) [2]protocol.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		evs     [2]protocol.Event
		errs    [2]error
		wg      sync.WaitGroup
		started = make(chan struct{})
		once    sync.Once
	)
	run := func(i int, progress func(pipeline.Progress)) {
		defer wg.Done()
		cfg := Config{Logger: zaptest.NewLogger(t).Named(fmt.Sprint("run", i))}
		evs[i], errs[i] = Exec(ctx, cfg, j, progress)
	}
	wg.Add(2)
	go run(0, func(p pipeline.Progress) {
		if p.Seconds >= 2 {
			once.Do(func() { close(started) })
		}
	})
	go func() {
		select {
		case <-started:
		case <-time.After(time.Minute):
		}
		run(1, nil)
	}()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	return evs
}

// checkPublishedBytes asserts that the master reaches only the winner's
// objects, that its BANDWIDTH and AVERAGE-BANDWIDTH are what those objects'
// sizes give, and that none of them was modified after the master; it
// returns the master.
func checkPublishedBytes(t *testing.T, ctx context.Context, out *storage.Bucket, win protocol.Event) *hls.Master {
	t.Helper()
	objs, err := out.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]storage.Attrs{}
	for _, o := range objs {
		attrs[o.Key] = o
	}
	data, err := out.ReadAll(ctx, job.MasterName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hls.ParseMaster(data)
	if err != nil || len(m.Variants) == 0 {
		t.Fatalf("master: %v, %d variants", err, len(m.Variants))
	}
	mt := attrs[job.MasterName].ModTime
	reached := func(key string) storage.Attrs {
		a, ok := attrs[key]
		if !ok {
			t.Errorf("the master reaches %s, which is missing", key)
		} else if a.ModTime.After(mt) {
			t.Errorf("%s was modified at %v, after the master (%v)", key, a.ModTime, mt)
		}
		if attempt.Of(key) != win.AttemptID {
			t.Errorf("the master reaches %s, not in the winner's attempt folder %s", key, win.AttemptID)
		}
		return a
	}
	for i, v := range m.Variants {
		reached(v.URI)
		pl, err := out.ReadAll(ctx, v.URI)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := hls.ParseMedia(pl)
		if err != nil {
			t.Fatalf("%s: %v", v.URI, err)
		}
		sizes := make([]int64, len(mp.Segments))
		for k, s := range mp.Segments {
			sizes[k] = reached(path.Join(path.Dir(v.URI), s.URI)).Size
		}
		peak, _ := hls.PeakBitrate(mp.Segments, sizes)
		avg := hls.AverageBitrate(mp.Segments, sizes)
		if v.Bandwidth != int64(math.Ceil(peak)) || v.AverageBandwidth != int64(math.Ceil(avg)) {
			t.Errorf("variant %d (%s): BANDWIDTH %d AVERAGE-BANDWIDTH %d, the stored segments give %d and %d",
				i, v.URI, v.Bandwidth, v.AverageBandwidth, int64(math.Ceil(peak)), int64(math.Ceil(avg)))
		}
		if i >= len(win.Playlists) || win.Playlists[i] != v.URI {
			t.Errorf("variant %d is %s; the done event's playlists are %v", i, v.URI, win.Playlists)
		}
	}
	for _, n := range []string{win.Poster, win.Storyboard} {
		if n == "" || attempt.Of(n) != win.AttemptID || attrs[n].Key == "" {
			t.Errorf("the done event names %q: want a stored object in the winner's attempt folder", n)
		}
	}
	return m
}

// checkOnlyAttempt asserts that every object in an attempt folder is id's.
func checkOnlyAttempt(t *testing.T, ctx context.Context, out *storage.Bucket, id string) {
	t.Helper()
	objs, err := out.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, o := range objs {
		if a := attempt.Of(o.Key); a != "" && a != id {
			others = append(others, o.Key)
		}
	}
	if len(others) > 0 {
		t.Errorf("objects of other attempts are left: %s", strings.Join(others, " "))
	}
}
