package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/live/ingest"
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
	if job.CheckStreamName(*stream) != "" {
		return usageErr("live push: --stream %q may hold only letters, digits, '-', '_' and '.', at most 64, not starting with '.' or '-'", *stream)
	}
	if why := job.SegmentSecondsProblem(*segSeconds); why != "" {
		return usageErr("live push: --segment-seconds %s", why)
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
	cfg := ingest.Config{Input: pos[0], Stream: *stream, SegmentSeconds: *segSeconds, StartSeq: *startSeq, Pace: !*noPace,
		Target: target, Bucket: b, Logger: log}
	if *qflag != "" {
		qurl, err := queueURL(*qflag)
		if err != nil {
			return err
		}
		if cfg.Output, err = toURL(*output); err != nil {
			return err
		}
		q, err := queue.Open(ctx, qurl, queue.Options{})
		if err != nil {
			return fmt.Errorf("opening queue %s: %w", qurl, err)
		}
		defer q.Close()
		cfg.Queue, cfg.Window, cfg.Event, cfg.Ladder = q, *window, *event, *ladder
	}
	n, err := ingest.Push(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "hlsfleet live push: %d segments and END written to %s/live/%s/\n", n, strings.TrimRight(target, "/"), *stream)
	return nil
}
