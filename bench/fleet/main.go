// Command fleet measures what the fleet costs on top of a plain transcode:
// the same short source, transcoded N times (default 20) three ways.
//
// Usage:
//
//	go run ./bench/fleet -hlsfleet bin/hlsfleet [-jobs 20] [-keep DIR]
//
// The three runs:
//
//  1. direct: `hlsfleet transcode` run N times in sequence (default ladder);
//  2. local: `hlsfleet local --workers 1`, N jobs sent at once to its
//     embedded queue, sources and outputs on local files;
//  3. sqs+s3: one `hlsfleet worker --concurrency 1` on an SQS queue (fauxqs
//     peer), the source in an S3 bucket and the outputs written to it
//     (versitygw peer). Peers that are not running are started with
//     scripts/peers/{sqs,s3}.sh and stopped at the end.
//
// A fleet run's total wall is from the first send to the last job's
// finished_at in its job.json. Pickup latency is read from each job.json
// too: started_at - max(sent, the previous job's finished_at), i.e. how long
// a waiting job sat while the one slot was free (for the first job, send →
// start). The report gives total wall, per-job mean, overhead vs direct
// ((fleet - direct) / direct), pickup p50/p95 and PASS/MISS against the
// targets (overhead <= 5 %, pickup p50 <= 100 ms). It exits non-zero only on
// errors, never on a missed target.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/internal/peers"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// options is the command line.
type options struct {
	hlsfleet string        // path of the hlsfleet binary
	jobs     int           // jobs per run
	keep     string        // folder keeping the source and outputs; "" = temporary
	seconds  float64       // generated source duration
	width    int           // generated source size
	height   int           //
	timeout  time.Duration // limit for each run
	skipSQS  bool          // skip the SQS + S3 run
}

