// Command live is the live-segment benchmark behind `make bench`: 2 s
// 1280x720 30 fps source segments, cut by `hlsfleet live push`, are
// transcoded into 720p/480p/360p (x264 veryfast, the "live" preset) one
// process per segment, first by the ffmpeg CLI (the baseline: same sizes,
// bitrates, VBV, GOP, AAC copied, MPEG-TS on the source timeline), then by
// `hlsfleet job-exec` with a live-segment job (transcode plus the
// compare-and-swap playlist update).
//
// Usage:
//
//	go run ./bench/live -hlsfleet bin/hlsfleet [-segments N] [-keep DIR]
//
// Both tools take each segment in turn, back to back (the order alternating,
// so load changes on a shared machine hit both alike). For each segment the
// report has the transcode realtime factor (process wall time / media time)
// and the end-to-end latency of a live stream: segment k is available at
// (k+1)·2 s, the end of its capture, and one worker takes the segments in
// order (a FIFO group), each for its measured time; latency runs from
// available to published (for hlsfleet every rendition playlist updated,
// for the CLI its files written). It prints p50/p95, the hlsfleet/CLI ratios
// and PASS/MISS against the targets (RTF <= 0.35, p95 latency <= one
// segment), and exits non-zero only on errors, never on a missed target.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
)

// Targets of issue D.
const (
	targetRTF = 0.35
	segSecs   = 2.0
)

type config struct {
	hlsfleet string
	segments int
	keep     string
	noise    bool
	timeout  time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.hlsfleet, "hlsfleet", "", "path of the hlsfleet binary to benchmark (required)")
	flag.IntVar(&c.segments, "segments", 10, "2 s source segments in the stream")
	flag.StringVar(&c.keep, "keep", "", "keep the source and every output under this folder")
	flag.BoolVar(&c.noise, "noise", true, "noisy source (expensive to encode, like camera content)")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "limit for each segment's process")
	flag.Parse()
	if c.hlsfleet == "" || flag.NArg() != 0 || c.segments < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// rung is one output of the baseline, from the "live" preset.
type rung struct {
	name                         string
	width, height                int
	bitrate, maxrate, bufsizeBit int64
}

func liveRungs() ([]rung, *ladders.Ladder, error) {
	l, err := ladders.Lookup("live")
	if err != nil {
		return nil, nil, err
	}
	outs, err := l.Select(ladders.Source{Width: 1280, Height: 720, FPS: ladders.Rational{Num: 30, Den: 1}, SAR: ladders.Rational{Num: 1, Den: 1}})
	if err != nil {
		return nil, nil, err
	}
	var rs []rung
	for _, o := range outs {
		rs = append(rs, rung{o.Name, o.Width, o.Height, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits})
	}
	return rs, l, nil
}

// baselineArgs is one ffmpeg CLI process for one segment: decode once,
// scale per rung, x264 with the preset's settings and a forced IDR on the
// first frame, AAC copied, MPEG-TS with the source timestamps.
func baselineArgs(rs []rung, l *ladders.Ladder, in, outDir, name string) []string {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-copyts", "-i", in}
	var fc []string
	split := fmt.Sprintf("[0:v]split=%d", len(rs))
	for i := range rs {
		split += fmt.Sprintf("[s%d]", i)
	}
	fc = append(fc, split)
	for i, r := range rs {
		fc = append(fc, fmt.Sprintf("[s%d]scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p[v%d]", i, r.width, r.height, i))
	}
	args = append(args, "-filter_complex", strings.Join(fc, ";"))
	gop := fmt.Sprint(int(math.Round(l.GOPSeconds * 30)))
	for i, r := range rs {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-map", "0:a?",
			"-c:v", "libx264", "-preset", l.Video.Preset, "-profile:v", l.Video.Profile,
			"-b:v", fmt.Sprint(r.bitrate), "-maxrate", fmt.Sprint(r.maxrate), "-bufsize", fmt.Sprint(r.bufsizeBit),
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-forced-idr", "1",
			"-c:a", "copy", "-f", "mpegts", "-muxdelay", "0", "-avoid_negative_ts", "disabled",
			filepath.Join(outDir, r.name, name))
	}
	return args
}

// sample is one segment's figures.
type sample struct {
	wall, latency float64 // seconds
	inProcessRTF  float64 // hlsfleet only: the pipeline's own realtime factor
}

