package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
)

// Built once by TestMain.
var (
	cliBin   string // the hlsfleet binary under test
	cliClip  string // a 640x360, 3 s H.264 + AAC mp4; "" without ffmpeg
	cliTmp   string
	cliSetup error // why cliClip could not be made
)

func TestMain(m *testing.M) {
	os.Exit(cliMain(m))
}

func cliMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hlsfleet-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cliTmp = dir
	cliBin = filepath.Join(dir, "hlsfleet")
	build := exec.Command("go", "build", "-o", cliBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building hlsfleet: %v\n", err)
		return 1
	}
	if testmedia.HaveFFmpeg() {
		cliClip, cliSetup = testmedia.GenerateTo(dir, testmedia.Spec{Width: 640, Height: 360, Duration: 3, Name: "clip"})
	} else {
		cliSetup = testmedia.ErrNoFFmpeg
	}
	return m.Run()
}

func needClip(t *testing.T) string {
	t.Helper()
	if cliClip == "" {
		if cliSetup == testmedia.ErrNoFFmpeg {
			t.Skip("ffmpeg is not on PATH")
		}
		t.Fatalf("making the test clip: %v", cliSetup)
	}
	return cliClip
}

// cliResult is one finished run of the binary.
type cliResult struct {
	code           int
	stdout, stderr string
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// runCLI runs the binary with args (and extra environment) and waits.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("hlsfleet %v: timed out\nstderr:\n%s", args, res.stderr)
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("hlsfleet %v: %v", args, err)
		}
		if !ee.Exited() {
			t.Fatalf("hlsfleet %v died by a signal (%v); stderr:\n%s", args, ee, res.stderr)
		}
		res.code = ee.ExitCode()
	}
	return res
}

// expectFailure asserts the exit code and the shape of the last stderr line.
func expectFailure(t *testing.T, r cliResult, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstderr:\n%s", r.code, code, r.stderr)
	}
	if l := lastLine(r.stderr); !strings.HasPrefix(l, "hlsfleet: ") {
		t.Errorf("last stderr line %q does not start with \"hlsfleet: \"\nstderr:\n%s", l, r.stderr)
	}
}

// expectNothingPublished asserts that out holds no master and no staging dir.
func expectNothingPublished(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(out, "master.m3u8")); err == nil {
		t.Errorf("%s/master.m3u8 exists after a failed transcode", out)
	}
	staging, _ := filepath.Glob(filepath.Join(out, ".hlsfleet-staging-*"))
	if len(staging) > 0 {
		t.Errorf("staging directories left behind: %v", staging)
	}
}

// smallLadderFile writes a two-rung, 2 s segment ladder and returns its path.
func smallLadderFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "small.json")
	const l = `{"name": "small", "segment_seconds": 2, "gop_seconds": 2,
  "video": {"codec": "h264", "preset": "veryfast", "profile": "high"},
  "audio": {"codec": "aac", "bitrate_bps": 64000, "channels": 2},
  "renditions": [{"height": 360, "bitrate_bps": 600000}, {"height": 240, "bitrate_bps": 300000}]}`
	if err := os.WriteFile(p, []byte(l), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonSummary is the part of `transcode --json` the tests read.
type jsonSummary struct {
	Master      string  `json:"master"`
	Duration    float64 `json:"duration_seconds"`
	SegmentType string  `json:"segment_type"`
	Poster      string  `json:"poster"`
	Renditions  []struct {
		Name     string   `json:"name"`
		Playlist string   `json:"playlist"`
		Width    int      `json:"width"`
		Height   int      `json:"height"`
		Codecs   []string `json:"codecs"`
		Segments int      `json:"segments"`
	} `json:"renditions"`
}

func decodeSummary(t *testing.T, stdout string) jsonSummary {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var s jsonSummary
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\nstdout:\n%s", err, stdout)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Errorf("stdout holds more than one JSON object:\n%s", stdout)
	}
	return s
}

var (
	servedOnce sync.Once
	servedDir  string
	servedErr  string
)

// publishedOutput transcodes the clip once with --json into a directory
// shared by the tests that only read a finished presentation.
func publishedOutput(t *testing.T) (string, cliResult) {
	t.Helper()
	clip := needClip(t)
	var r cliResult
	servedOnce.Do(func() {
		root := filepath.Join(cliTmp, "served")
		out := filepath.Join(root, "clip")
		r = runCLI(t, nil, "transcode", "--ladder", smallLadderFile(t), "--json", clip, out)
		if r.code != 0 {
			servedErr = fmt.Sprintf("transcode exit %d\nstderr:\n%s", r.code, r.stderr)
			return
		}
		servedDir = out
	})
	if servedDir == "" {
		t.Fatalf("shared transcode failed: %s", servedErr)
	}
	return servedDir, r
}

