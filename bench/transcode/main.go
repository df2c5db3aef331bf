// Command transcode is the benchmark behind `make bench`: it compares
// `hlsfleet transcode` with the ffmpeg CLI producing the same HLS ladder in
// one process, on the same generated 1080p30 source with heavy noise.
//
// Usage:
//
//	go run ./bench/transcode -hlsfleet bin/hlsfleet [-runs N] [-keep DIR]
//
// Each round runs the CLI baseline, then hlsfleet, and measures each child's
// wall time, CPU time (user+system) and peak RSS from its rusage. The report
// gives the medians, hlsfleet/CLI ratios and PASS/MISS against the targets
// (wall ratio <= 0.90, RSS ratio <= 1.0). The command exits non-zero only on
// errors — a failed run or a missing master.m3u8 — never on a missed target.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
)

// config is the command line.
type config struct {
	hlsfleet string        // path of the hlsfleet binary
	ladder   string        // ladder file
	runs     int           // runs of each tool
	keep     string        // folder keeping the source and outputs; "" = temporary
	src      string        // existing source; "" = generate one
	seconds  float64       // generated source duration
	noise    int           // generated source's noise strength (0-100)
	width    int           // generated source size
	height   int           //
	timeout  time.Duration // limit for each run
}

func main() {
	var c config
	var size string
	flag.StringVar(&c.hlsfleet, "hlsfleet", "", "path of the hlsfleet binary to benchmark (required)")
	flag.StringVar(&c.ladder, "ladder", "bench/bench4.json", "ladder file given to both tools")
	flag.IntVar(&c.runs, "runs", 1, "runs of each tool, alternating; medians are reported")
	flag.StringVar(&c.keep, "keep", "", "keep the source and every output under this folder")
	flag.StringVar(&c.src, "src", "", "use this source instead of generating one")
	flag.Float64Var(&c.seconds, "seconds", 20, "duration of the generated source")
	flag.IntVar(&c.noise, "noise", 30, "noise strength of the generated source, 1-100 (30: heavy, camera-grain-like; 10: light)")
	flag.StringVar(&size, "size", "1920x1080", "size of the generated source")
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "limit for each run")
	flag.Parse()
	if err := c.parseSize(size); err != nil {
		fail(err)
	}
	if c.hlsfleet == "" || flag.NArg() != 0 || c.runs < 1 || c.noise < 1 || c.noise > 100 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(c, os.Stdout); err != nil {
		fail(err)
	}
}

// fail prints err the way every hlsfleet command does and exits 1.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}

// parseSize sets the generated source size from "WxH".
func (c *config) parseSize(s string) error {
	w, h, ok := strings.Cut(s, "x")
	var err1, err2 error
	c.width, err1 = strconv.Atoi(w)
	c.height, err2 = strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || c.width <= 0 || c.height <= 0 {
		return fmt.Errorf("bad -size %q, want WxH", s)
	}
	return nil
}

// run performs the whole benchmark and writes the report to w.
func run(c config, w io.Writer) error {
	ladder, err := loadLadder(c.ladder)
	if err != nil {
		return err
	}
	fleet, err := testmedia.BenchTools(c.hlsfleet)
	if err != nil {
		return err
	}
	base := c.keep
	if base == "" {
		if base, err = os.MkdirTemp("", "hlsfleet-bench-"); err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("keep folder: %w", err)
	}
	src, fps, err := prepareSource(c, base, w)
	if err != nil {
		return err
	}
	ladderPath, err := filepath.Abs(c.ladder)
	if err != nil {
		return fmt.Errorf("ladder: %w", err)
	}
	b := &bench{c: c, fleet: fleet, ladder: ladder, ladderPath: ladderPath, base: base, src: src, fps: fps}

	cpus := runtime.NumCPU()
	// "hlsfleet" does the baseline's work (the ladder and its poster);
	// "hlsfleet+extras" adds what a published job also gets by default
	// (storyboard sprites and the SSIM/PSNR report), timed for the record.
	var cli, hf, hx []Measurement
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttool\twall s\tCPU s\tCPU %\tpeak RSS MB\toutput MB\t")
	for i := 1; i <= c.runs; i++ {
		for _, tool := range []string{"ffmpeg-cli", "hlsfleet", "hlsfleet+extras"} {
			m, err := b.runTool(i, tool)
			if err != nil {
				return err
			}
			switch tool {
			case "hlsfleet":
				hf = append(hf, m)
			case "hlsfleet+extras":
				hx = append(hx, m)
			default:
				cli = append(cli, m)
			}
			fmt.Fprintf(tw, "%d\t%s\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t\n", i, tool, m.Wall.Seconds(), m.CPU.Seconds(),
				m.cpuPercent(cpus), float64(m.MaxRSSBytes)/1e6, float64(m.OutputBytes)/1e6)
		}
	}
	fmt.Fprintln(w)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintln(w)
	for _, line := range summarize(cli, hf, cpus).Lines() {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, extrasLine(hf, hx))
	if c.keep != "" {
		fmt.Fprintf(w, "outputs kept under %s\n", c.keep)
	}
	return nil
}

