package worker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/storage"
)

// StorageOutputs implements Outputs on the job's own output location: the
// master playlist is the publish point and job.json the status document.
type StorageOutputs struct{}

func openOutput(ctx context.Context, j *job.Job) (*storage.Bucket, error) {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return nil, fmt.Errorf("opening output %s: %w", j.Output, err)
	}
	return b, nil
}

// Published reports whether the job's master playlist exists. A live
// stream's master exists from its first segment on, so live-segment jobs
// are never "published" here: the job process checks the stream's state.
func (StorageOutputs) Published(ctx context.Context, j *job.Job) (bool, error) {
	if j.Kind == job.KindLiveSegment {
		return false, nil
	}
	b, err := openOutput(ctx, j)
	if err != nil {
		return false, err
	}
	defer b.Close()
	return b.Exists(ctx, job.MasterName)
}

// WriteStatus replaces <output>/job.json.
func (StorageOutputs) WriteStatus(ctx context.Context, j *job.Job, s job.Status) error {
	b, err := openOutput(ctx, j)
	if err != nil {
		return err
	}
	defer b.Close()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return b.WriteAll(ctx, job.StatusName, data, storage.WriterOptions{ContentType: "application/json"})
}

// Fingerprint identifies the input a dead letter was about: its URL, size
// and ETag as storage reports them.
func (StorageOutputs) Fingerprint(ctx context.Context, j *job.Job) string {
	loc, err := job.ParseLocation(j.Source)
	if err != nil {
		return ""
	}
	root, key := "s3://"+loc.Bucket, loc.Path
	if loc.Scheme == job.SchemeFile {
		root, key = "file:///", loc.Path[1:]
	}
	b, err := storage.Open(ctx, root)
	if err != nil {
		return ""
	}
	defer b.Close()
	a, err := b.Stat(ctx, key)
	if err != nil {
		return fmt.Sprintf("%s (unreadable: %v)", j.Source, err)
	}
	return fmt.Sprintf("%s size=%d etag=%s", j.Source, a.Size, a.ETag)
}
