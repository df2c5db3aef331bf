package jobexec

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// StorageSink is the pipeline's output in a storage bucket opened on the
// job's output URL. Segments stream to storage as they are made; the master
// playlist is created only if absent, so of two workers racing on one job
// exactly one publishes (the other's Close fails with storage.ErrExists).
// The sink records the names it created (Written) so that a run that
// cannot publish can delete them: a VOD job's attempt writes under names
// of its own (jobexec/attempt), so they are nobody else's.
type StorageSink struct {
	Ctx    context.Context
	Bucket *storage.Bucket
	// Replace makes the master an ordinary write that replaces an older
	// one (the transcode command's semantics) instead of a create-if-absent.
	Replace bool

	mu          sync.Mutex
	written     []string
	masterTried bool
}

// Create implements pipeline.Sink.
func (s *StorageSink) Create(name string) (io.WriteCloser, error) {
	s.mu.Lock()
	if name == job.MasterName {
		s.masterTried = true
	} else {
		s.written = append(s.written, name)
	}
	s.mu.Unlock()
	return s.Bucket.NewWriter(s.Ctx, name, storage.WriterOptions{
		ContentType: storage.ContentType(name),
		IfNoneMatch: name == job.MasterName && !s.Replace,
	})
}

// Written returns the names Create was called with, the master's
// excepted, and whether the master's create was tried.
func (s *StorageSink) Written() (names []string, masterTried bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.written...), s.masterTried
}

// Remove implements pipeline.Remover (the quality gate's dropped rungs,
// deleted only after this sink published the master).
func (s *StorageSink) Remove(name string) error {
	return s.Bucket.Delete(s.Ctx, name)
}

var (
	_ pipeline.Sink    = (*StorageSink)(nil)
	_ pipeline.Remover = (*StorageSink)(nil)
)

// Output is the transcode command's output, committed or aborted at the
// end: a local folder staged and renamed into place (master last), or an
// S3 prefix streamed to (master last, replacing an older one).
type Output interface {
	pipeline.Sink
	Commit() error
	Abort() error
}

// s3Output streams to S3; there is nothing to commit, and on failure
// nothing was published.
type s3Output struct{ *StorageSink }

func (s3Output) Commit() error { return nil }
func (s3Output) Abort() error  { return nil }

// OpenOutput opens dir, an s3:// URL or a local folder, as the transcode
// command's output. staging, when set, is the folder a parent process made
// for a local output's staged files.
func OpenOutput(ctx context.Context, dir, staging string) (Output, error) {
	if strings.HasPrefix(dir, "s3://") {
		b, err := storage.Open(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("opening the output %s: %w", dir, err)
		}
		return s3Output{&StorageSink{Ctx: ctx, Bucket: b, Replace: true}}, nil
	}
	if staging != "" {
		return pipeline.NewDirSinkIn(dir, staging)
	}
	return pipeline.NewDirSink(dir)
}
