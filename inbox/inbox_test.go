package inbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

func TestStableSizes(t *testing.T) {
	s := stableSizes{}
	for i, step := range []struct {
		key  string
		size int64
		want bool
	}{
		{"a", 0, false},  // first sight, even when empty
		{"a", 0, true},   // same size one scan later
		{"a", 0, true},   // still (the caller forgets a key it takes)
		{"b", 10, false}, // keys are apart
		{"b", 20, false}, // grew: wait again
		{"b", 20, true},
		{"b", 5, false}, // shrank (rewritten): wait again
		{"b", 5, true},
	} {
		if got := s.stable(step.key, step.size); got != step.want {
			t.Fatalf("step %d: stable(%q, %d) = %v, want %v", i, step.key, step.size, got, step.want)
		}
	}
}

func TestLiveSeq(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seq     int64
		end, ok bool
	}{
		{"0.ts", 0, false, true},
		{"42.m4s", 42, false, true},
		{"7.mp4", 7, false, true},
		{"END", 0, true, true},
		{"end", 0, false, false},
		{"END.ts", 0, false, false},
		{"-1.ts", 0, false, false},
		{"3.mov", 0, false, false},
		{"3", 0, false, false},
		{"3.ts.part", 0, false, false},
		{"x.ts", 0, false, false},
		{"notes.txt", 0, false, false},
	} {
		seq, end, ok := liveSeq(tc.name)
		if seq != tc.seq || end != tc.end || ok != tc.ok {
			t.Errorf("liveSeq(%q) = %d %v %v, want %d %v %v", tc.name, seq, end, ok, tc.seq, tc.end, tc.ok)
		}
	}
}

// sent is one message taken off the queue.
type sent struct {
	j     *job.Job
	group string
}

