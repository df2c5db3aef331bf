package jobexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// Source is a job's input as the pipeline opens it: a local path, or a
// reader over an S3 object (range requests with read-ahead).
type Source struct {
	Path   string        // local file; empty when Reader is set
	Reader io.ReadSeeker // S3 object
	Size   int64         // bytes behind Reader
	close  func()
}

// Close releases the reader and its bucket.
func (s *Source) Close() {
	if s.close != nil {
		s.close()
	}
}

// OpenSource opens url: an s3:// or file:// URL, or a local path (the
// transcode command's). A missing S3 object is pipeline.ErrNotMedia (the
// input's fault); a malformed URL is job.ErrInvalid.
func OpenSource(ctx context.Context, url string) (*Source, error) {
	if !strings.Contains(url, "://") {
		return &Source{Path: url}, nil
	}
	loc, err := job.ParseLocation(url)
	if err != nil {
		return nil, err
	}
	if loc.Scheme != job.SchemeS3 {
		return &Source{Path: loc.Path}, nil
	}
	b, err := storage.Open(ctx, "s3://"+loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("opening the source bucket: %w", err)
	}
	r, size, err := b.OpenSeeker(ctx, loc.Path)
	if errors.Is(err, storage.ErrNotExist) {
		b.Close()
		return nil, fmt.Errorf("%w: %s does not exist", pipeline.ErrNotMedia, url)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("opening the source: %w", err)
	}
	return &Source{Reader: r, Size: size, close: func() { r.Close(); b.Close() }}, nil
}