func run(c config, w io.Writer) error {
	fleet, err := testmedia.BenchTools(c.hlsfleet)
	if err != nil {
		return err
	}
	rs, l, err := liveRungs()
	if err != nil {
		return err
	}
	base := c.keep
	if base == "" {
		if base, err = os.MkdirTemp("", "hlsfleet-bench-live-"); err != nil {
			return err
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	segs, err := makeSegments(c, fleet, base, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d source segments of %g s; rungs %v; %d CPU(s); one process per segment, the tools in turn\n",
		len(segs), segSecs, rungNames(rs), runtime.NumCPU())

	b := &bench{c: c, fleet: fleet, rs: rs, l: l, segs: segs,
		cliOut: filepath.Join(base, "ffmpeg-cli"), hfOut: filepath.Join(base, "hlsfleet")}
	for _, r := range rs {
		if err := os.MkdirAll(filepath.Join(b.cliOut, r.name), 0o755); err != nil {
			return err
		}
	}
	cli, hf, err := b.measure()
	if err != nil {
		return err
	}
	schedule(cli, segSecs)
	schedule(hf, segSecs)
	if _, err := os.Stat(filepath.Join(b.hfOut, "master.m3u8")); err != nil {
		return fmt.Errorf("hlsfleet published no master playlist: %w", err)
	}
	for _, line := range report(cli, hf, segSecs) {
		fmt.Fprintln(w, line)
	}
	if c.keep != "" {
		fmt.Fprintf(w, "outputs kept under %s\n", c.keep)
	}
	return nil
}

// makeSegments generates the source in base and cuts it into 2 s segments
// with `hlsfleet live push`; it returns their paths in order.
func makeSegments(c config, fleet, base string, w io.Writer) ([]string, error) {
	dur := segSecs * float64(c.segments)
	fmt.Fprintf(w, "generating a %g s 1280x720 30 fps h264+aac source (noise %v)...\n", dur, c.noise)
	src, err := testmedia.GenerateTo(base, testmedia.Spec{Width: 1280, Height: 720, Duration: dur, FPS: "30",
		Noise: c.noise, Name: "live-source"})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	ingest := filepath.Join(base, "ingest")
	if out, err := exec.Command(fleet, "live", "push", "--stream", "bench", "--no-pace", "--segment-seconds", "2", src, ingest).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("live push: %v\n%s", err, out)
	}
	segDir := filepath.Join(ingest, "live", "bench")
	var segs []string
	for k := 0; ; k++ {
		p := filepath.Join(segDir, fmt.Sprintf("%d.ts", k))
		if _, err := os.Stat(p); err != nil {
			break
		}
		segs = append(segs, p)
	}
	if len(segs) == 0 {
		return nil, errors.New("live push made no segments")
	}
	return segs, nil
}

// bench is what every segment's runs use.
type bench struct {
	c             config
	fleet         string // absolute path of the hlsfleet binary
	rs            []rung
	l             *ladders.Ladder
	segs          []string // source segments, in order
	cliOut, hfOut string   // output folders of the CLI and of hlsfleet
}

// measure has both tools take each segment in turn, back to back, the
// order alternating, so a change in the machine's load hits both alike. The
// samples' latencies are left to schedule.
func (b *bench) measure() (cli, hf []sample, err error) {
	type tool struct {
		name string
		do   func(int) (float64, error)
		out  *[]sample
	}
	for k := range b.segs {
		tools := []tool{{"ffmpeg CLI", b.runCLI, &cli}, {"hlsfleet", b.runHF, &hf}}
		if k%2 == 1 {
			tools[0], tools[1] = tools[1], tools[0]
		}
		for _, tl := range tools {
			start := time.Now()
			rtf, err := tl.do(k)
			if err != nil {
				return nil, nil, fmt.Errorf("%s, segment %d: %w", tl.name, k, err)
			}
			*tl.out = append(*tl.out, sample{wall: time.Since(start).Seconds(), inProcessRTF: rtf})
		}
	}
	return cli, hf, nil
}

// runCLI transcodes segment k with one ffmpeg CLI process.
func (b *bench) runCLI(k int) (float64, error) {
	_, err := runProc(b.c.timeout, nil, "ffmpeg", baselineArgs(b.rs, b.l, b.segs[k], b.cliOut, fmt.Sprintf("%d.ts", k))...)
	return 0, err
}

// runHF transcodes and publishes segment k with `hlsfleet job-exec` and
// returns the pipeline's own realtime factor.
func (b *bench) runHF(k int) (float64, error) {
	j := job.New("file://"+b.segs[k], "file://"+b.hfOut, job.WithLive("bench", int64(k), false), job.WithLadder("live"),
		job.WithSegmentSeconds(segSecs))
	body, err := j.Marshal()
	if err != nil {
		return 0, err
	}
	out, err := runProc(b.c.timeout, body, b.fleet, "job-exec")
	if err != nil {
		return 0, err
	}
	return execRTF(out)
}

func rungNames(rs []rung) []string {
	var n []string
	for _, r := range rs {
		n = append(n, fmt.Sprintf("%s %dx%d", r.name, r.width, r.height))
	}
	return n
}

// schedule fills in each sample's latency as one in-order worker would see
// it on a live stream: segment k becomes available at the end of its
// capture, (k+1)·seg, starts when it is available and k-1 is done, and takes
// its measured wall time.
func schedule(ss []sample, seg float64) {
	end := 0.0
	for k := range ss {
		avail := float64(k+1) * seg
		start := math.Max(avail, end)
		end = start + ss[k].wall
		ss[k].latency = end - avail
	}
}

// runProc runs a command to the end with stdin and returns its stdout.
func runProc(timeout time.Duration, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e := stderr.String()
		if len(e) > 2000 {
			e = e[len(e)-2000:]
		}
		return nil, fmt.Errorf("%s: %w\n%s", name, err, e)
	}
	return stdout.Bytes(), nil
}

