// Command chunk measures chunked (segmented parallel) VOD encoding, issue
// H, against a single pass of the same job: `make bench BENCH_CHUNK=1`.
//
// Usage:
//
//	go run ./bench/chunk -hlsfleet bin/hlsfleet [-seconds 180] [-size 1920x1080]
//	    [-chunk-seconds 60] [-workers 2] [-model-run=true] [-check] [-keep DIR]
//
// The source is testmedia's chunking source (ChunkSpec: noise, frame
// counter, -12 dBFS sine) at -size, 30 fps, -seconds long, generated once
// into testmedia's cache. One job of it, default ladder and extras, runs
// through a fresh `hlsfleet local` (its own queue and data folder, no
// dashboard) three times:
//
//  1. single:    --workers W --chunk-seconds 0 (never chunk);
//  2. chunked:   --workers W --chunk-seconds C, W job slots on this box;
//  3. model run: --workers 1 --chunk-seconds C: the chunks one after the
//     other, each with the whole box, as each would have a worker of its
//     own (skipped with -model-run=false: the model then uses run 2's
//     chunk times, which share the box and are pessimistic).
//
// Each run's wall time is from the send to the finished_at of the job's
// job.json; its CPU time is the user+system time of the `hlsfleet local`
// process and its waited-for children (every job-exec), from its rusage
// once it has stopped. The report gives (a) chunked CPU / single CPU
// (target <= 1.05), (b) chunked wall / single wall on this box, and (c)
// a makespan model for N workers, M(N) = plan + LS_N(pickup + c_i) +
// finish, from the model run's worker log (zap JSON lines with job_id and
// message_id: planning = send → the parent job acknowledged, c_i = each
// chunk message received → acknowledged, pickup = a free slot's wait for
// the next chunk message, finish = what the last chunk did beyond its
// transcode), for N = 1, 4, 16, 64, and extrapolated to a one-hour source
// on 16 workers against its single-worker (single-pass) time (target <=
// 1/12). Every ratio compares figures of the same invocation.
//
// It fails at once, with one line, when the hlsfleet binary cannot chunk
// (no --chunk-seconds on `hlsfleet local`), and exits non-zero only on
// errors, never on a missed target. At 1920x1080, 180 s, on 2 shared
// cores it takes 25-35 minutes (three transcodes of 6-10 minutes each,
// the first source generation about 2 minutes more).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/peers"

	"github.com/hlsfleet/hlsfleet/internal/chunkcheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/queue"
)

// Targets of issue H.
const (
	targetCPURatio  = 1.05     // chunked CPU-seconds / single pass
	targetHourRatio = 1.0 / 12 // 1-hour source on 16 workers / single worker
	hourSeconds     = 3600.0
	hourWorkers     = 16
)

// modelWorkers are the worker counts the model is printed for.
var modelWorkers = []int{1, 4, 16, 64}

// config is the command line.
type config struct {
	hlsfleet     string
	seconds      float64
	width        int
	height       int
	chunkSeconds float64
	workers      int
	modelRun     bool
	check        bool
	keep         string
	src          string
	timeout      time.Duration
}