func TestCLITranscodeJSON(t *testing.T) {
	clip := needClip(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "transcode", "--ladder", smallLadderFile(t), "--json", clip, out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	s := decodeSummary(t, r.stdout)
	if s.Master == "" {
		t.Fatalf("summary names no master:\n%s", r.stdout)
	}
	if _, err := os.Stat(s.Master); err != nil {
		t.Errorf("master from the summary: %v", err)
	}
	if want := filepath.Join(out, "master.m3u8"); filepath.Clean(s.Master) != want {
		t.Errorf("summary master %q, want %q", s.Master, want)
	}
	if len(s.Renditions) != 2 {
		t.Errorf("summary lists %d renditions, want 2", len(s.Renditions))
	}
	for _, rd := range s.Renditions {
		if rd.Width > 640 || rd.Height > 360 || rd.Segments == 0 || len(rd.Codecs) == 0 || !strings.HasPrefix(rd.Codecs[0], "avc1.") {
			t.Errorf("rendition %+v", rd)
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(rd.Playlist))); err != nil {
			t.Errorf("rendition playlist: %v", err)
		}
	}
	if s.SegmentType != "ts" {
		t.Errorf("segment_type %q, want ts", s.SegmentType)
	}
	if s.Poster == "" {
		t.Error("summary names no poster")
	} else if _, err := os.Stat(s.Poster); err != nil {
		t.Errorf("poster from the summary: %v", err)
	}
	if staging, _ := filepath.Glob(filepath.Join(out, ".hlsfleet-staging-*")); len(staging) > 0 {
		t.Errorf("staging left after success: %v", staging)
	}
	if _, err := hlscheck.Check(out, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 3, ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
}

func TestCLITranscodeFMP4(t *testing.T) {
	clip := needClip(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "transcode", "--ladder", smallLadderFile(t), "--segment-type", "fmp4", "--json", clip, out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	s := decodeSummary(t, r.stdout)
	if s.SegmentType != "fmp4" {
		t.Errorf("segment_type %q, want fmp4", s.SegmentType)
	}
	if len(s.Renditions) == 0 {
		t.Fatal("no renditions")
	}
	pl, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(s.Renditions[0].Playlist)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pl), "#EXT-X-MAP:") || strings.Contains(string(pl), ".ts\n") {
		t.Errorf("fMP4 playlist:\n%s", pl)
	}
	if _, err := hlscheck.Check(out, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 3, ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("hlscheck:\n%v", err)
	}
}

func TestCLITranscodeBadInputs(t *testing.T) {
	if !testmedia.HaveFFmpeg() {
		t.Skip("ffmpeg is not on PATH")
	}
	cases := []struct {
		name  string
		input func(t *testing.T) string
	}{
		{"garbage", func(t *testing.T) string { return testmedia.Garbage(t, 32<<10) }},
		{"empty", func(t *testing.T) string { return testmedia.Empty(t) }},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.mp4") }},
		{"truncated", func(t *testing.T) string { return testmedia.Truncate(t, needClip(t), 0.5) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := runCLI(t, nil, "transcode", "--ladder", smallLadderFile(t), tc.input(t), out)
			expectFailure(t, r, 2)
			expectNothingPublished(t, out)
		})
	}
}

func TestCLIUsageErrors(t *testing.T) {
	clip := needClip(t)
	cases := []struct {
		name string
		args []string
	}{
		{"bad-flag", []string{"transcode", "--bogus", clip, "OUT"}},
		{"unknown-ladder", []string{"transcode", "--ladder", "no-such-ladder", clip, "OUT"}},
		{"bad-segment-type", []string{"transcode", "--segment-type", "mkv", clip, "OUT"}},
		{"missing-output", []string{"transcode", clip}},
		{"unknown-command", []string{"frobnicate"}},
		{"ladder-show-unknown", []string{"ladder", "show", "no-such-ladder"}},
		{"worker-chunk-seconds", []string{"worker", "--queue", "local://OUT", "--metrics-addr", "", "--chunk-seconds", "-1"}},
		{"job-exec-chunk-seconds", []string{"job-exec", "--chunk-seconds", "7200"}},
		{"submit-chunk-seconds", []string{"submit", "--queue", "local://OUT", "--chunk-seconds", "-5", clip, "OUT"}},
		// Issue N's bounds: one IDR per frame once cost 44x the CPU.
		{"segment-seconds-tiny", []string{"transcode", "--segment-seconds", "1e-9", clip, "OUT"}},
		{"segment-seconds-long", []string{"transcode", "--segment-seconds", "21", clip, "OUT"}},
		{"webhook-secret-in-argv", []string{"worker", "--queue", "local://OUT", "--metrics-addr", "",
			"--events-webhook", "http://127.0.0.1:1/h", "--events-webhook-secret", "k"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				a = strings.ReplaceAll(a, "OUT", out)
				args[i] = a
			}
			r := runCLI(t, nil, args...)
			expectFailure(t, r, 2)
			expectNothingPublished(t, out)
		})
	}
}