// prepareSource returns c.src, or a source generated in base, and its
// frame rate, describing it on w.
func prepareSource(c config, base string, w io.Writer) (src string, fps float64, err error) {
	src = c.src
	if src == "" {
		spec := testmedia.Spec{Width: c.width, Height: c.height, Duration: c.seconds, FPS: "30",
			Video: testmedia.VideoH264, Audio: testmedia.AudioAAC, Noise: true, NoiseStrength: c.noise, Name: "bench-source"}
		fmt.Fprintf(w, "generating a %g s %dx%d 30 fps h264+aac source with noise %d...\n", c.seconds, c.width, c.height, c.noise)
		start := time.Now()
		if src, err = testmedia.GenerateTo(base, spec); err != nil {
			return "", 0, fmt.Errorf("source: %w", err)
		}
		fmt.Fprintf(w, "generated in %.1f s\n", time.Since(start).Seconds())
	}
	info, err := testmedia.Probe(src)
	if err != nil {
		return "", 0, fmt.Errorf("source: %w", err)
	}
	fps, err = sourceFPS(info)
	if err != nil {
		return "", 0, fmt.Errorf("source %s: %w", src, err)
	}
	if fi, err := os.Stat(src); err == nil {
		fmt.Fprintf(w, "source %s: %.1f s, %.1f fps, %.1f MB\n", src, info.Format.Seconds(), fps, float64(fi.Size())/1e6)
	}
	return src, fps, nil
}

// bench is what every run of the benchmark uses.
type bench struct {
	c          config
	fleet      string // absolute path of the hlsfleet binary
	ladder     Ladder
	ladderPath string // absolute path of the ladder file
	base       string // work folder
	src        string
	fps        float64 // the source's frame rate
}

// runTool runs tool ("ffmpeg-cli", "hlsfleet" or "hlsfleet+extras") for run
// i into a fresh folder under the work folder, checks that it wrote a
// master playlist, and measures it and its output's size. The output is
// removed unless c.keep is set.
func (b *bench) runTool(i int, tool string) (Measurement, error) {
	out := filepath.Join(b.base, fmt.Sprintf("%s-%d", tool, i))
	if err := os.RemoveAll(out); err != nil {
		return Measurement{}, fmt.Errorf("clear %s: %w", out, err)
	}
	var argv []string
	switch tool {
	case "hlsfleet":
		argv = append([]string{b.fleet}, "transcode", "--no-storyboard", "--no-quality", "--ladder", b.ladderPath, b.src, out)
	case "hlsfleet+extras":
		argv = append([]string{b.fleet}, "transcode", "--ladder", b.ladderPath, b.src, out)
	default:
		if err := os.MkdirAll(out, 0o755); err != nil {
			return Measurement{}, fmt.Errorf("output folder: %w", err)
		}
		argv = append([]string{"ffmpeg"}, baselineArgs(b.ladder, b.src, out, b.fps)...)
	}
	m, err := measure(argv, b.c.timeout)
	if err != nil {
		return Measurement{}, fmt.Errorf("run %d of %s: %w", i, tool, err)
	}
	if _, err := os.Stat(filepath.Join(out, "master.m3u8")); err != nil {
		return Measurement{}, fmt.Errorf("run %d of %s produced no master playlist: %w", i, tool, err)
	}
	if m.OutputBytes, err = dirSize(out); err != nil {
		return Measurement{}, fmt.Errorf("run %d of %s: %w", i, tool, err)
	}
	if b.c.keep == "" {
		if err := os.RemoveAll(out); err != nil {
			return Measurement{}, fmt.Errorf("clean %s: %w", out, err)
		}
	}
	return m, nil
}

// sourceFPS returns the first video stream's nominal frame rate.
func sourceFPS(info testmedia.Info) (float64, error) {
	v := info.OfType("video")
	if len(v) == 0 {
		return 0, errors.New("no video stream")
	}
	n, d, ok := strings.Cut(v[0].RFrameRate, "/")
	num, err1 := strconv.ParseFloat(n, 64)
	den, err2 := strconv.ParseFloat(d, 64)
	if !ok || err1 != nil || err2 != nil || num <= 0 || den <= 0 {
		return 0, fmt.Errorf("unusable frame rate %q", v[0].RFrameRate)
	}
	return num / den, nil
}

// measure runs argv to completion and returns its wall time and the CPU
// time and peak RSS from its rusage. A failure carries the tail of the
// child's output.
func measure(argv []string, timeout time.Duration) (Measurement, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 10 * time.Second // grandchildren holding the pipes after a kill
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return Measurement{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return Measurement{}, errors.New("no rusage for the child (needs Linux)")
	}
	return Measurement{
		Wall:        wall,
		CPU:         time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		MaxRSSBytes: ru.Maxrss * 1024, // KiB on Linux
	}, nil
}

// dirSize returns the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

// Write appends p, dropping the oldest bytes beyond max.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept bytes.
func (t *tailBuffer) String() string { return string(t.buf) }
