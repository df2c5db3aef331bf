package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/imdsmock"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// TestWorkerSpotInterruptionHandsJobOver: a real `hlsfleet worker` on an
// "EC2 instance" (ec2-metadata-mock) transcodes a job when a spot
// interruption notice comes whose deadline leaves no time to finish: the
// worker stops receiving, releases the job at once and exits 0 well before
// the deadline; a second worker then publishes the job.
func TestWorkerSpotInterruptionHandsJobOver(t *testing.T) {
	imdsmock.Binary(t) // skip (or fail under scripts/test.sh) before the slow setup
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: this test needs it to make its source")
	}
	clip := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 40, Name: "spot"})
	ctx := context.Background()
	data := t.TempDir()
	qurl := "local://" + filepath.Join(data, "queue")
	out := filepath.Join(data, "out")
	j := job.New("file://"+clip, "file://"+out, job.WithSegmentSeconds(2))
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		t.Fatal(err)
	}

	// The instance is in service, no notice yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	endpoint, stopInService := imdsmock.StartAt(t, port, "asglifecycle", "--asg-termination-delay-sec", "3600")
	args := []string{"worker", "--queue", qurl, "--metrics-addr", "", "--concurrency", "1", "--lifecycle-poll", "200ms"}
	first := startHLSFleet(t, []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + endpoint}, args...)
	e := fleetEnv{open: storage.Open}
	waitFor(t, 2*time.Minute, "the job to be mid-transcode", func() bool {
		st, ok := readStatus(ctx, e, j)
		return ok && st.State == job.StateRunning && st.Progress > 0 && st.Progress < 50
	})

	// Spot interruption with 20 s left: less than the 30 s margin, so the
	// job cannot stay.
	deadline := time.Now().UTC().Add(20 * time.Second)
	stopInService()
	imdsmock.StartAt(t, port, "spot", "-t", deadline.Format(time.RFC3339))
	select {
	case err := <-first.err:
		first.err <- err // for the cleanup
		if err != nil {
			t.Fatalf("the interrupted worker exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the interrupted worker did not exit within 15 s of the notice")
	}
	if time.Now().After(deadline) {
		t.Fatal("the interrupted worker exited after the deadline")
	}
	first.mu.Lock()
	log := first.out.String()
	first.mu.Unlock()
	for _, want := range []string{"lifecycle watcher on", "spot interruption notice", `"decision":"release"`, j.ID} {
		if !strings.Contains(log, want) {
			t.Errorf("the interrupted worker's log lacks %q", want)
		}
	}
	if st, ok := readStatus(ctx, e, j); !ok || st.State != job.StateQueued {
		t.Fatalf("status after the interruption: %+v, want queued (released)", st)
	}
	if st, err := q.Stats(ctx); err != nil || st.Visible != 1 {
		t.Fatalf("queue after the interruption: %+v, %v; want the job visible at once", st, err)
	}

	// Another instance (off EC2 here) takes it over.
	second := startHLSFleet(t, []string{"AWS_EC2_METADATA_DISABLED=true"}, args...)
	waitFor(t, 3*time.Minute, "the second worker to publish the job", func() bool {
		st, ok := readStatus(ctx, e, j)
		return ok && st.State == job.StatePublished
	})
	if st, _ := readStatus(ctx, e, j); st.Attempt != 2 {
		t.Errorf("published on attempt %d, want 2", st.Attempt)
	}
	if _, err := os.Stat(filepath.Join(out, job.MasterName)); err != nil {
		t.Fatalf("no master after the hand-over: %v", err)
	}
	second.mu.Lock()
	defer second.mu.Unlock()
	if !strings.Contains(second.out.String(), "lifecycle watcher off") {
		t.Error("the worker without instance metadata did not say its lifecycle watcher is off")
	}
}
