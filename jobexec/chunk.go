package jobexec

// Chunked VOD jobs (issue H). A long VOD job is not transcoded in one
// pass: its run probes the source, plans chunks on segment boundaries
// (job.PlanChunks), records the plan in the output's chunks.json
// (jobexec/chunks) and reports "planned"; its worker sends one chunk job
// per chunk. Each chunk job transcodes its chunk into its own attempt's
// folders (pipeline.TranscodeChunk) and records its result in
// chunks.json; the chunk job that finds every chunk done finishes the job
// (pipeline.FinishChunks: playlists over all chunks, extras, the master
// last, created only if absent), as a single pass would publish it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/jobexec/chunks"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
)

// planVOD decides whether VOD job j is split into chunk jobs: when a
// chunk length applies (job > ladder > worker, none with SinglePass) and
// the source, probed, has video and is longer than two chunks. It then
// makes or finds the plan in chunks.json (chunks.Store.Start: a running
// plan for the same source is reused, a failed one re-opened with its done
// chunks kept) and returns the "planned" done event with planned true.
// A plan whose chunks are all done is finished here (the chunk that found
// them so did not get to publish). Otherwise it returns planned false and
// the source rewound for the single pass.
func planVOD(ctx context.Context, cfg Config, j *job.Job, ladder *ladders.Ladder, out *storage.Bucket, src *Source) (protocol.Event, bool, error) {
	done := protocol.Event{Event: protocol.EventDone}
	secs := j.EffectiveChunkSeconds(ladder.ChunkSeconds, cfg.ChunkSeconds)
	if cfg.SinglePass || secs <= 0 {
		return done, false, nil
	}
	log := cfg.Logger
	info, err := pipeline.ProbeSource(pipeline.Source{Path: src.Path, Reader: src.Reader, Size: src.Size, Name: j.Source}, pipeline.Limits{})
	if err != nil {
		return done, false, permanentIfInput(err)
	}
	if src.Reader != nil {
		if _, err := src.Reader.Seek(0, io.SeekStart); err != nil {
			return done, false, fmt.Errorf("rewinding the source after its probe: %w", err)
		}
	}
	if info.Video == nil {
		return done, false, nil
	}
	// Never more than job.MaxChunks: a longer source gets longer chunks.
	secs = max(secs, math.Ceil(info.Duration/job.MaxChunks))
	plan, err := job.PlanChunks(info.Duration, ladder.SegmentSeconds, secs)
	if err != nil || plan == nil {
		if err != nil {
			log.Warn("no chunk plan: transcoding in one pass", zap.Error(err))
		}
		return done, false, nil
	}
	fp, err := sourceFingerprint(ctx, j.Source)
	if err != nil {
		return done, false, err
	}
	store := chunks.Open(out)
	doc, how, err := store.Start(ctx, chunks.New(j, fp, *plan))
	if err != nil {
		return done, false, fmt.Errorf("recording the chunk plan: %w", err)
	}
	log.Info("chunk plan", zap.String("plan", string(how)), zap.String("plan_id", doc.ID), zap.Int("chunks", len(doc.Chunks)),
		zap.Int("done", doc.DoneCount()), zap.Int("round", doc.Round), zap.Bool("sent", doc.Sent),
		zap.Float64("chunk_seconds", doc.Plan.ChunkSeconds), zap.Float64("duration_seconds", info.Duration))
	if doc.AllDone() {
		ev, err := finishChunks(ctx, cfg, j, ladder, out, doc, log)
		return ev, true, err
	}
	done.Planned, done.Sent = len(doc.Chunks), doc.Sent
	done.Chunk = &job.ChunkReport{PlanID: doc.ID, Count: len(doc.Chunks), Round: doc.Round,
		Done: doc.DoneCount(), Pending: doc.Pending()}
	return done, true, nil
}

// sourceFingerprint identifies the source's bytes (URL, size, ETag): a plan
// is reused only for the same ones.
func sourceFingerprint(ctx context.Context, url string) (chunks.Source, error) {
	loc, err := job.ParseLocation(url)
	if err != nil {
		return chunks.Source{}, err
	}
	root, key := "s3://"+loc.Bucket, loc.Path
	if loc.Scheme == job.SchemeFile {
		root, key = "file:///", loc.Path[1:]
	}
	b, err := storage.Open(ctx, root)
	if err != nil {
		return chunks.Source{}, fmt.Errorf("opening the source's bucket: %w", err)
	}
	defer b.Close()
	a, err := b.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return chunks.Source{}, fmt.Errorf("%w: %s does not exist", pipeline.ErrNotMedia, url)
	}
	if err != nil {
		return chunks.Source{}, fmt.Errorf("reading the source's attributes: %w", err)
	}
	return chunks.Source{URL: url, Size: a.Size, ETag: a.ETag}, nil
}

