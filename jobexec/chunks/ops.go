package chunks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Create writes d as the output's chunks.json if it has none (If-None-Match)
// and returns it with created true; otherwise it returns the document
// there, unchanged, with created false.
func (s *Store) Create(ctx context.Context, d *Doc) (doc *Doc, created bool, err error) {
	doc, err = s.update(ctx, func(cur *Doc) (*Doc, error) {
		created = cur == nil
		if !created {
			return nil, nil
		}
		next := *d
		return &next, nil
	})
	if err != nil {
		return nil, false, err
	}
	return doc, created, nil
}

// How says what Start did with the output's chunks.json.
type How string

// What Start did.
const (
	Created  How = "created"  // there was none: want is the plan
	Reused   How = "reused"   // the same plan was there, running: it stands
	Reopened How = "reopened" // the same plan had failed: its failures are cleared, its done chunks kept, the next round's jobs to send
	Replaced How = "replaced" // another plan was there (another source, other options): want replaces it, in the next round
)

// Start makes want (from New) the output's plan, or keeps the one there
// when it plans the same work (Matches): a running plan is reused as it
// is; a failed plan is re-opened (failures cleared, done chunks kept,
// Round one more, not sent, want's parent recorded), so that resubmitting
// a failed job resumes it; a plan for other work is replaced by want, in
// the round after the old one's. It returns the plan that now stands and
// what was done.
func (s *Store) Start(ctx context.Context, want *Doc) (*Doc, How, error) {
	how := Created
	doc, err := s.update(ctx, func(cur *Doc) (*Doc, error) {
		switch {
		case cur == nil:
			how = Created
			next := *want
			return &next, nil
		case !cur.Matches(want):
			how = Replaced
			next := *want
			next.Version, next.Round, next.CreatedAt = cur.Version, cur.Round+1, cur.CreatedAt
			return &next, nil
		case len(cur.Failed) > 0:
			how = Reopened
			cur.Failed, cur.Sent, cur.Parent = nil, false, want.Parent
			cur.Round++
			return cur, nil
		}
		how = Reused
		return nil, nil
	})
	if err != nil {
		return nil, "", err
	}
	return doc, how, nil
}

// MarkRunning records that attempt att of worker runs chunk i of plan id,
// unless the chunk is done (then it writes nothing). It returns the plan
// as it stands; ErrStale when plan id is no longer the output's.
func (s *Store) MarkRunning(ctx context.Context, id string, i int, att, worker string) (*Doc, error) {
	return s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s is gone", ErrStale, Name)
		}
		c, err := cur.chunk(id, i)
		if err != nil || c.State == Done {
			return nil, err
		}
		c.State, c.Attempt, c.Worker, c.UpdatedAt = Running, att, worker, s.Now().UTC()
		return cur, nil
	})
}

// Recorded is what MarkDone found or did.
type Recorded struct {
	// Doc is the plan as it stands after the call.
	Doc *Doc
	// Mine says the recorded result is the caller's attempt's: its
	// objects are the chunk's. Otherwise another attempt (Attempt)
	// recorded the chunk first, and the caller's objects are nobody's:
	// it deletes them.
	Mine    bool
	Attempt string
	// AllDone says every chunk of the plan is now done: the finish may
	// run.
	AllDone bool
}

// MarkDone records chunk i of plan id done with attempt att's result
// (a pipeline.ChunkResult as JSON), unless it is done already: the first
// attempt to record a chunk wins, for good. A failed plan still records
// it, so a resubmission of the job resumes with it. ErrStale when plan id
// is no longer the output's.
func (s *Store) MarkDone(ctx context.Context, id string, i int, att, worker string, result json.RawMessage) (Recorded, error) {
	if len(result) == 0 {
		return Recorded{}, errors.New("chunks: MarkDone without a result")
	}
	doc, err := s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s is gone", ErrStale, Name)
		}
		c, err := cur.chunk(id, i)
		if err != nil || c.State == Done {
			return nil, err
		}
		c.State, c.Attempt, c.Worker, c.Result, c.UpdatedAt = Done, att, worker, result, s.Now().UTC()
		return cur, nil
	})
	if err != nil {
		return Recorded{}, err
	}
	c := doc.Chunks[i]
	return Recorded{Doc: doc, Mine: c.Attempt == att, Attempt: c.Attempt, AllDone: doc.AllDone()}, nil
}

// MarkFailed records that chunk i of plan id failed for good with reason
// (once per chunk; a running chunk goes back to queued). The plan is then
// failed: the other chunks find nothing to do, and the job's next
// submission re-opens it (Start). ErrStale when plan id is no longer the
// output's.
func (s *Store) MarkFailed(ctx context.Context, id string, i int, reason string) (*Doc, error) {
	return s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s is gone", ErrStale, Name)
		}
		if _, err := cur.chunk(id, i); err != nil {
			return nil, err
		}
		return s.fail(cur, i, reason), nil
	})
}

// FailChunk is MarkFailed for whoever knows the chunk but not the plan id
// (the worker, dead-lettering a chunk that kept crashing): chunk i of the
// output's plan, if that plan has count chunks; else it does nothing.
func (s *Store) FailChunk(ctx context.Context, i, count int, reason string) error {
	_, err := s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil || len(cur.Chunks) != count || i < 0 || i >= count {
			return nil, nil
		}
		return s.fail(cur, i, reason), nil
	})
	return err
}

// fail records chunk i of cur failed, or returns nil when it is done or
// recorded failed already.
func (s *Store) fail(cur *Doc, i int, reason string) *Doc {
	c := &cur.Chunks[i]
	if c.State == Done || cur.FailedFor(i) != nil {
		return nil
	}
	now := s.Now().UTC()
	c.State, c.UpdatedAt = Queued, now
	cur.Failed = append(cur.Failed, Failure{Index: i, Reason: reason, At: now})
	return cur
}

// MarkSent records that the chunk jobs of round of plan id were sent. A
// plan since replaced or re-opened (another id or round) is left alone.
func (s *Store) MarkSent(ctx context.Context, id string, round int) error {
	_, err := s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil || cur.ID != id || cur.Round != round || cur.Sent {
			return nil, nil
		}
		cur.Sent = true
		return cur, nil
	})
	return err
}

// MarkFinished records att as the attempt whose finish published plan id
// (the first one only).
func (s *Store) MarkFinished(ctx context.Context, id, att string) error {
	_, err := s.update(ctx, func(cur *Doc) (*Doc, error) {
		if cur == nil || cur.ID != id || cur.FinishedBy != "" {
			return nil, nil
		}
		cur.FinishedBy = att
		return cur, nil
	})
	return err
}
