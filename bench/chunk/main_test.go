package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
)

// TestRunOneSingle runs the harness's plumbing for real on a tiny source:
// a fresh `hlsfleet local`, the job sent to its queue, job.json followed to
// published, the process stopped and its rusage read, its log parsed. The
// --chunk-seconds flag is left out, so it runs on a binary without
// chunking too. The binary is $HLSFLEET_BIN, else built here.
func TestRunOneSingle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hlsfleet and transcodes")
	}
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	bin := os.Getenv("HLSFLEET_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "hlsfleet")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/hlsfleet")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	src := testmedia.Generate(t, testmedia.Spec{Width: 320, Height: 180, Duration: 3})
	b := &bench{c: config{timeout: 2 * time.Minute}, bin: bin, base: t.TempDir(), src: src}
	r, err := b.runOne("single", 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if r.status.State != job.StatePublished || r.wall <= 0 || r.wall > time.Minute || r.cpu <= 0 {
		t.Errorf("state %q, wall %v, CPU %v", r.status.State, r.wall, r.cpu)
	}
	if _, err := os.Stat(filepath.Join(r.out, job.MasterName)); err != nil {
		t.Error(err)
	}
	p, chunks := split(r.jobs, r.jobID)
	if len(chunks) != 0 {
		t.Errorf("%d chunk jobs in a single pass", len(chunks))
	}
	if p == nil || !p.receivedSeen || !p.startedSeen || !p.ackedSeen || !p.endedByWall || p.wall <= 0 || len(r.jobs) != 1 {
		t.Fatalf("the job's log: %+v (%d jobs)", p, len(r.jobs))
	}
	if busy := p.seconds(); busy < p.wall || busy > r.wall.Seconds()+1 {
		t.Errorf("busy %.3f s, worker wall %.3f s, run wall %.3f s", busy, p.wall, r.wall.Seconds())
	}
	if err := r.wasChunked(3); err == nil {
		t.Error("a single pass taken for a chunked run")
	}
}
