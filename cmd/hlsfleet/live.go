package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

const livePushSynopsis = "live push --stream NAME [--segment-seconds S] [--start-seq N] [--no-pace] [--queue URL --output URL [--window N] [--event] [--ladder NAME]] INPUT TARGET"

// runLive dispatches the live subcommands.
func runLive(args []string) error {
	if len(args) == 0 || args[0] != "push" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Println("usage: hlsfleet " + livePushSynopsis)
			return errHelpShown
		}
		return usageErr("hlsfleet %s", livePushSynopsis)
	}
	return runLivePush(args[1:])
}

// runLivePush is an ingest stand-in: it encodes INPUT into source segments
// with an IDR every --segment-seconds, and writes each one, at real-time
// pace, to TARGET/live/<stream>/<seq>.ts (TARGET a folder, file:// or s3://
// URL), then TARGET/live/<stream>/END. With --queue it also sends each
// segment's live-segment job (FIFO group = stream, deduplication id =
// stream.seq), for fleets whose storage sends no events.
func runLivePush(args []string) error {
	fs := flag.NewFlagSet("live push", flag.ContinueOnError)
	stream := fs.String("stream", "", "stream name (letters, digits, '-', '_', '.')")
	segSeconds := fs.Float64("segment-seconds", 2, "source segment duration in seconds")
	startSeq := fs.Int64("start-seq", 0, "sequence number of the first segment")
	noPace := fs.Bool("no-pace", false, "write segments as fast as they are made instead of in real time")
	qflag := fs.String("queue", "", "also send each segment's job to this queue (SQS FIFO URL or local:///dir)")
	output := fs.String("output", "", "with --queue: the stream's output URL (folder, file:// or s3://)")
	window := fs.Int("window", 0, "with --queue: live playlist window in segments (default 6)")
	event := fs.Bool("event", false, "with --queue: EVENT playlists that keep every segment")
	ladder := fs.String("ladder", "", "with --queue: ladder preset of the jobs (default: default)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	pos, err := parseCommand(fs, args, livePushSynopsis, 2)
	if err != nil {
		return err
	}
	if *stream == "" {
		return usageErr("live push: --stream is required")
	}
	if why := checkStreamName(*stream); why != "" {
		return usageErr("live push: --stream %q %s", *stream, why)
	}
	if !(*segSeconds > 0 && *segSeconds <= job.MaxSegmentSeconds) {
		return usageErr("live push: --segment-seconds %v is not in (0, %d]", *segSeconds, job.MaxSegmentSeconds)
	}
	if *startSeq < 0 {
		return usageErr("live push: --start-seq %d is negative", *startSeq)
	}
	if (*qflag == "") != (*output == "") {
		return usageErr("live push: --queue and --output go together")
	}
	target, err := toURL(pos[1])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := newLogger(*logLevel).With(zap.String("stream", *stream))
	defer log.Sync() //nolint:errcheck
	b, err := storage.Open(ctx, target)
	if err != nil {
		return fmt.Errorf("opening the target %s: %w", target, err)
	}
	defer b.Close()
	p := &pusher{b: b, stream: *stream, target: strings.TrimRight(target, "/"), seq0: *startSeq, log: log}
	if *qflag != "" {
		qurl, err := queueURL(*qflag)
		if err != nil {
			return err
		}
		if p.output, err = toURL(*output); err != nil {
			return err
		}
		q, err := queue.Open(ctx, qurl, queue.Options{})
		if err != nil {
			return fmt.Errorf("opening queue %s: %w", qurl, err)
		}
		defer q.Close()
		p.q, p.window, p.event, p.ladder, p.segSeconds = q, *window, *event, *ladder, *segSeconds
	}
	opt := pipeline.CutOptions{Input: pos[0], SegmentSeconds: *segSeconds, Logger: log}
	if !*noPace {
		pc := newPacer(ctx)
		opt.Pace = pc.wait
	}
	if err := pipeline.CutLive(ctx, opt, func(s pipeline.CutSegment) error { return p.segment(ctx, s) }); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("live push stopped after %d segments: %w", p.n, ctx.Err())
		}
		return err
	}
	if err := p.end(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "hlsfleet live push: %d segments and END written to %s/live/%s/\n", p.n, p.target, p.stream)
	return nil
}

// checkStreamName returns why name cannot be a stream name, or "".
func checkStreamName(name string) string {
	j := job.New("file:///x", "file:///y", job.WithLive(name, 0, false))
	if err := j.Validate(); err != nil {
		return "may hold only letters, digits, '-', '_' and '.', at most 64, not starting with '.' or '-'"
	}
	return ""
}

// pusher writes source segments (and their jobs) as CutLive makes them.
type pusher struct {
	b              *storage.Bucket
	stream, target string
	seq0           int64
	n              int
	log            *zap.Logger

	q              queue.Queue
	output, ladder string
	window         int
	event          bool
	segSeconds     float64
}

func (p *pusher) key(name string) string { return path.Join("live", p.stream, name) }

func (p *pusher) segment(ctx context.Context, s pipeline.CutSegment) error {
	seq := p.seq0 + int64(s.Index)
	key := p.key(strconv.FormatInt(seq, 10) + ".ts")
	if err := p.b.WriteAll(ctx, key, s.Data, storage.WriterOptions{}); err != nil {
		return fmt.Errorf("writing segment %d: %w", seq, err)
	}
	p.n++
	p.log.Info("segment written", zap.Int64("seq", seq), zap.Int("bytes", len(s.Data)))
	return p.send(ctx, key, seq, false)
}

func (p *pusher) end(ctx context.Context) error {
	key := p.key("END")
	if err := p.b.WriteAll(ctx, key, nil, storage.WriterOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("writing the end marker: %w", err)
	}
	return p.send(ctx, key, 0, true)
}

func (p *pusher) send(ctx context.Context, key string, seq int64, end bool) error {
	if p.q == nil {
		return nil
	}
	opts := []job.Option{job.WithLive(p.stream, seq, end), job.WithLiveWindow(p.window, p.event), job.WithSegmentSeconds(p.segSeconds)}
	if p.ladder != "" {
		opts = append(opts, job.WithLadder(p.ladder))
	}
	j := job.New(p.target+"/"+key, p.output, opts...)
	return sendJob(ctx, p.q, j)
}

// sendJob sends j (queue.SendJob: a live job's FIFO group and
// deduplication id).
func sendJob(ctx context.Context, q queue.Queue, j *job.Job) error {
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		return fmt.Errorf("sending job %s: %w", j.ID, err)
	}
	return nil
}

// pacer holds a cut to real time: media time t may be passed on only once
// t seconds have gone by since the first call.
type pacer struct {
	ctx   context.Context
	now   func() time.Time
	sleep func(context.Context, time.Duration)
	t0    time.Time
}

func newPacer(ctx context.Context) *pacer {
	return &pacer{ctx: ctx, now: time.Now, sleep: func(ctx context.Context, d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}}
}

func (p *pacer) wait(media float64) {
	if p.t0.IsZero() {
		p.t0 = p.now().Add(-time.Duration(media * float64(time.Second)))
	}
	if d := p.t0.Add(time.Duration(media * float64(time.Second))).Sub(p.now()); d > 0 {
		p.sleep(p.ctx, d)
	}
}
