// Package chunks keeps chunks.json, the state of a chunked VOD job (issue
// H): a long upload split into chunks that any number of workers
// transcode in parallel, each chunk its own job, and a finish that writes
// the playlists over all of them once every chunk is done.
//
// chunks.json sits in the job's output beside job.json and master.m3u8:
//
//	OUTPUT/chunks.json   the plan, every chunk's state and result, what failed
//	OUTPUT/job.json      the job's status (the worker's), with chunk figures
//	OUTPUT/master.m3u8   written once, by the finish that wins its create
//
// Every change is a compare-and-swap (storage If-Match on the ETag read,
// If-None-Match for the first write), as live/'s stream.json: a writer that
// loses re-reads, applies its change to what the winner wrote and tries
// again, so racing chunk workers never lose one another's results. A chunk
// is recorded done once: the first attempt to record it wins, and a later
// attempt of the same chunk (a redelivery, a lost lease) learns that its
// own objects are nobody's and deletes them.
//
// The chunk results are the pipeline's (pipeline.ChunkResult), kept here as
// opaque JSON: this package links no libav, like jobexec/attempt.
package chunks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/storage"
)

// Name is the state document's name in the job's output.
const Name = "chunks.json"

// Chunk states.
const (
	Queued  = "queued"  // not started, or its last attempt failed
	Running = "running" // an attempt runs it (as far as anyone knows: it may have died)
	Done    = "done"    // its result is recorded; final
)

var (
	// ErrStale is returned for a change to a plan that is no longer the
	// output's: chunks.json was replaced by a plan for another source or
	// other options (its plan id changed), or the chunk is not in it.
	ErrStale = errors.New("the chunk plan was replaced")
	// ErrContention is returned when a change lost every compare-and-swap
	// it tried.
	ErrContention = errors.New("chunks.json: every write lost to another")
)

// Source identifies the input a plan was made for: a plan is reused only
// for the same bytes.
type Source struct {
	URL  string `json:"url"`
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
}

// Chunk is one chunk's state.
type Chunk struct {
	Index int    `json:"index"`
	State string `json:"state"`
	// Attempt and Worker are the attempt that runs the chunk, or whose
	// result is recorded (its objects are in folders of that attempt id).
	Attempt string `json:"attempt_id,omitempty"`
	Worker  string `json:"worker,omitempty"`
	// Result is the chunk's pipeline.ChunkResult, once done.
	Result    json.RawMessage `json:"result,omitempty"`
	UpdatedAt time.Time       `json:"updated_at,omitzero"`
}

// Failure is a chunk that failed for good.
type Failure struct {
	Index  int       `json:"index"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Doc is chunks.json.
type Doc struct {
	// Version counts the writes.
	Version int64 `json:"version"`
	// ID names this plan; a plan replaced for another source gets a new
	// one, so a chunk that ran against the old plan cannot record itself
	// in the new one.
	ID string `json:"plan_id"`
	// Parent is the VOD job whose run made (or last re-opened) the plan;
	// Key its job.IdempotencyKey (what the output is made of).
	Parent string        `json:"parent_job_id"`
	Key    string        `json:"job_key"`
	Source Source        `json:"source"`
	Plan   job.ChunkPlan `json:"plan"`
	// Round counts the times the chunk jobs were (to be) sent: 0 for the
	// first plan, one more each time a failed plan is re-opened or the
	// plan is replaced (job.ChunkJobOfRound).
	Round int `json:"round"`
	// Sent says the chunk jobs of Round were sent.
	Sent   bool      `json:"sent,omitempty"`
	Chunks []Chunk   `json:"chunks"`
	Failed []Failure `json:"failed,omitempty"`
	// FinishedBy is the attempt whose finish published the master.
	FinishedBy string    `json:"finished_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// New returns the document of a fresh plan for parent (a VOD job) over src:
// a new plan id, round 0, every chunk queued.
func New(parent *job.Job, src Source, plan job.ChunkPlan) *Doc {
	d := &Doc{ID: attempt.NewID(), Parent: parent.ID, Key: parent.IdempotencyKey(), Source: src, Plan: plan}
	for _, s := range plan.Chunks {
		d.Chunks = append(d.Chunks, Chunk{Index: s.Index, State: Queued})
	}
	return d
}

// Matches reports whether d plans the same work as want: the same job
// (idempotency key), the same source bytes and the same cuts. Only then
// may d's done chunks stand for want's.
func (d *Doc) Matches(want *Doc) bool {
	if d.Key != want.Key || d.Source != want.Source || len(d.Chunks) != len(d.Plan.Chunks) {
		return false
	}
	a, b := d.Plan, want.Plan
	return a.SegmentSeconds == b.SegmentSeconds && a.ChunkSeconds == b.ChunkSeconds &&
		slices.Equal(a.Chunks, b.Chunks)
}

// DoneCount is how many chunks are done.
func (d *Doc) DoneCount() int {
	n := 0
	for _, c := range d.Chunks {
		if c.State == Done {
			n++
		}
	}
	return n
}

// AllDone reports whether every chunk is done.
func (d *Doc) AllDone() bool { return len(d.Chunks) > 0 && d.DoneCount() == len(d.Chunks) }

// Pending returns the indexes of the chunks not done.
func (d *Doc) Pending() []int {
	var p []int
	for _, c := range d.Chunks {
		if c.State != Done {
			p = append(p, c.Index)
		}
	}
	return p
}

// Results returns every chunk's result in plan order; the plan must be
// all done.
func (d *Doc) Results() ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(d.Chunks))
	for i, c := range d.Chunks {
		if c.State != Done || len(c.Result) == 0 {
			return nil, fmt.Errorf("chunk %d of %d is not done", i, len(d.Chunks))
		}
		out[i] = c.Result
	}
	return out, nil
}

