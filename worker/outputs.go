package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/chunks"
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

// ErrStatusFinal is WriteStatus's answer when job.json already says
// published and the write would replace it: published is final
// (job.MayReplace), so the write is dropped. A publisher that gets it knows
// that another attempt or a repair came first, and sends no published
// event of its own.
var ErrStatusFinal = errors.New("job.json already says published; the status write was dropped")

// WriteStatus writes s as <output>/job.json by compare-and-swap over the
// document there: it reads the document and its ETag, and writes with
// If-Match (If-None-Match when there is none), reading again when another
// write came between. A document that says published is never replaced:
// the write returns ErrStatusFinal, or nil when that document is s itself
// (an earlier try of this write landed).
func (o StorageOutputs) WriteStatus(ctx context.Context, j *job.Job, s job.Status) error {
	b, done, err := o.output(ctx, j)
	if err != nil {
		return err
	}
	defer done()
	return swapStatus(ctx, b, func(cur *job.Status) (*job.Status, error) {
		switch {
		case cur == nil || job.MayReplace(*cur, s):
			keepChunks(cur, &s)
			return &s, nil
		case samePublish(*cur, s):
			return nil, nil
		}
		return nil, ErrStatusFinal
	})
}

// keepChunks carries a chunked job's figures over from cur into s, a
// document written whole (a redelivery of the job says running, a shutdown
// queued) that does not say published and has none of its own: the chunk
// workers' figures stay, and so does the progress they add up to.
func keepChunks(cur, s *job.Status) {
	if cur == nil || cur.Chunks == nil || s.Chunks != nil || s.State == job.StatePublished {
		return
	}
	c := *cur.Chunks
	s.Chunks = &c
	if s.State != job.StateFailed {
		s.Progress = max(s.Progress, c.Tally())
	}
}

// UpdateStatus implements StatusUpdater: change applied to job.json by
// compare-and-swap (swapStatus).
func (o StorageOutputs) UpdateStatus(ctx context.Context, j *job.Job, change func(cur *job.Status) *job.Status) error {
	b, done, err := o.output(ctx, j)
	if err != nil {
		return err
	}
	defer done()
	return swapStatus(ctx, b, func(cur *job.Status) (*job.Status, error) { return change(cur), nil })
}

// MarkChunksSent implements ChunkPlans: the output's chunks.json records
// that the chunk jobs of round of plan planID were sent.
func (o StorageOutputs) MarkChunksSent(ctx context.Context, j *job.Job, planID string, round int) error {
	b, done, err := o.output(ctx, j)
	if err != nil {
		return err
	}
	defer done()
	return chunks.Open(b).MarkSent(ctx, planID, round)
}

// MarkChunkFailed implements ChunkPlans: chunk job j's chunk recorded
// failed in the output's chunks.json (chunks.Store.FailChunk).
func (o StorageOutputs) MarkChunkFailed(ctx context.Context, j *job.Job, reason string) error {
	if j.Chunk == nil {
		return nil
	}
	b, done, err := o.output(ctx, j)
	if err != nil {
		return err
	}
	defer done()
	return chunks.Open(b).FailChunk(ctx, j.Chunk.Index, j.Chunk.Count, reason)
}

// samePublish reports whether cur is the published document s.
func samePublish(cur, s job.Status) bool {
	return s.State == job.StatePublished && cur.JobID == s.JobID && cur.Attempt == s.Attempt &&
		cur.Worker == s.Worker && cur.AttemptID == s.AttemptID && cur.PublishedBy == s.PublishedBy
}

// swapAttempts bounds swapStatus's read-modify-write rounds.
const swapAttempts = 32

