package lambda

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/worker"
)

// Environment of the function (besides the standard AWS variables).
const (
	EnvQueueURL         = "HLSFLEET_QUEUE_URL"          // required: the CPU fleet's queue, where long uploads go
	EnvGPUQueueURL      = "HLSFLEET_GPU_QUEUE_URL"      // optional: the GPU fleet's queue
	EnvLiveQueueURL     = "HLSFLEET_LIVE_QUEUE_URL"     // optional: the live FIFO queue; live segments go there grouped by stream (default: HLSFLEET_QUEUE_URL)
	EnvRules            = "HLSFLEET_RULES"              // optional: S3-event rules as JSON, the worker's --rules format (replaces HLSFLEET_OUTPUT_URL and HLSFLEET_LADDER)
	EnvOutputURL        = "HLSFLEET_OUTPUT_URL"         // optional: output prefix; the key's stem is appended
	EnvShortClipSeconds = "HLSFLEET_SHORT_CLIP_SECONDS" // optional: longest clip done inline (default 60)
	EnvDLQURL           = "HLSFLEET_DLQ_URL"            // optional: where permanent failures are parked
	EnvLadder           = "HLSFLEET_LADDER"             // optional: ladder preset (default "default")
	EnvExec             = "HLSFLEET_EXEC"               // optional: the hlsfleet binary (default: beside the bootstrap, then PATH)
)

// ErrConfig marks a misconfigured function.
var ErrConfig = errors.New("lambda: bad configuration")

// OutputRules returns the S3 event rules for an output prefix: objects
// under the prefix itself are ignored (outputs never trigger transcodes),
// live segments keep the default live rule, and every other object becomes
// a job writing to <outputURL>/<stem>/. An empty outputURL gives
// job.DefaultRules (output s3://{bucket}/hls/{stem}/).
func OutputRules(outputURL, ladder string) (job.Rules, error) {
	if ladder == "" {
		ladder = job.DefaultLadder
	}
	rules := job.DefaultRules()
	for i := range rules {
		if !rules[i].Ignore {
			rules[i].Ladder = ladder
		}
	}
	if outputURL != "" {
		loc, err := job.ParseLocation(outputURL)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %v", ErrConfig, EnvOutputURL, outputURL, err)
		}
		base := strings.TrimRight(outputURL, "/")
		var ignore []job.Rule
		if loc.Scheme == job.SchemeS3 {
			prefix := strings.Trim(loc.Path, "/")
			if prefix != "" {
				prefix += "/"
			}
			ignore = append(ignore, job.Rule{Bucket: loc.Bucket, Prefix: prefix, Ignore: true})
		}
		last := len(rules) - 1
		rules[last].Output = base + "/{stem}/"
		rules = append(ignore, rules...)
	}
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return rules, nil
}

// envRules returns the rules HLSFLEET_RULES gives, else OutputRules of
// HLSFLEET_OUTPUT_URL and HLSFLEET_LADDER. Setting HLSFLEET_RULES with
// either of the others is an error: one of them would be silently ignored.
func envRules() (job.Rules, error) {
	data := os.Getenv(EnvRules)
	if data == "" {
		return OutputRules(os.Getenv(EnvOutputURL), os.Getenv(EnvLadder))
	}
	for _, other := range []string{EnvOutputURL, EnvLadder} {
		if os.Getenv(other) != "" {
			return nil, fmt.Errorf("%w: %s and %s are both set: put the output and ladder in the rules", ErrConfig, EnvRules, other)
		}
	}
	rules, err := job.ParseRules([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, EnvRules, err)
	}
	return rules, nil
}

// FindExec finds the hlsfleet binary that runs inline jobs: $HLSFLEET_EXEC,
// else "hlsfleet" beside this executable, else on PATH.
func FindExec() (string, error) {
	if p := os.Getenv(EnvExec); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "hlsfleet")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("hlsfleet")
	if err != nil {
		return "", fmt.Errorf("%w: the hlsfleet binary is neither beside the bootstrap nor on PATH (set %s)", ErrConfig, EnvExec)
	}
	return p, nil
}

