package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
)

// probeHere runs `probe --accel --json` and says whether any device opened.
func probeHere(t *testing.T) (jobexec.AccelReport, bool) {
	t.Helper()
	r := runCLI(t, nil, "probe", "--accel", "--json")
	if r.code != 0 {
		t.Fatalf("probe --accel --json: exit %d\n%s", r.code, r.stderr)
	}
	var rep jobexec.AccelReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe --accel --json printed no JSON object: %v\n%s", err, r.stdout)
	}
	if rep.Caps == nil || len(rep.Devices) < 3 {
		t.Fatalf("probe --accel --json lists %d devices, want cuda, vaapi and qsv at least:\n%s", len(rep.Devices), r.stdout)
	}
	gpu := false
	for _, d := range rep.Devices {
		gpu = gpu || d.Opened
	}
	return rep, gpu
}

func TestCLIProbeAccel(t *testing.T) {
	rep, gpu := probeHere(t)
	human := runCLI(t, nil, "probe", "--accel")
	if human.code != 0 {
		t.Fatalf("probe --accel: exit %d\n%s", human.code, human.stderr)
	}
	if !strings.Contains(human.stdout, "--accel auto uses: "+string(rep.Auto)) {
		t.Errorf("probe --accel does not say what auto uses:\n%s", human.stdout)
	}
	if gpu {
		t.Logf("GPU found: %s", rep.Summary)
		return
	}
	if rep.Summary != "no GPU: only cpu path" || rep.Auto != pipeline.AccelCPU || rep.AutoPath != "cpu" {
		t.Errorf("without a GPU: summary %q, auto %q, path %q", rep.Summary, rep.Auto, rep.AutoPath)
	}
	for _, d := range rep.Devices {
		if !strings.Contains(human.stdout, d.Type) || !strings.Contains(human.stdout, "not available: "+d.Error) {
			t.Errorf("probe --accel does not explain the %s device (%q):\n%s", d.Type, d.Error, human.stdout)
		}
	}
	if bad := runCLI(t, nil, "probe", "--accel", "--session-cap", "0"); bad.code != exitInput {
		t.Errorf("--session-cap 0: exit %d, want %d", bad.code, exitInput)
	}
}

func TestCLITranscodeAccel(t *testing.T) {
	clip := needClip(t)
	_, gpu := probeHere(t)
	ladder := smallLadderFile(t)

	out := filepath.Join(t.TempDir(), "bogus")
	expectFailure(t, runCLI(t, nil, "transcode", "--accel", "gpu", "--ladder", ladder, clip, out), exitInput)
	expectNothingPublished(t, out)

	if !gpu {
		for _, a := range []string{"nvidia", "vaapi", "qsv"} {
			out := filepath.Join(t.TempDir(), a)
			r := runCLI(t, nil, "transcode", "--accel", a, "--ladder", ladder, clip, out)
			// Not the input's fault: exit 1, and one line that says which device is missing.
			expectFailure(t, r, exitOther)
			if l := lastLine(r.stderr); !strings.Contains(l, "accelerator not available: --accel "+a) {
				t.Errorf("--accel %s without a GPU: last line %q", a, l)
			}
			expectNothingPublished(t, out)
		}
	}

	out = filepath.Join(t.TempDir(), "auto")
	r := runCLI(t, nil, "transcode", "--accel", "auto", "--json", "--ladder", ladder, clip, out)
	if r.code != 0 {
		t.Fatalf("--accel auto: exit %d\n%s", r.code, r.stderr)
	}
	var res pipeline.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if res.Accel == nil {
		t.Fatal("--accel auto: the summary has no accel route")
	}
	if !gpu && res.Accel.Name != "cpu" {
		t.Errorf("--accel auto without a GPU took path %q, want cpu", res.Accel.Name)
	}
	if _, err := hlscheck.Check(out, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 3, ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("--accel auto output: %v", err)
	}
}

// A worker probes at start, says what it found in its log and /readyz,
// and with --fallback-queue takes work from the second queue when its own
// is idle.
func TestWorkerAccelAndFallbackQueue(t *testing.T) {
	clip := needClip(t)
	_, gpu := probeHere(t)
	data := t.TempDir()
	primary, fallback := "local://"+filepath.Join(data, "gpu-queue"), "local://"+filepath.Join(data, "cpu-queue")
	addr := freePort(t)
	p := startHLSFleet(t, nil, "worker", "--queue", primary, "--fallback-queue", fallback, "--accel", "auto",
		"--metrics-addr", addr, "--concurrency", "1", "--when-full", "spill")

	var body string
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "accel ") {
		t.Errorf("/readyz body %q lacks the accelerator line", body)
	}
	if !gpu && !strings.Contains(body, "accel cpu; no GPU: only cpu path") {
		t.Errorf("/readyz body without a GPU = %q", body)
	}
	p.mu.Lock()
	logged := strings.Contains(p.out.String(), `"msg":"accelerator"`)
	p.mu.Unlock()
	if !logged {
		t.Error("the worker's start-up log has no accelerator line")
	}

	// A job on the fallback (CPU) queue is done by this worker.
	ctx := context.Background()
	fq, err := queue.Open(ctx, fallback, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fq.Close()
	out := filepath.Join(data, "out")
	j := job.New("file://"+clip, "file://"+out, job.WithLadder("mobile"))
	b, _ := j.Marshal()
	if _, err := fq.Send(ctx, b, queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "the fallback queue's job to be published", func() bool {
		_, err := os.Stat(filepath.Join(out, "master.m3u8"))
		return err == nil
	})
	waitFor(t, 30*time.Second, "the fallback queue to be empty", func() bool {
		st, err := fq.Stats(ctx)
		return err == nil && st.Visible+st.InFlight == 0
	})
}

func TestWorkerAccelUnavailable(t *testing.T) {
	if _, gpu := probeHere(t); gpu {
		t.Skip("this machine has a GPU device: the failure case cannot be shown here")
	}
	r := runCLI(t, nil, "worker", "--queue", "local://"+t.TempDir(), "--accel", "vaapi", "--metrics-addr", "")
	expectFailure(t, r, exitOther)
	if l := lastLine(r.stderr); !strings.Contains(l, "--accel vaapi: no vaapi device") {
		t.Errorf("last line %q", l)
	}
	r = runCLI(t, nil, "worker", "--queue", "local://"+t.TempDir(), "--when-full", "drop", "--metrics-addr", "")
	expectFailure(t, r, exitInput)
}
