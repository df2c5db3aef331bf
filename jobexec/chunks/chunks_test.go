package chunks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/storage"
)

// open returns a Store on a fresh file-driver output.
func open(t *testing.T) (*Store, *storage.Bucket) {
	t.Helper()
	b, err := storage.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return Open(b), b
}

// plan returns a VOD job and the doc of its n-chunk plan over src.
func plan(t *testing.T, n int, src Source) (*job.Job, *Doc) {
	t.Helper()
	j := job.New("s3://in/long.mp4", "s3://out/hls/long/", job.WithID("parent"))
	p, err := job.PlanChunks(float64(60*n)+30, 6, 60)
	if err != nil || p == nil || len(p.Chunks) != n {
		t.Fatalf("PlanChunks: %v, %+v", err, p)
	}
	return j, New(j, src, *p)
}

var src1 = Source{URL: "s3://in/long.mp4", Size: 1 << 30, ETag: `"abc"`}

func result(i int, att string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"index":%d,"attempt":%q}`, i, att))
}

func TestCreateRace(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	docs := make([]*Doc, 8)
	created := make([]bool, 8)
	for g := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, d := plan(t, 5, src1)
			var err error
			if docs[g], created[g], err = s.Create(ctx, d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for g, d := range docs {
		if created[g] {
			n++
		}
		if d == nil || d.ID != docs[0].ID {
			t.Fatalf("racing creators got different plans: %+v vs %+v", d, docs[0])
		}
	}
	if n != 1 {
		t.Errorf("%d creators created the plan, want 1", n)
	}
	got, err := s.Load(ctx)
	if err != nil || got.ID != docs[0].ID || got.Version != 1 || len(got.Chunks) != 5 || got.Chunks[3].State != Queued {
		t.Fatalf("Load: %v, %+v", err, got)
	}
}

// TestMarkDoneRace runs several attempts of every chunk at once, as
// redeliveries and lost leases do: each chunk is recorded once, by exactly
// one attempt that is told so, the others are told whose result stands,
// and no result is lost to a racing write.
func TestMarkDoneRace(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	_, d := plan(t, 12, src1)
	if _, _, err := s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	const attempts = 4
	var (
		mu      sync.Mutex
		mine    = map[int][]string{} // chunk → attempts told Mine
		told    = map[int][]string{} // chunk → the attempt each loser was told of
		allDone int
		wg      sync.WaitGroup
	)
	for range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range rand.Perm(12) {
				att := attempt.NewID()
				if _, err := s.MarkRunning(ctx, d.ID, i, att, "w"); err != nil {
					t.Error(err)
					return
				}
				r, err := s.MarkDone(ctx, d.ID, i, att, "w", result(i, att))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if r.Mine {
					mine[i] = append(mine[i], att)
				} else {
					told[i] = append(told[i], r.Attempt)
				}
				if r.AllDone {
					allDone++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !got.AllDone() || allDone == 0 {
		t.Fatalf("all done %v (told %d times): %+v", got.AllDone(), allDone, got.Chunks)
	}
	for i, c := range got.Chunks {
		if len(mine[i]) != 1 || c.Attempt != mine[i][0] {
			t.Errorf("chunk %d: recorded %q, attempts told it was theirs: %v", i, c.Attempt, mine[i])
		}
		var r struct{ Attempt string }
		if json.Unmarshal(c.Result, &r) != nil || r.Attempt != c.Attempt {
			t.Errorf("chunk %d: result %s is not the recorded attempt %s's", i, c.Result, c.Attempt)
		}
		for _, o := range told[i] {
			if o != c.Attempt {
				t.Errorf("chunk %d: a loser was told %s, the winner is %s", i, o, c.Attempt)
			}
		}
		if len(told[i]) != attempts-1 {
			t.Errorf("chunk %d: %d losers, want %d", i, len(told[i]), attempts-1)
		}
	}
	if res, err := got.Results(); err != nil || len(res) != 12 {
		t.Errorf("Results: %v, %d", err, len(res))
	}
	// A redelivery after the fact writes nothing and is told whose chunk it is.
	v := got.Version
	r, err := s.MarkDone(ctx, d.ID, 3, "latecomer1", "w", result(3, "latecomer1"))
	if err != nil || r.Mine || r.Attempt != got.Chunks[3].Attempt || !r.AllDone || r.Doc.Version != v {
		t.Errorf("late MarkDone: %v, %+v", err, r)
	}
}

// TestFailedPlanReopened: chunks failing while others finish, then the
// job's resubmission re-opens the plan with the done chunks kept.
func TestFailedPlanReopened(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	j, d := plan(t, 6, src1)
	if _, _, err := s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, d.ID, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%3 == 1 { // chunks 1 and 4 fail for good, twice each
				_, err = s.MarkFailed(ctx, d.ID, i, fmt.Sprintf("chunk %d is corrupt", i))
				if err == nil {
					_, err = s.MarkFailed(ctx, d.ID, i, "again")
				}
			} else {
				_, err = s.MarkDone(ctx, d.ID, i, "att"+fmt.Sprint(i), "w", result(i, "x"))
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	failed, _ := s.Load(ctx)
	if len(failed.Failed) != 2 || failed.DoneCount() != 4 || failed.AllDone() {
		t.Fatalf("failed plan: %+v", failed)
	}
	// The resubmission (a new job id, same work) re-opens it.
	again := j.Clone()
	again.ID = "resubmitted"
	want := New(again, src1, failed.Plan)
	doc, how, err := s.Start(ctx, want)
	if err != nil || how != Reopened {
		t.Fatalf("Start: %v, %s", err, how)
	}
	if doc.ID != d.ID || doc.Round != 1 || doc.Sent || len(doc.Failed) != 0 || doc.Parent != "resubmitted" ||
		doc.DoneCount() != 4 || fmt.Sprint(doc.Pending()) != "[1 4]" {
		t.Errorf("re-opened plan: %+v", doc)
	}
	// A running plan is reused as it is.
	doc2, how, err := s.Start(ctx, New(again, src1, failed.Plan))
	if err != nil || how != Reused || doc2.Version != doc.Version {
		t.Errorf("Start on a running plan: %v, %s, %+v", err, how, doc2)
	}
	// A stale MarkSent of round 0 leaves round 1 unsent.
	if err := s.MarkSent(ctx, d.ID, 0); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Load(ctx); cur.Sent {
		t.Error("MarkSent of an old round marked the new one sent")
	}
}

// TestPlanReplaced: the source changed under the output; the new plan
// replaces the old, and a chunk that ran against the old one is stale.
func TestPlanReplaced(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	j, d := plan(t, 4, src1)
	if _, _, err := s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkRunning(ctx, d.ID, 2, "old", "w1"); err != nil {
		t.Fatal(err)
	}
	src2 := src1
	src2.ETag = `"def"`
	want := New(j, src2, d.Plan)
	doc, how, err := s.Start(ctx, want)
	if err != nil || how != Replaced || doc.ID != want.ID || doc.Round != 1 || doc.Chunks[2].State != Queued {
		t.Fatalf("Start with another source: %v, %s, %+v", err, how, doc)
	}
	if _, err := s.MarkDone(ctx, d.ID, 2, "old", "w1", result(2, "old")); !errors.Is(err, ErrStale) {
		t.Errorf("MarkDone against the replaced plan: %v, want ErrStale", err)
	}
	if _, err := s.MarkRunning(ctx, doc.ID, 9, "x", "w1"); !errors.Is(err, ErrStale) {
		t.Errorf("MarkRunning of a chunk not in the plan: %v, want ErrStale", err)
	}
	// FailChunk (the worker's, without the plan id) fails the plan there
	// when its count matches, once; else it does nothing.
	for _, count := range []int{5, 4, 4} {
		if err := s.FailChunk(ctx, 3, count, "gave up after 3 attempts: crashed"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Load(ctx); len(got.Failed) != 1 || got.Failed[0].Index != 3 || got.Version != doc.Version+1 {
		t.Errorf("after FailChunk: %+v (version %d, was %d)", got.Failed, got.Version, doc.Version)
	}
}

func TestMarkSentAndFinished(t *testing.T) {
	s, b := open(t)
	ctx := context.Background()
	if _, err := s.Load(ctx); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Load with no plan: %v", err)
	}
	_, d := plan(t, 3, src1)
	if _, _, err := s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); _ = s.MarkSent(ctx, d.ID, 0) }()
		go func() { defer wg.Done(); _ = s.MarkFinished(ctx, d.ID, attempt.NewID()) }()
	}
	wg.Wait()
	got, err := s.Load(ctx)
	if err != nil || !got.Sent || got.FinishedBy == "" || got.Version != 3 {
		t.Errorf("after racing MarkSent and MarkFinished: %v, %+v (want one write each)", err, got)
	}
	if err := b.WriteAll(ctx, Name, []byte("{"), storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); err == nil {
		t.Error("a damaged chunks.json loaded")
	}
}