// FailedFor returns chunk i's failure, or nil.
func (d *Doc) FailedFor(i int) *Failure {
	for k := range d.Failed {
		if d.Failed[k].Index == i {
			return &d.Failed[k]
		}
	}
	return nil
}

// chunk returns chunk i of plan id, or ErrStale.
func (d *Doc) chunk(id string, i int) (*Chunk, error) {
	if d.ID != id {
		return nil, fmt.Errorf("%w: plan %s is now %s", ErrStale, id, d.ID)
	}
	if i < 0 || i >= len(d.Chunks) {
		return nil, fmt.Errorf("%w: chunk %d is not in the plan's %d", ErrStale, i, len(d.Chunks))
	}
	return &d.Chunks[i], nil
}

// Store reads and changes chunks.json in a bucket opened on a job's output.
type Store struct {
	b *storage.Bucket
	// Now and Sleep replace the clock (tests).
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// Open returns the Store of output b.
func Open(b *storage.Bucket) *Store {
	return &Store{b: b, Now: time.Now, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Load reads chunks.json; an output with none gives an error wrapping
// storage.ErrNotExist.
func (s *Store) Load(ctx context.Context) (*Doc, error) {
	d, _, err := s.read(ctx)
	return d, err
}

func (s *Store) read(ctx context.Context) (*Doc, string, error) {
	data, attrs, err := s.b.ReadAllAttrs(ctx, Name)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", Name, err)
	}
	var d Doc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, "", fmt.Errorf("%s is damaged: %w", Name, err)
	}
	return &d, attrs.ETag, nil
}

// maxAttempts bounds the compare-and-swap rounds of one change.
const maxAttempts = 64

// update applies change to chunks.json by compare-and-swap: change gets
// the document read (nil when there is none) and returns the one to write
// (it may change and return its argument), or nil to write nothing. A
// write that loses re-reads, after a short random pause, and applies
// change again. It returns the document as written, or as read when
// change wrote nothing.
func (s *Store) update(ctx context.Context, change func(cur *Doc) (*Doc, error)) (*Doc, error) {
	for range maxAttempts {
		cur, etag, err := s.read(ctx)
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return nil, err
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return cur, err
		}
		now := s.Now().UTC()
		next.Version++
		next.UpdatedAt = now
		if next.CreatedAt.IsZero() {
			next.CreatedAt = now
		}
		data, err := json.MarshalIndent(next, "", " ")
		if err != nil {
			return nil, err
		}
		opts := storage.WriterOptions{ContentType: "application/json", IfNoneMatch: cur == nil, IfMatch: etag}
		err = s.b.WriteAll(ctx, Name, data, opts)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, storage.ErrPrecondition) && !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("writing %s: %w", Name, err)
		}
		if err := s.Sleep(ctx, time.Duration(1+rand.IntN(20))*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, ErrContention
}