func openQueue(t *testing.T) *queue.Local {
	t.Helper()
	q, err := queue.OpenLocal(filepath.Join(t.TempDir(), "q"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// drain receives and acknowledges every message on q, in order.
func drain(t *testing.T, q queue.Queue) []sent {
	t.Helper()
	ctx := context.Background()
	var out []sent
	for {
		ms, err := q.Receive(ctx, 1, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		j, err := job.Parse(ms[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{j, ms[0].GroupID})
		if err := q.Ack(ctx, ms[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// seqs renders live jobs as "2 3 END".
func seqs(ss []sent) string {
	var got []string
	for _, s := range ss {
		if s.j.Live == nil {
			got = append(got, "vod")
		} else if s.j.Live.End {
			got = append(got, "END")
		} else {
			got = append(got, strconv.FormatInt(s.j.Live.Sequence, 10))
		}
	}
	return strings.Join(got, " ")
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	return Config{Dir: filepath.Join(dir, "inbox"), Sources: filepath.Join(dir, "sources"), Out: filepath.Join(dir, "out")}
}

// A file is taken once its size held for one scan: moved to Sources, its
// VOD job sent with the output OUT/<safe stem>, the listeners told in order.
func TestFileInbox(t *testing.T) {
	cfg := testConfig(t)
	cfg.Ladder = "mobile"
	write(t, filepath.Join(cfg.Dir, "my clip.mp4"), "aaaa")
	write(t, filepath.Join(cfg.Dir, ".upload.part"), "x") // dot names are not ready
	for _, d := range []string{filepath.Join(cfg.Dir, "folder"), cfg.Sources} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	q := openQueue(t)
	w := New(cfg)
	var told []string
	w.Notify(func(j *job.Job) { told = append(told, "events:"+j.ID) })
	w.Notify(func(j *job.Job) { told = append(told, "dashboard:"+j.ID) })
	ctx, log := context.Background(), zaptest.NewLogger(t)

	w.Scan(ctx, q, log) // size seen
	write(t, filepath.Join(cfg.Dir, "my clip.mp4"), "aaaaaaaa")
	w.Scan(ctx, q, log) // grew: waits
	if got := drain(t, q); len(got) != 0 {
		t.Fatalf("a growing file was submitted: %+v", got[0].j)
	}
	w.Scan(ctx, q, log) // stable: taken
	got := drain(t, q)
	if len(got) != 1 {
		t.Fatalf("%d jobs sent, want 1", len(got))
	}
	j := got[0].j
	src := filepath.Join(cfg.Sources, j.ID+"-my clip.mp4")
	if j.Source != "file://"+filepath.ToSlash(src) || j.Output != "file://"+filepath.ToSlash(filepath.Join(cfg.Out, "my_clip")) {
		t.Errorf("job source %s output %s", j.Source, j.Output)
	}
	if j.Kind != job.KindVOD || j.Ladder != "mobile" || got[0].group != "" {
		t.Errorf("job kind %q ladder %q group %q, want a VOD job with the ladder, no group", j.Kind, j.Ladder, got[0].group)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "aaaaaaaa" {
		t.Errorf("source %q %v, want the moved file", b, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "my clip.mp4")); !os.IsNotExist(err) {
		t.Errorf("the inbox still holds the file (%v)", err)
	}
	if want := "events:" + j.ID + " dashboard:" + j.ID; strings.Join(told, " ") != want {
		t.Errorf("told %v, want %s", told, want)
	}
	for _, name := range []string{".upload.part", "folder"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, name)); err != nil {
			t.Errorf("%s was taken: %v", name, err)
		}
	}
	w.Scan(ctx, q, log)
	if got := drain(t, q); len(got) != 0 {
		t.Fatalf("sent again: %+v", got[0].j)
	}
}

// A stream's segments go in sequence order once stable, a segment after one
// still growing waits for it, END goes only after every segment, and
// misnamed files stay where they are.
func TestLiveOrderAndEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.LiveWindow, cfg.LiveEvent = 4, true
	in := filepath.Join(cfg.Dir, "live", "cam")
	for _, n := range []string{"10.ts", "2.ts", "notes.txt", "END"} {
		write(t, filepath.Join(in, n), "data")
	}
	q := openQueue(t)
	w := NewLive(cfg)
	ctx, log := context.Background(), zaptest.NewLogger(t)
	w.Scan(ctx, q, log)                          // sizes seen
	write(t, filepath.Join(in, "3.ts"), "data")  // arrives late, before END is sent
	write(t, filepath.Join(in, "11.m4s"), "dat") // still growing
	w.Scan(ctx, q, log)                          // 2 goes; 10 waits for 3; END waits
	if got := seqs(drain(t, q)); got != "2" {
		t.Fatalf("second scan sent %q, want 2", got)
	}
	write(t, filepath.Join(in, "11.m4s"), "data")
	w.Scan(ctx, q, log) // 3, 10; 11 grew; END waits for it
	if got := seqs(drain(t, q)); got != "3 10" {
		t.Fatalf("third scan sent %q, want 3 10", got)
	}
	w.Scan(ctx, q, log) // 11; END still waits (a segment went this scan)
	w.Scan(ctx, q, log) // END
	got := drain(t, q)
	if s := seqs(got); s != "11 END" {
		t.Fatalf("then sent %q, want 11 END", s)
	}
	for _, s := range got {
		j := s.j
		if s.group != "cam" || j.Live.Stream != "cam" || j.Live.Window != 4 || !j.Live.Event ||
			j.Output != "file://"+filepath.ToSlash(filepath.Join(cfg.Out, "live", "cam")) {
			t.Errorf("job %+v live %+v group %q", j, j.Live, s.group)
		}
		name := "11.m4s"
		if j.Live.End {
			name = EndName
		}
		if want := "file://" + filepath.ToSlash(filepath.Join(cfg.Sources, "live", "cam", j.ID+"-"+name)); j.Source != want {
			t.Errorf("source %s, want %s", j.Source, want)
		}
	}
	if _, err := os.Stat(filepath.Join(in, "notes.txt")); err != nil {
		t.Fatalf("the misnamed file was moved: %v", err)
	}
	if left, _ := os.ReadDir(in); len(left) != 1 {
		t.Fatalf("the stream folder holds %d files, want only notes.txt", len(left))
	}
}

// END waits while any segment of its stream is unstable, even one that
// would otherwise wait behind another.
func TestLiveEndWaitsForArrivals(t *testing.T) {
	cfg := testConfig(t)
	in := filepath.Join(cfg.Dir, "live", "s")
	write(t, filepath.Join(in, "END"), "")
	q := openQueue(t)
	w := NewLive(cfg)
	ctx, log := context.Background(), zaptest.NewLogger(t)
	w.Scan(ctx, q, log)
	write(t, filepath.Join(in, "0.ts"), "x")
	w.Scan(ctx, q, log) // END stable but 0 is new
	if got := seqs(drain(t, q)); got != "" {
		t.Fatalf("sent %q while a segment was arriving", got)
	}
	w.Scan(ctx, q, log) // 0
	w.Scan(ctx, q, log) // END
	if got := seqs(drain(t, q)); got != "0 END" {
		t.Fatalf("sent %q, want 0 END", got)
	}
}

// Misnamed files are reported once per size, not every scan; folders that
// are not stream names, and files directly under live/, are passed over.
func TestLiveMisnamed(t *testing.T) {
	cfg := testConfig(t)
	live := filepath.Join(cfg.Dir, "live")
	write(t, filepath.Join(live, "cam", "a.ts"), "x")
	write(t, filepath.Join(live, ".hidden", "0.ts"), "x")
	write(t, filepath.Join(live, "stray.ts"), "x")
	q := openQueue(t)
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(core)
	w := NewLive(cfg)
	ctx := context.Background()
	for range 3 {
		w.Scan(ctx, q, log)
	}
	if n := logs.FilterMessageSnippet("not <sequence>").Len(); n != 1 {
		t.Fatalf("%d warnings for one misnamed file, want 1", n)
	}
	write(t, filepath.Join(live, "cam", "a.ts"), "xy")
	w.Scan(ctx, q, log)
	w.Scan(ctx, q, log)
	if n := logs.FilterMessageSnippet("not <sequence>").Len(); n != 2 {
		t.Fatalf("%d warnings after the file changed size, want 2", n)
	}
	if got := drain(t, q); len(got) != 0 {
		t.Fatalf("sent %q", seqs(got))
	}
	for _, p := range []string{filepath.Join("cam", "a.ts"), filepath.Join(".hidden", "0.ts"), "stray.ts"} {
		if _, err := os.Stat(filepath.Join(live, p)); err != nil {
			t.Errorf("%s was taken: %v", p, err)
		}
	}
}

// The live job's submission time is the segment file's modification time
// (the live latency metric counts from there).
func TestLiveSubmittedAt(t *testing.T) {
	cfg := testConfig(t)
	p := filepath.Join(cfg.Dir, "live", "cam", "5.ts")
	write(t, p, "x")
	mt := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t)
	w := NewLive(cfg)
	ctx, log := context.Background(), zaptest.NewLogger(t)
	w.Scan(ctx, q, log)
	w.Scan(ctx, q, log)
	got := drain(t, q)
	if len(got) != 1 || !got[0].j.SubmittedAt.Equal(mt) {
		t.Fatalf("got %d jobs, submitted at %v, want %v", len(got), got[0].j.SubmittedAt, mt)
	}
}

// Run scans the file and live inboxes every interval and returns when its
// context ends.
func TestRun(t *testing.T) {
	cfg := testConfig(t)
	cfg.Interval = 10 * time.Millisecond
	write(t, filepath.Join(cfg.Dir, "a.mp4"), "x")
	write(t, filepath.Join(cfg.Dir, "live", "cam", "0.ts"), "x")
	if err := os.MkdirAll(cfg.Sources, 0o755); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := New(cfg)
	go func() { w.Run(ctx, q, zaptest.NewLogger(t)); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	var got []sent
	for len(got) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = append(got, drain(t, q)...)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if s := seqs(got); s != "0 vod" {
		t.Fatalf("sent %q, want 0 vod (live first in a scan)", s)
	}
}