func main() {
	var o options
	var size string
	flag.StringVar(&o.hlsfleet, "hlsfleet", "", "path of the hlsfleet binary to benchmark (required)")
	flag.IntVar(&o.jobs, "jobs", 20, "jobs (transcodes) per run")
	flag.StringVar(&o.keep, "keep", "", "keep the source and every output under this folder")
	flag.Float64Var(&o.seconds, "seconds", 4, "duration of the generated source")
	flag.StringVar(&size, "size", "640x360", "size of the generated source")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit for each of the three runs")
	flag.BoolVar(&o.skipSQS, "skip-sqs", false, "skip the SQS + S3 run")
	flag.Parse()
	w, h, ok := strings.Cut(size, "x")
	var err1, err2 error
	o.width, err1 = strconv.Atoi(w)
	o.height, err2 = strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || o.width <= 0 || o.height <= 0 {
		fmt.Fprintf(os.Stderr, "bench: bad -size %q, want WxH\n", size)
		os.Exit(2)
	}
	if o.hlsfleet == "" || flag.NArg() != 0 || o.jobs < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// result is one run's figures.
type result struct {
	name   string
	total  time.Duration
	jobs   []jobTiming // nil for the direct run
	recvMs float64     // mean of the worker's receive-latency histogram, ms; <0 when unknown
}

func run(o options, out io.Writer) (err error) {
	bin, err := filepath.Abs(o.hlsfleet)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("hlsfleet binary (build it with `make build`): %w", err)
	}
	base := o.keep
	if base == "" {
		if base, err = os.MkdirTemp("", "hlsfleet-fleet-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	base, _ = filepath.Abs(base)
	src, err := testmedia.GenerateTo(base, testmedia.Spec{Width: o.width, Height: o.height, Duration: o.seconds, Name: "fleet-source"})
	if err != nil {
		return fmt.Errorf("generating the source: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: source %s (%gs %dx%d h264+aac), %d jobs per run\n", src, o.seconds, o.width, o.height, o.jobs)

	load0 := loadAvg()
	direct, err := runDirect(o, bin, src, filepath.Join(base, "direct"))
	if err != nil {
		return fmt.Errorf("direct run: %w", err)
	}
	results := []result{direct}
	local, err := runLocal(o, bin, src, filepath.Join(base, "local"))
	if err != nil {
		return fmt.Errorf("local run: %w", err)
	}
	results = append(results, local)
	if !o.skipSQS {
		remote, err := runSQS(o, bin, src, filepath.Join(base, "sqs"))
		if err != nil {
			return fmt.Errorf("sqs+s3 run: %w", err)
		}
		results = append(results, remote)
	}
	report(out, o, results)
	fmt.Fprintf(out, "load average (1 min) at start %s, at end %s on %d CPUs: other load makes the runs noisy\n",
		load0, loadAvg(), runtime.NumCPU())
	return nil
}

// loadAvg returns the 1-minute load average, or "?" where /proc has none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// runDirect transcodes src o.jobs times in sequence.
func runDirect(o options, bin, src, dir string) (result, error) {
	fmt.Fprintf(os.Stderr, "bench: direct: %d × hlsfleet transcode\n", o.jobs)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	// One untimed run first, so that no run pays for a cold page cache.
	if out, err := exec.CommandContext(ctx, bin, "transcode", src, filepath.Join(dir, "warmup")).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("warm-up transcode: %v: %s", err, lastLine(string(out)))
	}
	start := time.Now()
	for i := range o.jobs {
		dst := filepath.Join(dir, fmt.Sprintf("job%02d", i))
		cmd := exec.CommandContext(ctx, bin, "transcode", src, dst)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return result{}, fmt.Errorf("transcode %d: %v: %s", i, err, lastLine(stderr.String()))
		}
		if _, err := os.Stat(filepath.Join(dst, "master.m3u8")); err != nil {
			return result{}, fmt.Errorf("transcode %d wrote no master: %w", i, err)
		}
	}
	return result{name: "direct transcode", total: time.Since(start), recvMs: -1}, nil
}

// runLocal runs the jobs through `hlsfleet local` with one slot.
func runLocal(o options, bin, src, dir string) (result, error) {
	fmt.Fprintf(os.Stderr, "bench: local: hlsfleet local --workers 1, %d jobs\n", o.jobs)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	addr, err := peers.FreeAddr()
	if err != nil {
		return result{}, err
	}
	data := filepath.Join(dir, "data")
	p, err := startProc(bin, nil, filepath.Join(dir, "local.log"), "local", "--data", data, "--workers", "1", "--metrics-addr", addr)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	if err := waitReady(ctx, p, addr); err != nil {
		return result{}, err
	}
	q, err := queue.Open(ctx, "local://"+filepath.Join(data, "queue"), queue.Options{})
	if err != nil {
		return result{}, err
	}
	defer q.Close()
	outURL := func(i int) string { return "file://" + filepath.Join(dir, "out", fmt.Sprintf("job%02d", i)) }
	return runFleet(ctx, o, "hlsfleet local", q, p, addr, "file://"+src, outURL)
}

// runSQS runs the jobs through one `hlsfleet worker` on SQS, with S3 storage.
func runSQS(o options, bin, src, dir string) (res result, err error) {
	fmt.Fprintf(os.Stderr, "bench: sqs+s3: hlsfleet worker --concurrency 1, %d jobs\n", o.jobs)
	stopPeers, err := peers.Ensure()
	if err != nil {
		return result{}, err
	}
	defer stopPeers()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	name := fmt.Sprintf("bench-fleet-%d", time.Now().UnixNano())
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		return result{}, err
	}
	qurl, dlqURL, err := queue.CreateSQSQueues(ctx, sc, name, 4)
	if err != nil {
		return result{}, fmt.Errorf("creating queues: %w", err)
	}
	defer func() { _ = queue.DeleteSQSQueues(context.Background(), sc, qurl, dlqURL) }()
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return result{}, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return result{}, fmt.Errorf("creating bucket: %w", err)
	}
	root, err := storage.Open(ctx, "s3://"+name)
	if err != nil {
		return result{}, err
	}
	defer root.Close()
	data, err := os.ReadFile(src)
	if err != nil {
		return result{}, err
	}
	if err := root.WriteAll(ctx, "src/source.mp4", data, storage.WriterOptions{}); err != nil {
		return result{}, fmt.Errorf("uploading the source: %w", err)
	}

	addr, err := peers.FreeAddr()
	if err != nil {
		return result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	p, err := startProc(bin, nil, filepath.Join(dir, "worker.log"), "worker", "--queue", qurl, "--dlq", dlqURL,
		"--concurrency", "1", "--metrics-addr", addr)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	if err := waitReady(ctx, p, addr); err != nil {
		return result{}, err
	}
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: dlqURL})
	if err != nil {
		return result{}, err
	}
	defer q.Close()
	outURL := func(i int) string { return fmt.Sprintf("s3://%s/out/job%02d", name, i) }
	return runFleet(ctx, o, "sqs+s3 worker", q, p, addr, "s3://"+name+"/src/source.mp4", outURL)
}

