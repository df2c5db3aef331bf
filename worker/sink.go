package worker

import (
	"context"
	"io"

	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// StorageSink is the pipeline's output in a storage bucket opened on the
// job's output URL. Segments stream to storage as they are made; the master
// playlist is created only if absent, so of two workers racing on one job
// exactly one publishes (the other's Close fails with storage.ErrExists).
// Nothing is deleted on failure: segments without a master are invisible,
// and deleting them could remove what a racing worker is about to publish.
type StorageSink struct {
	Ctx    context.Context
	Bucket *storage.Bucket
	// Replace makes the master an ordinary write that replaces an older
	// one (the transcode command's semantics) instead of a create-if-absent.
	Replace bool
}

// Create implements pipeline.Sink.
func (s *StorageSink) Create(name string) (io.WriteCloser, error) {
	return s.Bucket.NewWriter(s.Ctx, name, storage.WriterOptions{
		ContentType: storage.ContentType(name),
		IfNoneMatch: name == pipeline.MasterName && !s.Replace,
	})
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
