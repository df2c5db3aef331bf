// Command lambda measures the Lambda path against a bare transcode: a
// 1080p clip (default 10 s) sent as S3 events through the bootstrap under
// aws-lambda-rie, transcoded inline from and to the S3 peer, against
// `hlsfleet transcode` of the same clip from and to local files.
//
// Usage (from the repository root; `make bench` runs it):
//
//	go run ./bench/lambda -hlsfleet bin/hlsfleet -bootstrap bin/hlsfleet-lambda [-runs 3]
//
// The first invocation starts the bootstrap (cold); its time and the cold
// start (bootstrap process start to the first byte of the input read, from
// the bootstrap's "first input byte read" log line) are reported apart. Then
// warm invocations and bare transcodes alternate, each on a fresh object
// key, and the report gives their medians and the ratio warm / bare
// (target <= 1.5). The S3 and SQS peers are started with scripts/peers/*.sh
// when not running and stopped at the end. It exits non-zero only on
// errors, never on a missed target.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/internal/peers"
	"github.com/hlsfleet/hlsfleet/internal/rie"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/lambda"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// targetRatio is the target: warm Lambda path / bare transcode.
const targetRatio = 1.5

type options struct {
	hlsfleet, bootstrap string
	runs                int
	seconds             float64
	timeout             time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.hlsfleet, "hlsfleet", "", "the hlsfleet binary (required)")
	flag.StringVar(&o.bootstrap, "bootstrap", "", "the hlsfleet-lambda bootstrap (required)")
	flag.IntVar(&o.runs, "runs", 3, "warm invocations and bare transcodes each")
	flag.Float64Var(&o.seconds, "seconds", 10, "duration of the generated 1080p source")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit for each run")
	flag.Parse()
	if o.hlsfleet == "" || o.bootstrap == "" || o.runs < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(o options, out io.Writer) error {
	bin, boot, rieBin, err := findTools(o)
	if err != nil {
		return err
	}
	stop, err := peers.Ensure()
	if err != nil {
		return err
	}
	defer stop()

	base, err := os.MkdirTemp("", "hlsfleet-lambda-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	src, data, err := makeSource(base, o.seconds)
	if err != nil {
		return err
	}

	ctx := context.Background()
	name := fmt.Sprintf("lambda-bench-%d", time.Now().UnixNano())
	sc, err := queue.NewSQSClient(ctx)
	if err != nil {
		return err
	}
	qurl, dlq, err := queue.CreateSQSQueues(ctx, sc, name, 3)
	if err != nil {
		return err
	}
	defer queue.DeleteSQSQueues(ctx, sc, qurl, dlq) //nolint:errcheck
	root, err := makeBucket(ctx, name)
	if err != nil {
		return err
	}
	defer root.Close()

	emu, err := rie.Start(ctx, rie.Options{RIE: rieBin, Bootstrap: boot, Timeout: o.timeout, Env: []string{
		lambda.EnvQueueURL + "=" + qurl, lambda.EnvOutputURL + "=s3://" + name + "/out",
		lambda.EnvExec + "=" + bin, "AWS_LAMBDA_FUNCTION_NAME=hlsfleet-bench",
	}})
	if err != nil {
		return err
	}
	defer emu.Stop()

	b := &bench{o: o, bin: bin, base: base, src: src, data: data, name: name, root: root, emu: emu}
	load0 := loadAvg()
	r, err := b.measure(ctx)
	if err != nil {
		return err
	}
	for _, l := range r.Lines() {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintf(out, "load average (1 min) at start %s, at end %s on %d CPUs: other load makes the runs noisy\n",
		load0, loadAvg(), runtime.NumCPU())
	return nil
}

// findTools returns the absolute paths of the hlsfleet binary and the
// bootstrap, which must exist, and the aws-lambda-rie binary (found by
// rie.Find, else by scripts/peers/rie.sh).
func findTools(o options) (bin, boot, rieBin string, err error) {
	bin, err = filepath.Abs(o.hlsfleet)
	if err != nil {
		return "", "", "", err
	}
	boot, err = filepath.Abs(o.bootstrap)
	if err != nil {
		return "", "", "", err
	}
	for _, p := range []string{bin, boot} {
		if _, err := os.Stat(p); err != nil {
			return "", "", "", fmt.Errorf("%w (build with `make build`)", err)
		}
	}
	rieBin, err = rie.Find(".")
	if err != nil {
		if b, ierr := exec.Command("scripts/peers/rie.sh", "path").Output(); ierr == nil {
			rieBin, err = strings.TrimSpace(string(b)), nil
		}
	}
	if err != nil {
		return "", "", "", err
	}
	return bin, boot, rieBin, nil
}

// makeSource generates the 1080p source of seconds in dir and returns its
// path and its bytes.
func makeSource(dir string, seconds float64) (string, []byte, error) {
	src, err := testmedia.GenerateTo(dir, testmedia.Spec{Width: 1920, Height: 1080, Duration: seconds, Noise: true, Name: "lambda-source"})
	if err != nil {
		return "", nil, fmt.Errorf("generating the source: %w", err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: source %s (%g s 1920x1080 30 fps with noise, %d bytes)\n", src, seconds, len(data))
	return src, data, nil
}

// makeBucket creates the bucket name on the S3 peer (path style) and opens
// it.
func makeBucket(ctx context.Context, name string) (*storage.Bucket, error) {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return nil, fmt.Errorf("creating the bucket: %w", err)
	}
	return storage.Open(ctx, "s3://"+name)
}

// bench is one benchmark's fixtures: the source, the bucket the Lambda
// reads from and the emulator it runs under.
type bench struct {
	o                    options
	bin, base, src, name string
	data                 []byte
	root                 *storage.Bucket
	emu                  *rie.Emulator
}

// measure runs the cold invocation, then o.runs pairs of a bare transcode
// and a warm invocation, and reports their times.
func (b *bench) measure(ctx context.Context) (Report, error) {
	fmt.Fprintln(os.Stderr, "bench: cold invocation")
	cold, err := b.invoke(ctx, 0)
	if err != nil {
		return Report{}, err
	}
	coldStart, ok := firstByteMillis(b.emu.Logs())
	if !ok {
		return Report{}, fmt.Errorf("no %q line in the bootstrap's log", lambda.MsgFirstByte)
	}
	var warm, direct []float64
	for i := 1; i <= b.o.runs; i++ {
		fmt.Fprintf(os.Stderr, "bench: run %d/%d: bare transcode, then warm invocation\n", i, b.o.runs)
		d, err := b.bare(i)
		if err != nil {
			return Report{}, err
		}
		direct = append(direct, d.Seconds())
		w, err := b.invoke(ctx, i)
		if err != nil {
			return Report{}, err
		}
		warm = append(warm, w.Seconds())
	}
	return Report{Seconds: b.o.seconds, Cold: cold.Seconds(), ColdStartMs: coldStart, Warm: warm, Bare: direct}, nil
}

// invoke uploads the source as object in/clip-<i>.mp4, sends its S3 event
// to the Lambda and returns how long the invocation took; the Lambda must
// have published it inline.
func (b *bench) invoke(ctx context.Context, i int) (time.Duration, error) {
	key := fmt.Sprintf("in/clip-%02d.mp4", i)
	if err := b.root.WriteAll(ctx, key, b.data, storage.WriterOptions{}); err != nil {
		return 0, err
	}
	a, err := b.root.Stat(ctx, key)
	if err != nil {
		return 0, err
	}
	ev := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":%d,"eTag":%q}}}]}`,
		b.name, key, a.Size, a.ETag)
	ictx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	t0 := time.Now()
	body, err := b.emu.Invoke(ictx, []byte(ev))
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("invocation %d: %w\n%s", i, err, tail(b.emu.Logs()))
	}
	var r lambda.Response
	if err := json.Unmarshal(body, &r); err != nil || len(r.Results) != 1 || r.Results[0].Action != lambda.ActionPublished {
		return 0, fmt.Errorf("invocation %d did not publish inline: %s", i, body)
	}
	return d, nil
}

// bare times `hlsfleet transcode` of the source to local files.
func (b *bench) bare(i int) (time.Duration, error) {
	dst := filepath.Join(b.base, fmt.Sprintf("bare-%02d", i))
	cmd := exec.Command(b.bin, "transcode", "--log-level", "warn", b.src, dst)
	tailBuf := &strings.Builder{}
	cmd.Stderr = tailBuf
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("hlsfleet transcode: %w: %s", err, tail(tailBuf.String()))
	}
	d := time.Since(t0)
	os.RemoveAll(dst)
	return d, nil
}

var firstByteRE = regexp.MustCompile(`"msg":"` + regexp.QuoteMeta(lambda.MsgFirstByte) + `".*?"since_process_start_ms":([0-9.]+)`)

// firstByteMillis reads the cold start from the bootstrap's log.
func firstByteMillis(logs string) (float64, bool) {
	m := firstByteRE.FindStringSubmatch(logs)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
