// Package ingest is the engine of `hlsfleet live push`, a live encoder
// stand-in: it cuts an input into source segments (pipeline.CutLive) and
// writes each one, as it is made and at real-time pace, to
// TARGET/live/<stream>/<seq>.ts, then TARGET/live/<stream>/END; optionally
// it sends each segment's live-segment job (queue.SendJob: FIFO group =
// stream, deduplication id = stream.seq), for fleets whose storage sends no
// events. It links libav (through pipeline), so it sits apart from the pure
// live package.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// EndName is the object that ends a stream, after its last segment.
const EndName = "END"

// Config is one push.
type Config struct {
	Input          string  // local path of the input
	Stream         string  // the stream's name (a valid job.Live stream)
	SegmentSeconds float64 // source segment duration, in [job.MinSegmentSeconds, job.MaxSegmentSeconds]
	StartSeq       int64   // sequence number of the first segment
	Pace           bool    // hold the push to real time (else as fast as segments are made)

	// Target is the URL the segments go under (a trailing '/' is ignored)
	// and Bucket the storage opened on it.
	Target string
	Bucket *storage.Bucket

	// Queue, when set, gets each segment's job and then END's: sources
	// under Target, output Output, playlists of Window segments (0: the
	// default) or EVENT, ladder preset Ladder ("": the default).
	Queue  queue.Queue
	Output string
	Window int
	Event  bool
	Ladder string

	Logger *zap.Logger // nil: no logging
}

// Push cuts cfg.Input and writes its segments and END, returning the number
// of segments written. A push stopped by ctx says how far it got.
func Push(ctx context.Context, cfg Config) (int, error) {
	if cfg.Bucket == nil || cfg.Stream == "" {
		return 0, errors.New("ingest: Push needs a stream name and a target bucket")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	p := &pusher{cfg: cfg, target: strings.TrimRight(cfg.Target, "/")}
	opt := pipeline.CutOptions{Input: cfg.Input, SegmentSeconds: cfg.SegmentSeconds, Logger: cfg.Logger}
	if cfg.Pace {
		opt.Pace = newPacer(ctx).wait
	}
	if err := pipeline.CutLive(ctx, opt, func(s pipeline.CutSegment) error { return p.segment(ctx, s) }); err != nil {
		if ctx.Err() != nil {
			return p.n, fmt.Errorf("live push stopped after %d segments: %w", p.n, ctx.Err())
		}
		return p.n, err
	}
	return p.n, p.end(ctx)
}

// pusher writes source segments (and their jobs) as CutLive makes them.
type pusher struct {
	cfg    Config
	target string // cfg.Target without a trailing '/'
	n      int    // segments written
}

func (p *pusher) key(name string) string { return path.Join("live", p.cfg.Stream, name) }

func (p *pusher) segment(ctx context.Context, s pipeline.CutSegment) error {
	seq := p.cfg.StartSeq + int64(s.Index)
	key := p.key(strconv.FormatInt(seq, 10) + ".ts")
	if err := p.cfg.Bucket.WriteAll(ctx, key, s.Data, storage.WriterOptions{}); err != nil {
		return fmt.Errorf("writing segment %d: %w", seq, err)
	}
	p.n++
	p.cfg.Logger.Info("segment written", zap.Int64("seq", seq), zap.Int("bytes", len(s.Data)))
	return p.send(ctx, key, seq, false)
}

func (p *pusher) end(ctx context.Context) error {
	key := p.key(EndName)
	if err := p.cfg.Bucket.WriteAll(ctx, key, nil, storage.WriterOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("writing the end marker: %w", err)
	}
	return p.send(ctx, key, 0, true)
}

func (p *pusher) send(ctx context.Context, key string, seq int64, end bool) error {
	if p.cfg.Queue == nil {
		return nil
	}
	opts := []job.Option{job.WithLive(p.cfg.Stream, seq, end), job.WithLiveWindow(p.cfg.Window, p.cfg.Event),
		job.WithSegmentSeconds(p.cfg.SegmentSeconds)}
	if p.cfg.Ladder != "" {
		opts = append(opts, job.WithLadder(p.cfg.Ladder))
	}
	j := job.New(p.target+"/"+key, p.cfg.Output, opts...)
	if _, err := queue.SendJob(ctx, p.cfg.Queue, j); err != nil {
		return fmt.Errorf("sending job %s: %w", j.ID, err)
	}
	return nil
}