// execRTF reads the realtime factor job-exec reported on its "done" line.
func execRTF(stdout []byte) (float64, error) {
	for _, line := range bytes.Split(stdout, []byte("\n")) {
		var ev struct {
			Event string  `json:"event"`
			RTF   float64 `json:"live_realtime_factor"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Event == "done" {
			return ev.RTF, nil
		}
	}
	return 0, errors.New("job-exec reported no result")
}

// percentile is the nearest-rank p-th percentile of xs (0 for none).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// report renders the summary: RTF and latency percentiles of both tools,
// their ratios, and the targets.
func report(cli, hf []sample, seg float64) []string {
	col := func(ss []sample, f func(sample) float64) []float64 {
		var xs []float64
		for _, s := range ss {
			xs = append(xs, f(s))
		}
		return xs
	}
	rtf := func(s sample) float64 { return s.wall / seg }
	lat := func(s sample) float64 { return s.latency }
	cr50, cr95 := percentile(col(cli, rtf), 50), percentile(col(cli, rtf), 95)
	hr50, hr95 := percentile(col(hf, rtf), 50), percentile(col(hf, rtf), 95)
	ip50 := percentile(col(hf, func(s sample) float64 { return s.inProcessRTF }), 50)
	cl50, cl95 := percentile(col(cli, lat), 50), percentile(col(cli, lat), 95)
	hl50, hl95 := percentile(col(hf, lat), 50), percentile(col(hf, lat), 95)
	return []string{
		fmt.Sprintf("per segment (%d of %g s), one process each:", len(hf), seg),
		fmt.Sprintf("  realtime factor  ffmpeg CLI p50 %.3f p95 %.3f   hlsfleet p50 %.3f p95 %.3f   ratio p50 %.3f   target hlsfleet p50 <= %.2f  %s",
			cr50, cr95, hr50, hr95, hr50/cr50, targetRTF, verdict(hr50 <= targetRTF)),
		fmt.Sprintf("  (hlsfleet's in-process transcode alone, hlsfleet_live_segment_realtime_factor: p50 %.3f)", ip50),
		fmt.Sprintf("  latency s        ffmpeg CLI p50 %.3f p95 %.3f   hlsfleet p50 %.3f p95 %.3f   ratio p95 %.3f   target hlsfleet p95 <= %.1f  %s",
			cl50, cl95, hl50, hl95, hl95/cl95, seg, verdict(hl95 <= seg)),
		"  (latency: segment available at the end of its capture → every rendition playlist updated; the CLI writes no playlist)",
	}
}