// runFleet sends o.jobs jobs at once to q, waits (watching the worker's
// /metrics, which costs the worker almost nothing) until all are published,
// then reads each job.json for its timings.
func runFleet(ctx context.Context, o options, name string, q queue.Queue, p *proc, addr, srcURL string, outURL func(int) string) (result, error) {
	jobs := make([]*job.Job, o.jobs)
	for i := range jobs {
		jobs[i] = job.New(srcURL, outURL(i))
		if err := jobs[i].Validate(); err != nil {
			return result{}, err
		}
	}
	sent := make([]time.Time, o.jobs)
	for i := range jobs {
		sent[i] = time.Now()
		if _, err := queue.SendJob(ctx, q, jobs[i]); err != nil {
			return result{}, fmt.Errorf("sending job %d: %w", i, err)
		}
	}
	var recvMs float64 = -1
	for {
		text, err := scrape(ctx, addr)
		if err == nil {
			pub, _ := metricValue(text, `hlsfleet_jobs_total{outcome="published"}`)
			for _, bad := range []string{"failed", "dead_lettered", "crashed"} {
				if v, _ := metricValue(text, `hlsfleet_jobs_total{outcome="`+bad+`"}`); v > 0 {
					return result{}, fmt.Errorf("the worker counts %v job(s) %s; its log: %s", v, bad, p.logPath)
				}
			}
			if int(pub) >= o.jobs {
				sum, ok1 := metricValue(text, "hlsfleet_receive_latency_seconds_sum")
				n, ok2 := metricValue(text, "hlsfleet_receive_latency_seconds_count")
				if ok1 && ok2 && n > 0 {
					recvMs = sum / n * 1000
				}
				break
			}
		}
		if p.exited() {
			return result{}, fmt.Errorf("%s exited early; its log: %s", name, p.logPath)
		}
		select {
		case <-ctx.Done():
			return result{}, fmt.Errorf("waiting for %d jobs to be published: %w (log: %s)", o.jobs, ctx.Err(), p.logPath)
		case <-time.After(500 * time.Millisecond):
		}
	}
	timings := make([]jobTiming, o.jobs)
	for i, j := range jobs {
		st, err := readStatus(ctx, j.Output)
		if err != nil {
			return result{}, fmt.Errorf("job %d: %w", i, err)
		}
		if st.State != job.StatePublished || st.FinishedAt == nil || st.StartedAt.IsZero() {
			return result{}, fmt.Errorf("job %d: status %q, want published with its timings", i, st.State)
		}
		timings[i] = jobTiming{sent: sent[i], started: st.StartedAt, finished: *st.FinishedAt}
	}
	return result{name: name, total: span(timings), jobs: timings, recvMs: recvMs}, nil
}

func readStatus(ctx context.Context, out string) (job.Status, error) {
	var st job.Status
	b, err := storage.Open(ctx, out)
	if err != nil {
		return st, err
	}
	defer b.Close()
	data, err := b.ReadAll(ctx, job.StatusName)
	if err != nil {
		return st, fmt.Errorf("reading %s/%s: %w", out, job.StatusName, err)
	}
	return st, json.Unmarshal(data, &st)
}

// report prints the table.
func report(w io.Writer, o options, rs []result) {
	direct := rs[0].total
	fmt.Fprintf(w, "\nhlsfleet fleet benchmark: %d jobs of one %gs %dx%d h264+aac source, default ladder, 1 job slot\n\n",
		o.jobs, o.seconds, o.width, o.height)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttotal wall\tper job\toverhead\tpickup p50\tpickup p95\toverhead<=5%\tpickup p50<=100ms\t")
	for _, r := range rs {
		mean := r.total / time.Duration(o.jobs)
		if r.jobs == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t\n", r.name, secs(r.total), secs(mean))
			continue
		}
		ov := overheadPct(r.total, direct)
		pk := pickups(r.jobs)
		p50, p95 := percentile(pk, 50), percentile(pk, 95)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.1f%%\t%s\t%s\t%s\t%s\t\n", r.name, secs(r.total), secs(mean), ov,
			millis(p50), millis(p95), verdict(ov <= targetOverheadPct), verdict(p50 <= targetPickupP50))
	}
	tw.Flush()
	fmt.Fprintln(w, "\noverhead = (fleet total - direct total) / direct total; fleet total = first send → last job's finished_at.")
	fmt.Fprintln(w, "pickup = started_at - max(sent, previous job's finished_at), from each job.json: the time a waiting job")
	fmt.Fprintln(w, "sat while the slot was free (status write, ack, receive, duplicate check).")
	for _, r := range rs {
		if r.jobs == nil {
			continue
		}
		qw := queueWaits(r.jobs)
		line := fmt.Sprintf("%s: first job send → start %s; queue wait incl. backlog p50 %s, max %s",
			r.name, millis(pickups(r.jobs)[0]), secs(percentile(qw, 50)), secs(percentile(qw, 100)))
		if r.recvMs >= 0 {
			line += fmt.Sprintf("; /metrics receive latency mean %.0f ms (sent → received, backlog incl.)", r.recvMs)
		}
		fmt.Fprintln(w, line)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func millis(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// proc is a started hlsfleet process logging to a file.
type proc struct {
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{}
}

func startProc(bin string, env []string, logPath string, args ...string) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting hlsfleet %s: %w", args[0], err)
	}
	p := &proc{cmd: cmd, logPath: logPath, log: f, done: make(chan struct{})}
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

// stop sends SIGTERM, and SIGKILL when the process has not gone in 15 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// waitReady waits until addr's /readyz answers 200.
func waitReady(ctx context.Context, p *proc, addr string) error {
	return peers.WaitReady(ctx, addr, p.exited, p.logPath)
}

func scrape(ctx context.Context, addr string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("/metrics: %s", resp.Status)
	}
	return string(b), err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
