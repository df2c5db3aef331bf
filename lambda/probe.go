package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// ProbeExecArg is the bootstrap's hidden mode that probes one source in a
// child process: `hlsfleet-lambda probe-exec URL` prints the
// pipeline.Info as JSON and exits 0, 2 (the input is at fault) or 1.
const ProbeExecArg = "probe-exec"

// EnvProcessStart carries the bootstrap's start time (Unix nanoseconds) to
// the first probe child, which logs the cold start when it reads the
// input's first byte.
const EnvProcessStart = "HLSFLEET_PROCESS_START"

// MsgFirstByte is the log message of that cold-start line; its field
// since_process_start_ms is the cold start (the benchmark reads it).
const MsgFirstByte = "first input byte read"

// ProbeMain is the probe-exec child: it probes the source at url (s3:// by
// range reads, file:// or a path) and writes the description to stdout.
func ProbeMain(args []string, stdout, stderr io.Writer, log *zap.Logger) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "hlsfleet: usage: hlsfleet-lambda probe-exec URL")
		return 2
	}
	info, err := probeHere(context.Background(), args[0], log)
	if err != nil {
		fmt.Fprintf(stderr, "hlsfleet: probing %s: %v\n", args[0], err)
		if errors.Is(err, pipeline.ErrInput) || errors.Is(err, job.ErrPermanent) {
			return 2
		}
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(info); err != nil {
		fmt.Fprintf(stderr, "hlsfleet: %v\n", err)
		return 1
	}
	return 0
}

func probeHere(ctx context.Context, url string, log *zap.Logger) (*pipeline.Info, error) {
	loc, err := job.ParseLocation(url)
	if err != nil {
		return nil, err
	}
	if loc.Scheme == job.SchemeFile {
		return pipeline.ProbeSource(pipeline.Source{Path: loc.Path, Name: url}, pipeline.Limits{})
	}
	b, err := storage.Open(ctx, "s3://"+loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("opening the source bucket: %w", err)
	}
	defer b.Close()
	r, size, err := b.OpenSeeker(ctx, loc.Path)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", pipeline.ErrNotMedia, url)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the source: %w", err)
	}
	defer r.Close()
	var rs io.ReadSeeker = r
	if v := os.Getenv(EnvProcessStart); v != "" {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			rs = &firstByte{ReadSeeker: r, start: time.Unix(0, ns), log: log, source: url}
		}
	}
	return pipeline.ProbeSource(pipeline.Source{Reader: rs, Size: size, Name: url}, pipeline.Limits{})
}

// firstByte logs the time from process start to the first byte read.
type firstByte struct {
	io.ReadSeeker
	start  time.Time
	log    *zap.Logger
	source string
	once   sync.Once
}

func (f *firstByte) Read(p []byte) (int, error) {
	n, err := f.ReadSeeker.Read(p)
	if n > 0 {
		f.once.Do(func() {
			f.log.Info(MsgFirstByte, zap.String("source", f.source),
				zap.Float64("since_process_start_ms", float64(time.Since(f.start).Microseconds())/1000))
		})
	}
	return n, err
}

// ErrProbeCrashed says the probe child died by a signal: libav crashed on
// the input, or it ran out of memory.
var ErrProbeCrashed = fault.New(fault.Crashed, "probe process crashed")

// ChildProbe probes url in a child copy of this executable (the bootstrap's
// probe-exec mode), so a libav crash on a hostile upload costs one record,
// never the invocation. processStart, when not zero, is passed on for the
// cold-start log line.
func ChildProbe(ctx context.Context, url string, processStart time.Time) (*pipeline.Info, error) {
	var out bytes.Buffer
	var env []string
	if !processStart.IsZero() {
		env = append(env, EnvProcessStart+"="+strconv.FormatInt(processStart.UnixNano(), 10))
	}
	child := protocol.Child{Name: "probe process", Crashed: ErrProbeCrashed, Options: isolate.Options{
		Args: []string{ProbeExecArg, url}, Env: env, Stdout: &out,
	}}
	if err := child.Wait(ctx); err != nil {
		return nil, err
	}
	var info pipeline.Info
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return nil, fmt.Errorf("probe process: bad output: %w", err)
	}
	return &info, nil
}