// FromEnv builds the bootstrap's Config from the environment: the queues it
// sends to, the rules, the inline runner (an `hlsfleet job-exec` child with
// the function's memory as its limit) and the probe (a probe-exec child of
// this executable; the first one logs the cold start measured from
// processStart).
func FromEnv(ctx context.Context, log *zap.Logger, processStart time.Time) (Config, error) {
	c := Config{Logger: log, WorkerID: WorkerID()}
	c.QueueURL = os.Getenv(EnvQueueURL)
	if c.QueueURL == "" {
		return c, fmt.Errorf("%w: %s is not set (the queue that long uploads go to)", ErrConfig, EnvQueueURL)
	}
	var err error
	if c.Queue, err = queue.Open(ctx, c.QueueURL, queue.Options{}); err != nil {
		return c, fmt.Errorf("%w: %s: %v", ErrConfig, EnvQueueURL, err)
	}
	if c.GPUURL = os.Getenv(EnvGPUQueueURL); c.GPUURL != "" {
		if c.GPUQueue, err = queue.Open(ctx, c.GPUURL, queue.Options{}); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrConfig, EnvGPUQueueURL, err)
		}
	}
	if c.LiveURL = os.Getenv(EnvLiveQueueURL); c.LiveURL != "" {
		if c.LiveURL == c.QueueURL {
			return c, fmt.Errorf("%w: %s must differ from %s (the live FIFO queue is read by its own workers)", ErrConfig, EnvLiveQueueURL, EnvQueueURL)
		}
		if c.LiveQueue, err = queue.Open(ctx, c.LiveURL, queue.Options{}); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrConfig, EnvLiveQueueURL, err)
		}
	}
	if u := os.Getenv(EnvDLQURL); u != "" {
		if c.DLQ, err = queue.Open(ctx, u, queue.Options{}); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrConfig, EnvDLQURL, err)
		}
	}
	if c.Rules, err = envRules(); err != nil {
		return c, err
	}
	c.ShortClipSeconds = DefaultShortClipSeconds
	if v := os.Getenv(EnvShortClipSeconds); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || !(s > 0) || s > 900 {
			return c, fmt.Errorf("%w: %s=%q: want seconds in (0, 900]", ErrConfig, EnvShortClipSeconds, v)
		}
		c.ShortClipSeconds = s
	}
	if v := os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"); v != "" {
		if mib, err := strconv.ParseInt(v, 10, 64); err == nil && mib > 0 {
			c.MemoryBytes = mib << 20
		}
	}
	exe, err := FindExec()
	if err != nil {
		return c, err
	}
	// --single-pass: an inline job is transcoded whole; splitting it into
	// chunk jobs (issue H) is the fleet's, which has the queue to send them
	// to and the workers to run them.
	r := &worker.ProcessRunner{Exe: exe, Args: []string{"job-exec", "--single-pass"}}
	if c.MemoryBytes > bootstrapBytes {
		r.MemoryLimit = c.MemoryBytes - bootstrapBytes
	}
	c.Runner = r
	var probed atomic.Bool
	c.Probe = func(ctx context.Context, url string) (*pipeline.Info, error) {
		var start time.Time
		if probed.CompareAndSwap(false, true) {
			start = processStart
		}
		return ChildProbe(ctx, url, start)
	}
	log.Info("configured", zap.String("queue", c.QueueURL), zap.String("gpu_queue", c.GPUURL), zap.String("live_queue", c.LiveURL),
		zap.Bool("dlq", c.DLQ != nil), zap.Float64("short_clip_seconds", c.ShortClipSeconds),
		zap.Int64("memory_mib", c.MemoryBytes>>20), zap.String("exec", exe))
	return c, nil
}