// swapStatus is one compare-and-swap of job.json in b: next gets the
// document there (nil when there is none or it does not parse) and returns
// the one to write, or nil to write nothing (and its error, returned as
// is). A write that loses to another (ErrPrecondition, ErrExists) reads
// again, after a short random pause, up to swapAttempts times.
func swapStatus(ctx context.Context, b *storage.Bucket, next func(cur *job.Status) (*job.Status, error)) error {
	for range swapAttempts {
		data, attrs, err := b.ReadAllAttrs(ctx, job.StatusName)
		exists := err == nil
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		var cur *job.Status
		if exists {
			var st job.Status
			if json.Unmarshal(data, &st) == nil {
				cur = &st
			}
		}
		s, err := next(cur)
		if s == nil || err != nil {
			return err
		}
		out, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		opts := storage.WriterOptions{ContentType: "application/json", IfNoneMatch: !exists}
		if exists {
			opts.IfMatch = attrs.ETag
		}
		err = b.WriteAll(ctx, job.StatusName, out, opts)
		if !errors.Is(err, storage.ErrPrecondition) && !errors.Is(err, storage.ErrExists) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond * time.Duration(1+rand.IntN(20))):
		}
	}
	return fmt.Errorf("writing %s: %d writes in a row lost to others", job.StatusName, swapAttempts)
}

// RepairStatus implements StatusRepairer: when the master exists and
// job.json does not say published, it writes the published document (the
// stale one's job, source, attempt and start; FinishedAt the master's
// time; the publishing attempt from the master's object names when they
// carry one; RepairedBy from by) by compare-and-swap. It also deletes
// other attempts' leftovers in the output (attempt.Clean).
func (o StorageOutputs) RepairStatus(ctx context.Context, j *job.Job, by job.Status) (job.Status, bool, error) {
	b, done, err := o.output(ctx, j)
	if err != nil {
		return job.Status{}, false, err
	}
	defer done()
	master, ma, err := b.ReadAllAttrs(ctx, job.MasterName)
	if errors.Is(err, storage.ErrNotExist) {
		return job.Status{}, false, nil
	}
	if err != nil {
		return job.Status{}, false, err
	}
	// A redelivery of a published output is where a dead or losing
	// attempt's leftovers are found: clean them (best effort; what stays is
	// cleaned by the next run of the output).
	_, _, _ = attempt.Clean(ctx, b)
	var wrote *job.Status
	err = swapStatus(ctx, b, func(cur *job.Status) (*job.Status, error) {
		wrote = nil
		if cur != nil && cur.State == job.StatePublished {
			return nil, nil
		}
		st := repairedStatus(cur, j, by, master, ma.ModTime)
		wrote = &st
		return wrote, nil
	})
	if err != nil || wrote == nil {
		return job.Status{}, false, err
	}
	return *wrote, true, nil
}

// repairedStatus is the published document that replaces cur (nil: none)
// for an output whose master (written at at) exists.
func repairedStatus(cur *job.Status, j *job.Job, by job.Status, master []byte, at time.Time) job.Status {
	st := job.Status{JobID: j.ID, Source: j.Source, Output: j.Output, Attempt: by.Attempt, Worker: by.Worker, StartedAt: at}
	if cur != nil {
		st = *cur
	}
	uris := masterURIs(master)
	st.State, st.Progress, st.Error, st.Reason, st.RetryAt = job.StatePublished, 100, "", "", nil
	st.AttemptID = attempt.PublishedBy(master)
	st.PublishedBy = ""
	if cur != nil && cur.AttemptID != "" && cur.AttemptID == st.AttemptID {
		st.PublishedBy = cur.JobID
	}
	if st.Renditions == 0 {
		st.Renditions = len(uris)
	}
	st.FinishedAt, st.UpdatedAt = &at, by.UpdatedAt
	st.RepairedBy = fmt.Sprintf("%s (job %s, attempt %d)", by.Worker, by.JobID, by.Attempt)
	return st
}

// masterURIs returns the URI lines of a master playlist (its variants).
func masterURIs(master []byte) []string {
	var uris []string
	for _, line := range strings.Split(string(master), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			uris = append(uris, line)
		}
	}
	return uris
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