// execChunk runs chunk job j: nothing when the output is published or its
// plan failed or was replaced; else the chunk, unless already done, and
// then, if every chunk is done, the finish.
func execChunk(ctx context.Context, cfg Config, j *job.Job, progress func(pipeline.Progress)) (protocol.Event, error) {
	ref := j.Chunk
	rep := &job.ChunkReport{Index: ref.Index, Count: ref.Count, Result: job.ChunkSkipped}
	done := protocol.Event{Event: protocol.EventDone, Chunk: rep}
	log := cfg.Logger.With(zap.String("parent_job_id", ref.Parent), zap.Int("chunk", ref.Index), zap.Int("chunks", ref.Count))
	ladder, out, err := openJobOutput(ctx, cfg, j)
	if err != nil {
		return done, err
	}
	defer out.Close()
	if by, ok := publishedBy(ctx, out, log); ok {
		log.Info("already published: nothing to do for this chunk", zap.String("output", j.Output))
		done.AttemptID = by
		return done, nil
	}
	store := chunks.Open(out)
	doc, err := store.Load(ctx)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return done, fmt.Errorf("%w: chunk %d of %d: the output has no %s (job %s's plan)", job.ErrPermanent, ref.Index, ref.Count, chunks.Name, ref.Parent)
	case err != nil:
		return done, err
	case len(doc.Chunks) != ref.Count:
		log.Info("the plan was replaced (another chunk count): nothing to do for this chunk", zap.Int("plan_chunks", len(doc.Chunks)))
		return done, nil
	case len(doc.Failed) > 0 && doc.FailedFor(ref.Index) != nil:
		return reopenPlan(ctx, store, doc, j, log)
	case len(doc.Failed) > 0 && doc.Chunks[ref.Index].State != chunks.Done:
		log.Info("the plan failed (another chunk failed for good): nothing to do for this chunk", zap.String("reason", doc.Failed[0].Reason))
		return done, nil
	}
	rep.PlanID, rep.Round = doc.ID, doc.Round
	if doc.Chunks[ref.Index].State == chunks.Done {
		rep.Result = job.ChunkDuplicate
	} else if doc, err = transcodeChunk(ctx, cfg, j, ladder, out, store, doc, progress, rep, log); err != nil || doc == nil {
		return done, err
	}
	rep.Done = doc.DoneCount()
	if !doc.AllDone() {
		return done, nil
	}
	ev, err := finishChunks(ctx, cfg, j, ladder, out, doc, log)
	ev.Chunk = rep
	return ev, err
}

// reopenPlan re-opens failed plan doc for chunk job j, whose own chunk is
// among those that failed: its message is back (redriven from the
// dead-letter queue, or redelivered before it got there), which is asked
// as the job's resubmission would be. The failures are cleared, the done
// chunks kept, and the "planned" event makes the worker send the next
// round of chunk jobs (this chunk's among them).
func reopenPlan(ctx context.Context, store *chunks.Store, doc *chunks.Doc, j *job.Job, log *zap.Logger) (protocol.Event, error) {
	want := *doc
	want.Parent = j.Chunk.Parent
	doc, how, err := store.Start(ctx, &want)
	if err != nil {
		return protocol.Event{Event: protocol.EventDone}, fmt.Errorf("re-opening the chunk plan: %w", err)
	}
	log.Info("this chunk had failed the plan and is back: re-opening the plan", zap.String("plan", string(how)),
		zap.Int("done", doc.DoneCount()), zap.Int("round", doc.Round))
	return protocol.Event{Event: protocol.EventDone, Planned: len(doc.Chunks), Sent: doc.Sent,
		Chunk: &job.ChunkReport{PlanID: doc.ID, Count: len(doc.Chunks), Round: doc.Round, Done: doc.DoneCount(),
			Pending: doc.Pending(), Index: j.Chunk.Index}}, nil
}