func TestCLICrashContained(t *testing.T) {
	clip := needClip(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, []string{"HLSFLEET_FAULT_INJECT=segv"}, "transcode", "--ladder", smallLadderFile(t), clip, out)
	expectFailure(t, r, 1)
	expectNothingPublished(t, out)
}

func TestCLIProbe(t *testing.T) {
	clip := needClip(t)
	r := runCLI(t, nil, "probe", clip)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var info struct {
		Duration float64 `json:"duration_seconds"`
		Video    *struct {
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Codec  string `json:"codec"`
		} `json:"video"`
		Audio []struct {
			Codec string `json:"codec"`
		} `json:"audio"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("probe output is not JSON: %v\n%s", err, r.stdout)
	}
	if info.Video == nil || info.Video.Width != 640 || info.Video.Height != 360 || info.Video.Codec != "h264" {
		t.Errorf("probe video = %+v, want h264 640x360\n%s", info.Video, r.stdout)
	}
	if len(info.Audio) != 1 || info.Audio[0].Codec != "aac" {
		t.Errorf("probe audio = %+v, want one aac track", info.Audio)
	}
	if info.Duration < 2.9 || info.Duration > 3.1 {
		t.Errorf("probe duration %.3f, want about 3", info.Duration)
	}

	bad := runCLI(t, nil, "probe", testmedia.Garbage(t, 4096))
	expectFailure(t, bad, 2)
}

func TestCLILadderList(t *testing.T) {
	r := runCLI(t, nil, "ladder", "list")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"default", "mobile", "hd-hevc", "bench4"} {
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				found = true
			}
		}
		if !found {
			t.Errorf("ladder list lacks %q:\n%s", name, r.stdout)
		}
	}
}

func TestCLILadderShowSource(t *testing.T) {
	clip := needClip(t)
	r := runCLI(t, nil, "ladder", "show", "default", "--source", clip)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	// default has 1080/720/480/360/240; a 360p source gets 360p and 240p.
	for _, want := range []string{"360p", "640x360", "240p"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ladder show lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"1080p", "720p", "480p"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("ladder show upscales to %s for a 640x360 source:\n%s", unwanted, r.stdout)
		}
	}

	plain := runCLI(t, nil, "ladder", "show", "default")
	if plain.code != 0 {
		t.Fatalf("ladder show default: exit %d\n%s", plain.code, plain.stderr)
	}
	var l struct {
		Name       string            `json:"name"`
		Renditions []json.RawMessage `json:"renditions"`
	}
	if err := json.Unmarshal([]byte(plain.stdout), &l); err != nil || l.Name != "default" || len(l.Renditions) != 5 {
		t.Errorf("ladder show default: %v, %+v\n%s", err, l, plain.stdout)
	}
}

// freePort returns a loopback address no one listens on (racy, but fine).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCLIServe(t *testing.T) {
	out, _ := publishedOutput(t)
	root := filepath.Dir(out)
	addr := freePort(t)
	cmd := exec.Command(cliBin, "serve", root, "--addr", addr)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	var page []byte
	for {
		resp, err := client.Get(base + "/")
		if err == nil {
			page, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / status %d", resp.StatusCode)
			}
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("serve exited before answering: %v\nstderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer on %s: %v\nstderr:\n%s", addr, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.Contains(page, []byte("<video")) {
		t.Errorf("GET / has no <video element:\n%s", page)
	}
	if !bytes.Contains(page, []byte("clip/master.m3u8")) {
		t.Errorf("GET / does not name clip/master.m3u8:\n%s", page)
	}

	resp, err := client.Get(base + "/clip/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET master status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.apple.mpegurl") {
		t.Errorf("master Content-Type %q, want application/vnd.apple.mpegurl", ct)
	}
	if !bytes.HasPrefix(body, []byte("#EXTM3U")) {
		t.Errorf("master body:\n%s", body)
	}

	// A segment is served too, with an MPEG-TS type.
	seg := ""
	_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && seg == "" && strings.HasSuffix(p, ".ts") {
			seg = p
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no .ts segment in the published output")
	}
	rel, _ := filepath.Rel(root, seg)
	resp, err = client.Get(base + "/" + filepath.ToSlash(rel))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp2t" {
		t.Errorf("GET segment: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
