package jobexec

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// TranscodeConfig is one run of the transcode command: an input and an
// output (each a local path or an s3:// URL) and the pipeline's settings.
type TranscodeConfig struct {
	Input, Output string
	// Staging is the folder a parent process made for a local Output's
	// staged files; "" makes one in Output.
	Staging     string
	Ladder      *ladders.Ladder
	SegmentType pipeline.SegmentType
	Accel       pipeline.Accel // "" means cpu
	Caps        *pipeline.Caps // a parent's accelerator probe; nil: probe here if needed
	Limits      pipeline.Limits
	MP4         string // the rung also written as a progressive MP4 ("": the ladder's)
	Quality     pipeline.QualityOptions
	Storyboard  pipeline.StoryboardOptions
	Progress    func(pipeline.Progress) // may be nil
	Logger      *zap.Logger             // nil: no logs
}

// Transcode runs the pipeline from cfg.Input into cfg.Output and publishes
// it: a local output is staged and committed (master last) only when the
// transcode succeeded, and aborted otherwise; an S3 output is streamed to,
// master last. The result's Master, Poster and MP4 name are locations
// under cfg.Output (a path, or an s3:// URL).
func Transcode(ctx context.Context, cfg TranscodeConfig) (*pipeline.Result, error) {
	sink, err := OpenOutput(ctx, cfg.Output, cfg.Staging)
	if err != nil {
		return nil, err
	}
	src, err := OpenSource(ctx, cfg.Input)
	if err != nil {
		_ = sink.Abort()
		return nil, err
	}
	defer src.Close()
	opt := pipeline.Options{
		Input:       src.Path,
		Reader:      src.Reader,
		InputSize:   src.Size,
		Ladder:      cfg.Ladder,
		SegmentType: cfg.SegmentType,
		Accel:       cfg.Accel,
		Caps:        cfg.Caps,
		Limits:      cfg.Limits,
		Logger:      cfg.Logger,
		MP4:         cfg.MP4,
		Quality:     cfg.Quality,
		Storyboard:  cfg.Storyboard,
		Progress:    cfg.Progress,
	}
	res, err := pipeline.Transcode(ctx, opt, sink)
	if err != nil {
		_ = sink.Abort()
		return nil, fmt.Errorf("transcoding %s: %w", cfg.Input, err)
	}
	if err := sink.Commit(); err != nil {
		_ = sink.Abort()
		return nil, fmt.Errorf("publishing to %s: %w", cfg.Output, err)
	}
	res.Master = joinLocation(cfg.Output, job.MasterName)
	if res.Poster != "" {
		res.Poster = joinLocation(cfg.Output, res.Poster)
	}
	if res.MP4 != nil {
		res.MP4.Name = joinLocation(cfg.Output, res.MP4.Name)
	}
	return res, nil
}

// joinLocation is name under dir, an s3:// URL or a local path.
func joinLocation(dir, name string) string {
	if strings.HasPrefix(dir, "s3://") {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}