func main() {
	c := config{}
	var size string
	flag.StringVar(&c.hlsfleet, "hlsfleet", "", "path of the hlsfleet binary (required)")
	flag.Float64Var(&c.seconds, "seconds", testmedia.ChunkSourceSeconds, "duration of the generated source")
	flag.StringVar(&size, "size", "1920x1080", "size of the generated source")
	flag.Float64Var(&c.chunkSeconds, "chunk-seconds", job.DefaultChunkSeconds, "--chunk-seconds of the chunked runs")
	flag.IntVar(&c.workers, "workers", 2, "job slots of the single and chunked runs")
	flag.BoolVar(&c.modelRun, "model-run", true, "also run the chunks one at a time (--workers 1) for the model's chunk times")
	flag.BoolVar(&c.check, "check", false, "compare the chunked output with the single pass (internal/chunkcheck) at the end")
	flag.StringVar(&c.keep, "keep", "", "keep every run's data, outputs and logs under this folder")
	flag.StringVar(&c.src, "src", "", "use this source instead of generating one")
	flag.DurationVar(&c.timeout, "timeout", 45*time.Minute, "limit for each run")
	flag.Parse()
	w, h, ok := strings.Cut(size, "x")
	var err1, err2 error
	c.width, err1 = strconv.Atoi(w)
	c.height, err2 = strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || c.width <= 0 || c.height <= 0 || c.hlsfleet == "" || flag.NArg() != 0 ||
		c.workers < 1 || c.chunkSeconds <= 0 || c.seconds <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// errNoChunking is the one line the benchmark fails with on a binary
// that cannot chunk.
var errNoChunking = errors.New("chunking is not available: `hlsfleet local` has no --chunk-seconds flag (issue H has not landed in this binary)")

// canChunk asks the binary's `local` command for its flags.
func canChunk(bin string) error {
	out, _ := exec.Command(bin, "local", "-h").CombinedOutput() // usage: exit 0 or 2
	if !strings.Contains(string(out), "-chunk-seconds") {
		return errNoChunking
	}
	return nil
}

func run(c config, w io.Writer) error {
	bin, err := filepath.Abs(c.hlsfleet)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("hlsfleet binary (build it with `make build`): %w", err)
	}
	if err := canChunk(bin); err != nil {
		return err
	}
	base := c.keep
	if base == "" {
		if base, err = os.MkdirTemp("", "hlsfleet-chunk-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	base, _ = filepath.Abs(base)
	src, duration, err := source(c, w)
	if err != nil {
		return err
	}
	ladder, err := ladders.Lookup(job.DefaultLadder)
	if err != nil {
		return err
	}
	plan, err := job.PlanChunks(duration, ladder.SegmentSeconds, c.chunkSeconds)
	if err != nil {
		return err
	}
	if plan == nil {
		return fmt.Errorf("a %.1f s source is not chunked with --chunk-seconds %g (it must be longer than two chunks)", duration, c.chunkSeconds)
	}
	media := chunkMedia(plan)
	if err := readThrough(src); err != nil { // no run pays for a cold page cache
		return err
	}
	load0 := loadAvg()

	b := &bench{c: c, bin: bin, base: base, src: src}
	r, err := b.runAll(media)
	if err != nil {
		return err
	}
	rep := report{c: c, duration: duration, plan: plan, single: r.single, chunked: r.chunked, seq: r.seq, ph: r.ph, modelFrom: r.modelFrom}
	rep.write(w)
	if c.check {
		cr, err := chunkcheck.Compare(r.single.out, r.chunked.out, chunkcheck.PlanJoins(*plan)...)
		if err != nil {
			return fmt.Errorf("chunkcheck: %w", err)
		}
		fmt.Fprintf(w, "\nchunkcheck (chunked vs single pass):\n%s", cr)
	}
	fmt.Fprintf(w, "\nload average (1 min) at start %s, at end %s on %d CPUs: other load makes the runs noisy\n", load0, loadAvg(), runtime.NumCPU())
	if c.keep != "" {
		fmt.Fprintf(w, "runs kept under %s\n", c.keep)
	}
	return nil
}

// runs are what runAll measured.
type runs struct {
	single, chunked, seq *result // seq: the one-slot model run (nil without -model-run)
	ph                   phases
	modelFrom            string
}

// runAll runs the single pass, the chunked run and (with -model-run) the
// one-slot model run, and measures the model's phases from the last.
func (b *bench) runAll(media []float64) (r runs, err error) {
	c := b.c
	if r.single, err = b.runOne("single", c.workers, 0); err != nil {
		return r, err
	}
	if r.chunked, err = b.runOne("chunked", c.workers, c.chunkSeconds); err != nil {
		return r, err
	}
	if err := r.chunked.wasChunked(len(media)); err != nil {
		return r, err
	}
	modelSrc, slots := r.chunked, c.workers
	if c.modelRun {
		if r.seq, err = b.runOne("model", 1, c.chunkSeconds); err != nil {
			return r, err
		}
		if err := r.seq.wasChunked(len(media)); err != nil {
			return r, err
		}
		modelSrc, slots = r.seq, 1
	}
	r.modelFrom = modelSrc.name
	r.ph, err = measurePhases(modelSrc.jobs, modelSrc.jobID, modelSrc.sent, media, findChunkElapsed(modelSrc.out, len(media)), slots, finishFromLog(modelSrc.log))
	if err != nil {
		return r, fmt.Errorf("%s run: %w (log: %s)", modelSrc.name, err, modelSrc.log)
	}
	return r, nil
}

// source returns the source's path and duration (probed).
func source(c config, w io.Writer) (string, float64, error) {
	src := c.src
	if src == "" {
		spec := testmedia.ChunkSpec(testmedia.ChunkCFR, c.width, c.height)
		spec.Duration = c.seconds
		fmt.Fprintf(w, "source: %g s %dx%d 30 fps, noise, frame counter, %g dBFS %d Hz tone (cached in %s)...\n",
			c.seconds, c.width, c.height, testmedia.ChunkToneDBFS, testmedia.ChunkToneHz, testmedia.CacheDir())
		start := time.Now()
		var err error
		if src, err = testmedia.GenerateCached(spec); err != nil {
			return "", 0, fmt.Errorf("source: %w", err)
		}
		fmt.Fprintf(w, "source ready in %.1f s: %s\n", time.Since(start).Seconds(), src)
	}
	info, err := testmedia.Probe(src)
	if err != nil {
		return "", 0, fmt.Errorf("source: %w", err)
	}
	d := info.Format.Seconds()
	if d <= 0 {
		return "", 0, fmt.Errorf("source %s: no duration", src)
	}
	return src, d, nil
}

// readThrough reads a file once, to have it in the page cache.
func readThrough(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// chunkMedia returns each chunk's media seconds.
func chunkMedia(p *job.ChunkPlan) []float64 {
	out := make([]float64, len(p.Chunks))
	for i, c := range p.Chunks {
		end := c.End
		if end <= 0 {
			end = p.Duration
		}
		out[i] = end - c.Start
	}
	return out
}

// bench is what every run uses.
type bench struct {
	c    config
	bin  string
	base string
	src  string
}

// status is a job.json with the chunk counts of a chunked job.
type status struct {
	job.Status
	Chunks *struct {
		Total   int `json:"total"`
		Done    int `json:"done"`
		Running int `json:"running"`
	} `json:"chunks,omitempty"`
}

// result is one run.
type result struct {
	name          string
	workers       int
	chunkSeconds  float64
	jobID         string
	out, log      string
	sent          time.Time
	wall          time.Duration // send → finished_at
	cpu           time.Duration // user+system of `hlsfleet local` and its children
	status        status
	jobs          map[string]*jobSpan // by message id
	chunkJobCount int
}

// wasChunked checks that a chunked run did chunk, into n chunks.
func (r *result) wasChunked(n int) error {
	if r.status.Chunks == nil || r.status.Chunks.Total <= 1 {
		return fmt.Errorf("the %s run was not chunked: its job.json has no chunks object with a total above 1 (log: %s)", r.name, r.log)
	}
	if r.status.Chunks.Total != n || r.chunkJobCount != n {
		return fmt.Errorf("the %s run made %d chunks (job.json), %d chunk jobs (log), the plan %d (log: %s)",
			r.name, r.status.Chunks.Total, r.chunkJobCount, n, r.log)
	}
	return nil
}

// runOne runs the job through a fresh `hlsfleet local` with workers slots
// and --chunk-seconds chunkSeconds, and measures it.
func (b *bench) runOne(name string, workers int, chunkSeconds float64) (*result, error) {
	chunkFlag := "" // below 0: the flag left out (tests, on a binary without it)
	if chunkSeconds >= 0 {
		chunkFlag = " --chunk-seconds " + strconv.FormatFloat(chunkSeconds, 'f', -1, 64)
	}
	fmt.Fprintf(os.Stderr, "bench: %s run: hlsfleet local --workers %d%s\n", name, workers, chunkFlag)
	ctx, cancel := context.WithTimeout(context.Background(), b.c.timeout)
	defer cancel()
	dir := filepath.Join(b.base, name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "out")
	addr, err := peers.FreeAddr()
	if err != nil {
		return nil, err
	}
	r := &result{name: name, workers: workers, chunkSeconds: chunkSeconds, out: out, log: filepath.Join(dir, "local.log")}
	args := []string{"local", "--data", data, "--out", filepath.Join(dir, "inbox-out"), "--http", "",
		"--metrics-addr", addr, "--workers", strconv.Itoa(workers)}
	args = append(args, strings.Fields(chunkFlag)...)
	p, err := startProc(b.bin, r.log, args...)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()
	if err := waitReady(ctx, p, addr); err != nil {
		return nil, err
	}
	q, err := queue.Open(ctx, "local://"+filepath.Join(data, "queue"), queue.Options{})
	if err != nil {
		return nil, err
	}
	j := job.New("file://"+b.src, "file://"+out)
	r.jobID = j.ID
	r.sent = time.Now()
	_, err = queue.SendJob(ctx, q, j)
	q.Close()
	if err != nil {
		return nil, fmt.Errorf("%s run: sending the job: %w", name, err)
	}
	if r.status, err = waitPublished(ctx, p, out, r.log); err != nil {
		return nil, fmt.Errorf("%s run: %w", name, err)
	}
	end := time.Now()
	if r.status.FinishedAt != nil {
		end = *r.status.FinishedAt
	}
	r.wall = end.Sub(r.sent)
	ps := p.stop()
	stopped = true
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return nil, errors.New("no rusage for hlsfleet local (needs Linux)")
	}
	r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if r.jobs, err = parseLogFile(r.log); err != nil {
		return nil, err
	}
	_, chunks := split(r.jobs, r.jobID)
	r.chunkJobCount = len(chunks)
	fmt.Fprintf(os.Stderr, "bench: %s run: wall %.1f s, CPU %.1f s, %d chunk jobs\n", name, r.wall.Seconds(), r.cpu.Seconds(), r.chunkJobCount)
	return r, nil
}

// waitPublished follows out/job.json until it says published. A failed
// job, a retry or a dead letter in the worker's log (or the worker
// exiting) ends the wait with the error.
func waitPublished(ctx context.Context, p *proc, out, logPath string) (status, error) {
	var st status
	for {
		if data, err := os.ReadFile(filepath.Join(out, job.StatusName)); err == nil {
			st = status{}
			if json.Unmarshal(data, &st) == nil {
				switch st.State {
				case job.StatePublished:
					return st, nil
				case job.StateFailed:
					return st, fmt.Errorf("the job failed: %s (log: %s)", st.Error, logPath)
				}
			}
		}
		if jobs, err := parseLogFile(logPath); err == nil {
			for _, j := range jobs {
				if j.failed != "" {
					return st, fmt.Errorf("job %s: %s (log: %s)", j.jobID, j.failed, logPath)
				}
			}
		}
		if p.exited() {
			return st, fmt.Errorf("hlsfleet local exited early (log: %s)", logPath)
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("waiting for the job to be published: %w (state %q, log: %s)", ctx.Err(), st.State, logPath)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// report prints the figures of one invocation.
type report struct {
	c                    config
	duration             float64
	plan                 *job.ChunkPlan
	single, chunked, seq *result
	ph                   phases
	modelFrom            string
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (r report) write(w io.Writer) {
	c := r.c
	fmt.Fprintf(w, "\nhlsfleet chunk benchmark: one %.1f s %dx%d source, default ladder and extras, %d chunks of %g s (segments of %g s)\n\n",
		r.duration, c.width, c.height, len(r.plan.Chunks), r.plan.ChunkSeconds, r.plan.SegmentSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tworkers\t--chunk-seconds\twall s\tCPU s\tCPU %\tspeed x\t")
	for _, x := range []*result{r.single, r.chunked, r.seq} {
		if x == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%g\t%.1f\t%.1f\t%.0f\t%.2f\t\n", x.name, x.workers, x.chunkSeconds, x.wall.Seconds(), x.cpu.Seconds(),
			100*x.cpu.Seconds()/x.wall.Seconds()/float64(runtime.NumCPU()), r.duration/x.wall.Seconds())
	}
	tw.Flush()

	cpu := r.chunked.cpu.Seconds() / r.single.cpu.Seconds()
	fmt.Fprintf(w, "\n(a) CPU-seconds, chunked / single pass: %.1f / %.1f = %.3f  (target <= %.2f: %s)\n",
		r.chunked.cpu.Seconds(), r.single.cpu.Seconds(), cpu, targetCPURatio, verdict(cpu <= targetCPURatio))
	if r.seq != nil {
		fmt.Fprintf(w, "    model run (1 worker): %.1f / %.1f = %.3f\n", r.seq.cpu.Seconds(), r.single.cpu.Seconds(), r.seq.cpu.Seconds()/r.single.cpu.Seconds())
	}
	fmt.Fprintf(w, "(b) wall on this box (%d CPUs), %d workers of 1 slot, chunked / single pass: %.1f / %.1f s = %.3f\n",
		runtime.NumCPU(), c.workers, r.chunked.wall.Seconds(), r.single.wall.Seconds(), r.chunked.wall.Seconds()/r.single.wall.Seconds())

	ph := r.ph
	fmt.Fprintf(w, "\n(c) makespan model, each worker a box like this one with 1 slot, from the %s run's worker log:\n", r.modelFrom)
	if r.seq == nil {
		fmt.Fprintf(w, "    (chunk times measured %d at a time on this box's %d CPUs: pessimistic for a worker per box)\n", c.workers, runtime.NumCPU())
	}
	fmt.Fprintln(w, "    M(N) = plan + LS_N(pickup + c_i) + finish")
	fmt.Fprintln(w, "    LS_N: greedy list schedule, each chunk in plan order to the worker free first")
	fmt.Fprintf(w, "    plan   = %6.2f s  send → the parent job acknowledged (its pickup, probe, plan, chunk messages)\n", ph.plan)
	fmt.Fprintf(w, "    pickup = %6.2f s  median wait of a free slot for the next chunk message\n", ph.pickup)
	for i, x := range ph.chunks {
		fmt.Fprintf(w, "    c_%d    = %6.2f s  chunk %d (%.1f s of media): message received → acknowledged\n", i, x, i, ph.media[i])
	}
	fmt.Fprintf(w, "    finish = %6.2f s  %s\n", ph.finish, ph.finishHow)
	fmt.Fprintf(w, "    rate   = %6.3f s of a worker per media second (median c_i / media_i)\n", ph.rate())
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tN\tM(N) s\tsingle pass / M(N)\t")
	sw := r.single.wall.Seconds()
	for _, n := range modelWorkers {
		m := ph.makespan(n)
		fmt.Fprintf(tw, "\t%d\t%.1f\t%.2f\t\n", n, m, sw/m)
	}
	tw.Flush()
	if r.seq != nil {
		fmt.Fprintf(w, "    check: M(1) = %.1f s, the model run measured %.1f s\n", ph.makespan(1), r.seq.wall.Seconds())
	}

	hourPlan, err := job.PlanChunks(hourSeconds, r.plan.SegmentSeconds, r.plan.ChunkSeconds)
	if err != nil || hourPlan == nil {
		fmt.Fprintf(w, "    no 1-hour plan: %v\n", err)
		return
	}
	hourMedia := chunkMedia(hourPlan)
	single1h := sw * hourSeconds / r.duration
	lin := ph.extrapolate(hourSeconds, r.duration, hourMedia, true)
	con := ph.extrapolate(hourSeconds, r.duration, hourMedia, false)
	mLin, mCon := lin.makespan(hourWorkers), con.makespan(hourWorkers)
	fmt.Fprintf(w, "\n    1-hour source: %d chunks, c_i = rate x media_i, plan and pickup as measured;\n", len(hourMedia))
	fmt.Fprintf(w, "    single worker (single pass, scaled from this run's %.1f s): %.0f s\n", sw, single1h)
	fmt.Fprintf(w, "    M(%d) = %.1f + LS_%d(%.2f + %d x %.1f) + finish\n", hourWorkers, ph.plan, hourWorkers, ph.pickup, len(hourMedia), lin.chunks[0])
	fmt.Fprintf(w, "      finish x %.0f (scaled with the duration): M = %.0f s, M / single = %.4f = 1/%.1f  (target <= 1/12: %s)\n",
		hourSeconds/r.duration, mLin, mLin/single1h, single1h/mLin, verdict(mLin/single1h <= targetHourRatio))
	fmt.Fprintf(w, "      finish as measured:               M = %.0f s, M / single = %.4f = 1/%.1f\n", mCon, mCon/single1h, single1h/mCon)
}

// proc is a started hlsfleet process logging to a file.
type proc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func startProc(bin, logPath string, args ...string) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting hlsfleet %s: %w", args[0], err)
	}
	p := &proc{cmd: cmd, log: f, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, SIGKILL when the process has not gone in 30 s, and
// returns its state.
func (p *proc) stop() *os.ProcessState {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
	return p.cmd.ProcessState
}

// waitReady waits until addr's /readyz answers 200.
func waitReady(ctx context.Context, p *proc, addr string) error {
	return peers.WaitReady(ctx, addr, p.exited, p.log.Name())
}

// loadAvg returns the 1-minute load average, or "?" where /proc has none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
