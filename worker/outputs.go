package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/storage"
)

// OutputHolder is implemented by Outputs that can keep a job's output
// location open while the job runs: the worker calls Hold when it takes a
// job and the returned release when it is done with it, and the Published
// and WriteStatus calls for the job in between reuse one open location.
type OutputHolder interface {
	Hold(j *job.Job) (release func())
}

// StorageOutputs implements Outputs on the job's own output location: the
// master playlist is the publish point and job.json the status document.
//
// The zero value opens the output location for each call. One from
// NewStorageOutputs is also an OutputHolder: while a job is held, its
// output is opened once, on first use, and closed at the last release.
type StorageOutputs struct {
	held *heldOutputs // nil: nothing is held
}

// NewStorageOutputs returns StorageOutputs that keep a held job's output
// open (OutputHolder).
func NewStorageOutputs() StorageOutputs {
	return StorageOutputs{held: &heldOutputs{m: map[string]*heldOutput{}}}
}

// heldOutputs are the output locations of the held jobs, by output URL;
// jobs with the same output (a redelivery running beside the first
// delivery) share one.
type heldOutputs struct {
	mu sync.Mutex
	m  map[string]*heldOutput
}

type heldOutput struct {
	refs int
	b    *storage.Bucket // nil until first used
}

// Hold implements OutputHolder.
func (o StorageOutputs) Hold(j *job.Job) (release func()) {
	h := o.held
	if h == nil {
		return func() {}
	}
	h.mu.Lock()
	e := h.m[j.Output]
	if e == nil {
		e = &heldOutput{}
		h.m[j.Output] = e
	}
	e.refs++
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if e.refs--; e.refs > 0 {
				return
			}
			delete(h.m, j.Output)
			if e.b != nil {
				e.b.Close()
			}
		})
	}
}

// output returns the job's output location and what to call when done with
// it: the held one, opened now if this is its first use, or one opened for
// this call alone.
func (o StorageOutputs) output(ctx context.Context, j *job.Job) (*storage.Bucket, func(), error) {
	if h := o.held; h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		if e := h.m[j.Output]; e != nil {
			if e.b == nil {
				b, err := openOutput(ctx, j)
				if err != nil {
					return nil, nil, err
				}
				e.b = b
			}
			return e.b, func() {}, nil
		}
	}
	b, err := openOutput(ctx, j)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { b.Close() }, nil
}

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
func (o StorageOutputs) Published(ctx context.Context, j *job.Job) (bool, error) {
	if j.Kind == job.KindLiveSegment {
		return false, nil
	}
	b, done, err := o.output(ctx, j)
	if err != nil {
		return false, err
	}
	defer done()
	return b.Exists(ctx, job.MasterName)
}

// WriteStatus replaces <output>/job.json.
func (o StorageOutputs) WriteStatus(ctx context.Context, j *job.Job, s job.Status) error {
	b, done, err := o.output(ctx, j)
	if err != nil {
		return err
	}
	defer done()
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
