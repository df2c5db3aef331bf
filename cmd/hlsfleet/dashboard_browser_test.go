package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
)

// TestDashboardBrowser drives the dashboard of `hlsfleet local` in headless
// Debian chromium with playwright-core (dashboard/web/browser_test.mjs): a
// dropped file becomes a job whose progress bar advances, the player plays
// the result (natively and through the embedded hls.js), a broken file fails
// with its reason and is retried from the dead letters.
func TestDashboardBrowser(t *testing.T) {
	chromium := os.Getenv("HLSFLEET_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	web, _ := filepath.Abs(filepath.Join("..", "..", "dashboard", "web"))
	missing := ""
	if _, err := os.Stat(chromium); err != nil {
		missing = chromium + " is missing (scripts/setup.sh installs Debian's chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node is missing (scripts/setup.sh installs it)"
	} else if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		missing = "dashboard/web/node_modules/playwright-core is missing (scripts/setup.sh runs npm ci there)"
	}
	if missing != "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") != "" {
			t.Fatalf("the browser test cannot run: %s", missing)
		}
		t.Skipf("browser test skipped: %s", missing)
	}
	needClip(t)
	dir := t.TempDir()
	good := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 12, Name: "dropped"})
	bad := testmedia.Truncate(t, good, 0.05)

	data := filepath.Join(dir, "data")
	addr := freePort(t)
	startHLSFleet(t, nil, "local", "--data", data, "--http", addr, "--workers", "1", "--metrics-addr", "", "--visibility", "30s")
	base := "http://" + addr + "/"
	waitFor(t, 30*time.Second, "the dashboard to answer", func() bool {
		resp, err := http.Get(base + "api/state")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "browser_test.mjs")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "HLSFLEET_URL="+base, "HLSFLEET_DATA="+data, "GOOD_MEDIA="+good, "BAD_MEDIA="+bad, "CHROMIUM="+chromium)
	if _, err := os.Stat(filepath.Join("..", "..", "dashboard", "static", "vendor", "hls.min.js")); err == nil {
		cmd.Env = append(cmd.Env, "REQUIRE_HLSJS=1") // embedded in the binary under test
	}
	out, err := cmd.CombinedOutput()
	t.Logf("browser test:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
}

// `serve --output DIR --queue URL` serves the dashboard of a fleet: jobs from
// job.json documents, dead letters of the queue, and the outputs.
func TestCLIServeDashboard(t *testing.T) {
	out, _ := publishedOutput(t)
	root := t.TempDir()
	clip := filepath.Join(root, "clip")
	if err := os.CopyFS(clip, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	doc := `{"job_id":"j-served","state":"published","progress":100,"updated_at":"2026-11-29T05:00:00Z","renditions":2}`
	if err := os.WriteFile(filepath.Join(clip, "job.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(t.TempDir(), "queue")
	addr := freePort(t)
	startHLSFleet(t, nil, "serve", "--output", root, "--queue", "local://"+qdir, "--addr", addr)
	base := "http://" + addr
	var st struct {
		Info struct{ Uploads, DLQ, Queue bool }
		Jobs []struct{ ID, State, Path string }
	}
	waitFor(t, 30*time.Second, "the dashboard to list the job", func() bool {
		resp, err := http.Get(base + "/api/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Jobs) == 1
	})
	if j := st.Jobs[0]; j.ID != "j-served" || j.State != "published" || j.Path != "clip" {
		t.Errorf("job %+v", j)
	}
	if !st.Info.Queue || !st.Info.DLQ || st.Info.Uploads {
		t.Errorf("info %+v: want queue and dead letters, no uploads (no --sources)", st.Info)
	}
	resp, err := http.Get(base + "/media/clip/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("master: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Dashboard flags without --output are a usage error.
	if r := runCLI(t, nil, "serve", root, "--queue", "local://"+qdir); r.code != 2 {
		t.Errorf("serve DIR --queue: exit %d, want 2\n%s", r.code, r.stderr)
	}
}
