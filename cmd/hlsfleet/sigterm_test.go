package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// logEntries parses the JSON log lines of a process's output.
func logEntries(out string) []map[string]any {
	var entries []map[string]any
	for _, line := range strings.Split(out, "\n") {
		var e map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil {
			entries = append(entries, e)
		}
	}
	return entries
}

// actorsLogged lists the actors of the entries with message msg, in order.
func actorsLogged(entries []map[string]any, msg string) []string {
	var names []string
	for _, e := range entries {
		if e["msg"] == msg {
			names = append(names, fmt.Sprint(e["actor"]))
		}
	}
	return names
}

// stopBySIGTERM starts hlsfleet with args, waits until every line of want
// is in its output, sends SIGTERM and waits for a clean exit; it returns the
// parsed log.
func stopBySIGTERM(t *testing.T, want []string, args ...string) []map[string]any {
	t.Helper()
	p := startHLSFleet(t, []string{"AWS_EC2_METADATA_DISABLED=true"}, args...)
	output := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.String()
	}
	waitFor(t, time.Minute, "every actor to start", func() bool {
		for _, w := range want {
			if !strings.Contains(output(), w) {
				return false
			}
		}
		return true
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.err:
		p.err <- err // for the cleanup
		if err != nil {
			t.Fatalf("hlsfleet %s exited with %v after SIGTERM, want 0", args[0], err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("hlsfleet %s did not exit within 30 s of SIGTERM", args[0])
	}
	entries := logEntries(output())
	started, stopped := actorsLogged(entries, "actor started"), actorsLogged(entries, "actor stopped")
	if len(started) == 0 || !sameSet(started, stopped) {
		t.Errorf("actors started %v, stopped %v: want every started actor stopped", started, stopped)
	}
	found := false
	for _, e := range entries {
		if e["msg"] == "every actor stopped" {
			found = true
			if fmt.Sprint(e["stop_order"]) != fmt.Sprint(stopped) {
				t.Errorf("stop_order %v, but the actors logged their stops as %v", e["stop_order"], stopped)
			}
		}
		if e["msg"] == "signal received: stopping" && e["signal"] != "terminated" {
			t.Errorf("signal logged as %v, want terminated", e["signal"])
		}
	}
	if !found {
		t.Error("the stop order is not logged")
	}
	if t.Failed() {
		t.Logf("output:\n%s", tail(output(), 6000))
	}
	return entries
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// SIGTERM stops a worker's actors in their stages: the worker drains, then
// the lifecycle controller stops, then the metrics; the process exits 0.
func TestWorkerSIGTERMStopsEveryActor(t *testing.T) {
	data := t.TempDir()
	entries := stopBySIGTERM(t, []string{`"msg":"metrics listening"`, `"msg":"worker started","worker"`, "lifecycle watcher off"},
		"worker", "--queue", "local://"+filepath.Join(data, "queue"), "--metrics-addr", "127.0.0.1:0", "--accel", "cpu")
	want := []string{"signals", "worker", "lifecycle controller", "metrics"}
	if got := actorsLogged(entries, "actor stopped"); !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
}

// SIGTERM stops every actor of `hlsfleet local`: the first stage (inbox
// watcher, dashboard, worker) together, the metrics last.
func TestLocalSIGTERMStopsEveryActor(t *testing.T) {
	data := t.TempDir()
	entries := stopBySIGTERM(t, []string{`"msg":"metrics listening"`, `"msg":"dashboard listening"`, `"msg":"worker started","worker"`},
		"local", "--data", data, "--http", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--accel", "cpu")
	got := actorsLogged(entries, "actor stopped")
	first := []string{"inbox watcher", "dashboard", "dashboard scanner", "worker"}
	if len(got) != 6 || got[0] != "signals" || !sameSet(got[1:5], first) || got[5] != "metrics" {
		t.Errorf("stop order %v: want signals, then %v in any order, then metrics", got, first)
	}
}

// An HTTP address in use fails the command (exit 1, the address in its last
// line) before any actor starts.
func TestListenerInUseReported(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--queue", "local://" + filepath.Join(data, "q1"), "--accel", "cpu", "--metrics-addr", addr}, "hlsfleet: metrics listener: listen tcp " + addr},
		{[]string{"local", "--data", filepath.Join(data, "l1"), "--accel", "cpu", "--metrics-addr", "", "--http", addr}, "hlsfleet: dashboard: listening on " + addr},
		{[]string{"local", "--data", filepath.Join(data, "l2"), "--accel", "cpu", "--http", "", "--metrics-addr", addr}, "hlsfleet: metrics listener: listen tcp " + addr},
		{[]string{"serve", data, "--addr", addr}, "hlsfleet: listening on " + addr},
	} {
		res := runCLI(t, []string{"AWS_EC2_METADATA_DISABLED=true"}, tc.args...)
		last := lastLine(res.stderr)
		if res.code != exitOther || !strings.HasPrefix(last, tc.want) || !strings.Contains(last, "address already in use") {
			t.Errorf("hlsfleet %v: exit %d, last line %q; want exit 1 and %q ... address already in use", tc.args, res.code, last, tc.want)
		}
		if strings.Contains(res.stderr, "actor started") {
			t.Errorf("hlsfleet %v started actors before failing:\n%s", tc.args, res.stderr)
		}
	}
}

// The worker's two-stage stop: SIGTERM starts the drain (the running job
// may finish within --drain-timeout) while the metrics still serve; a second
// SIGTERM releases the job at once, and every actor stops.
func TestWorkerSecondSignalReleasesJob(t *testing.T) {
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH: this test needs it to make its source")
	}
	clip := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 30, Name: "drain"})
	ctx := context.Background()
	data := t.TempDir()
	qurl := "local://" + filepath.Join(data, "queue")
	j := job.New("file://"+clip, "file://"+filepath.Join(data, "out"), job.WithSegmentSeconds(2))
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		t.Fatal(err)
	}
	metrics := freePort(t)
	p := startHLSFleet(t, []string{"AWS_EC2_METADATA_DISABLED=true"}, "worker", "--queue", qurl, "--concurrency", "1",
		"--metrics-addr", metrics, "--drain-timeout", "5m", "--accel", "cpu")
	output := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.String()
	}
	e := fleetEnv{open: storage.Open}
	waitFor(t, 2*time.Minute, "the job to be mid-transcode", func() bool {
		st, ok := readStatus(ctx, e, j)
		return ok && st.State == job.StateRunning && st.Progress > 0 && st.Progress < 60
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the drain to start", func() bool { return strings.Contains(output(), "drain started") })
	// Draining: the process runs on and the metrics say it is not ready.
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-p.err:
		p.err <- err
		t.Fatalf("the worker exited on the first SIGTERM (%v) while its job had 5 minutes to finish", err)
	default:
	}
	if resp, err := http.Get("http://" + metrics + "/readyz"); err != nil {
		t.Errorf("the metrics do not serve while the worker drains: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/readyz is 200 while the worker drains")
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.err:
		p.err <- err
		if err != nil {
			t.Fatalf("the worker exited with %v after the second SIGTERM, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not exit within 20 s of the second SIGTERM")
	}
	out := output()
	for _, want := range []string{"second signal: releasing running jobs now", "forced stop", `"jobs_canceled":true`} {
		if !strings.Contains(out, want) {
			t.Errorf("the worker's log lacks %q", want)
		}
	}
	want := []string{"signals", "worker", "lifecycle controller", "metrics"}
	if got := actorsLogged(logEntries(out), "actor stopped"); !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
	if st, ok := readStatus(ctx, e, j); !ok || st.State != job.StateQueued {
		t.Errorf("status after the forced stop: %+v, want queued (released)", st)
	}
	if st, err := q.Stats(ctx); err != nil || st.Visible != 1 {
		t.Errorf("queue after the forced stop: %+v, %v; want the job visible again at once", st, err)
	}
	if t.Failed() {
		t.Logf("output:\n%s", tail(out, 6000))
	}
}