// transcodeChunk transcodes chunk j.Chunk.Index of plan doc with a fresh
// attempt and records it done, and returns the plan as it then stands
// (nil: the plan was replaced meanwhile, nothing to do). An attempt that
// finds the chunk recorded by another (MarkDone) deletes its own objects.
// An input fault marks the plan failed and is returned permanent.
func transcodeChunk(ctx context.Context, cfg Config, j *job.Job, ladder *ladders.Ladder, out *storage.Bucket,
	store *chunks.Store, doc *chunks.Doc, progress func(pipeline.Progress), rep *job.ChunkReport, log *zap.Logger) (*chunks.Doc, error) {
	i, n := j.Chunk.Index, j.Chunk.Count
	att, worker := attempt.NewID(), workerID(cfg)
	log = log.With(zap.String("attempt", att))
	doc, err := store.MarkRunning(ctx, doc.ID, i, att, worker)
	switch {
	case errors.Is(err, chunks.ErrStale):
		log.Info("the plan was replaced: nothing to do for this chunk", zap.Error(err))
		return nil, nil
	case err != nil:
		return nil, err
	case doc.Chunks[i].State == chunks.Done:
		rep.Result = job.ChunkDuplicate
		return doc, nil
	}
	src, err := OpenSource(ctx, j.Source)
	if err != nil {
		return nil, chunkFailed(ctx, store, doc.ID, i, n, err, log)
	}
	defer src.Close()
	span := doc.Plan.Chunks[i]
	opt := pipelineOptions(cfg, j, ladder, att, log)
	opt.Input, opt.Reader, opt.InputSize = src.Path, src.Reader, src.Size
	opt.Progress = progress // TranscodeChunk reports progress through the chunk alone
	sink := &StorageSink{Ctx: ctx, Bucket: out}
	res, err := pipeline.TranscodeChunk(ctx, pipeline.ChunkOptions{Options: opt, Plan: doc.Plan, Span: span}, sink)
	names, _ := sink.Written()
	if err != nil {
		removeOwn(ctx, out, names, log) // nothing refers to them before MarkDone
		return nil, chunkFailed(ctx, store, doc.ID, i, n, err, log)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	rec, err := store.MarkDone(ctx, doc.ID, i, att, worker, raw)
	switch {
	case errors.Is(err, chunks.ErrStale):
		log.Info("the plan was replaced while the chunk ran: deleting its objects", zap.Error(err))
		removeOwn(ctx, out, names, log)
		return nil, nil
	case err != nil: // the write may have landed: the objects stay
		return nil, fmt.Errorf("recording chunk %d of %d done: %w", i, n, err)
	case !rec.Mine:
		log.Info("another attempt recorded the chunk first: deleting this attempt's objects", zap.String("recorded", rec.Attempt))
		removeOwn(ctx, out, names, log)
		rep.Result = job.ChunkDuplicate
	default:
		log.Info("chunk done", zap.Int("done", rec.Doc.DoneCount()), zap.Int("chunks", n), zap.Float64("elapsed_seconds", res.Elapsed))
		rep.Result = job.ChunkTranscoded
	}
	return rec.Doc, nil
}

// chunkFailed is the error of chunk i of n that failed with err: an input
// fault is recorded in chunks.json (the plan fails; the job's other
// chunks find nothing to do) and returned permanent.
func chunkFailed(ctx context.Context, store *chunks.Store, planID string, i, n int, err error, log *zap.Logger) error {
	err = fmt.Errorf("chunk %d of %d: %w", i, n, err)
	if !errors.Is(err, pipeline.ErrInput) {
		return err
	}
	if _, ferr := store.MarkFailed(context.WithoutCancel(ctx), planID, i, err.Error()); ferr != nil {
		log.Warn("recording the chunk's failure in the plan failed", zap.Error(ferr))
	}
	return fmt.Errorf("%w: %w", job.ErrPermanent, err)
}

// finishChunks publishes plan doc, every chunk done, with a fresh attempt:
// pipeline.FinishChunks writes the media playlists over the chunks'
// segments, the extras and the master last, created only if absent. Of
// racing finishers the master's create picks one; the others delete what
// they wrote and report the winner (settle), as racing VOD attempts do.
func finishChunks(ctx context.Context, cfg Config, j *job.Job, ladder *ladders.Ladder, out *storage.Bucket,
	doc *chunks.Doc, log *zap.Logger) (protocol.Event, error) {
	done := protocol.Event{Event: protocol.EventDone}
	raws, err := doc.Results()
	if err != nil {
		return done, err
	}
	results := make([]pipeline.ChunkResult, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &results[i]); err != nil {
			return done, fmt.Errorf("%w: chunk %d's result in %s does not parse: %w", job.ErrPermanent, i, chunks.Name, err)
		}
	}
	att := attempt.NewID()
	log = log.With(zap.String("attempt", att), zap.String("step", "finish"))
	opt := pipelineOptions(cfg, j, ladder, att, log)
	open := func(name string) (pipeline.ReadSeekCloser, int64, error) { return out.OpenSeeker(ctx, name) }
	sink := &StorageSink{Ctx: ctx, Bucket: out}
	log.Info("every chunk done: finishing", zap.Int("chunks", len(results)))
	res, err := pipeline.FinishChunks(ctx, pipeline.FinishOptions{Options: opt, Plan: doc.Plan, Chunks: results, Open: open}, sink)
	if err != nil {
		if ev, ok := settle(ctx, out, sink, att, log); ok {
			return ev, nil
		}
		return done, permanentIfInput(err)
	}
	published(&done, res, att)
	if err := chunks.Open(out).MarkFinished(ctx, doc.ID, att); err != nil {
		log.Warn("recording the finish in the plan failed", zap.Error(err))
	}
	tidy(ctx, out, log)
	log.Info("chunked job published", zap.Int("chunks", len(results)))
	return done, nil
}

// workerID is the worker named in chunks.json: Config.WorkerID, else the
// host name and the parent's process id (the worker's default id).
func workerID(cfg Config) string {
	if cfg.WorkerID != "" {
		return cfg.WorkerID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getppid())
}
