package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// clip is one good source, generated once and uploaded to src/.
type clip struct {
	Width, Height int
	Seconds       float64
	Key           string // in the bucket
	Data          []byte
}

// clipSpecs are the good sources: small, so that 2 cores keep up with three
// workers; 2 s segments (segmentSeconds), so each rendition has a few.
var clipSpecs = []clip{
	{Width: 640, Height: 360, Seconds: 6},
	{Width: 640, Height: 360, Seconds: 4},
	{Width: 854, Height: 480, Seconds: 4},
}

const segmentSeconds = 2

// makeClips generates the good sources under dir and uploads them.
func makeClips(ctx context.Context, dir string, root *storage.Bucket) ([]clip, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	clips := make([]clip, len(clipSpecs))
	for i, c := range clipSpecs {
		name := fmt.Sprintf("clip-%d", i)
		p, err := testmedia.GenerateTo(dir, testmedia.Spec{Width: c.Width, Height: c.Height, Duration: c.Seconds, Name: name})
		if err != nil {
			return nil, err
		}
		if c.Data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
		c.Key = "src/" + name + ".mp4"
		if err := root.WriteAll(ctx, c.Key, c.Data, storage.WriterOptions{}); err != nil {
			return nil, fmt.Errorf("uploading %s: %w", c.Key, err)
		}
		clips[i] = c
	}
	return clips, nil
}

// rulesJSON are the workers' S3-event rules (--rules): uploads/<stem>.mp4
// makes a job to out/events/<stem>/ with the soak's segment length;
// everything else is ignored (the soak's own outputs and sources).
const rulesJSON = `[
  {"prefix": "uploads/", "output": "s3://{bucket}/out/events/{stem}/", "segment_seconds": 2},
  {"prefix": "", "ignore": true}
]`

// submitter makes and sends the soak's messages.
type submitter struct {
	q      queue.Queue
	root   *storage.Bucket // the bucket, direct (never through the fault proxy)
	bucket string
	rules  job.Rules
	clips  []clip

	mu   sync.Mutex
	subs []Submission
}

// submissions returns a copy of what was submitted so far.
func (s *submitter) submissions() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs)
}

// submit makes and sends the message of step st (the n-th) and records it.
// An error is recorded in the submission (Sent false) and returned.
func (s *submitter) submit(ctx context.Context, st Step, n int) (Submission, error) {
	sub, err := s.make(ctx, st, n)
	sub.N, sub.Kind, sub.Clip, sub.At = n, st.Kind, st.Clip, time.Now()
	if err == nil {
		_, err = s.q.Send(ctx, sub.Body, queue.SendOptions{})
	}
	sub.Sent = err == nil
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return sub, err
}

// make builds the message of step st: its body and, for a job, the job's
// id, source and output.
func (s *submitter) make(ctx context.Context, st Step, n int) (Submission, error) {
	var ref Submission
	if st.Ref >= 0 {
		s.mu.Lock()
		ref = s.subs[st.Ref]
		s.mu.Unlock()
	}
	switch st.Kind {
	case KindJob:
		return s.job(s.url(s.clips[st.Clip].Key), s.url(fmt.Sprintf("out/job-%03d/", n)))
	case KindDupJob, KindEventJob:
		return s.job(ref.Source, ref.Output)
	case KindResend, KindEventAgain:
		return Submission{Body: ref.Body, JobID: ref.JobID, Source: ref.Source, Output: ref.Output}, nil
	case KindEvent:
		return s.event(ctx, s.clips[st.Clip].Data, fmt.Sprintf("uploads/ev-%03d.mp4", n))
	case KindGarbageMedia:
		key := fmt.Sprintf("src/garbage-%03d.mp4", n)
		if err := s.root.WriteAll(ctx, key, garbageBytes(), storage.WriterOptions{}); err != nil {
			return Submission{}, fmt.Errorf("uploading %s: %w", key, err)
		}
		return s.job(s.url(key), s.url(fmt.Sprintf("out/garbage-%03d/", n)))
	case KindGarbageMissing:
		return s.job(s.url(fmt.Sprintf("src/missing-%03d.mp4", n)), s.url(fmt.Sprintf("out/missing-%03d/", n)))
	case KindGarbageBody:
		if n%2 == 0 {
			return Submission{Body: fmt.Appendf(nil, "soak garbage #%d: not JSON at all", n)}, nil
		}
		return Submission{Body: fmt.Appendf(nil, `{"soak": %d, "this": "is JSON but no job and no event"}`, n)}, nil
	}
	return Submission{}, fmt.Errorf("unknown kind %q", st.Kind)
}

// garbageBytes are 64 KiB that no demuxer recognises (the bytes of
// testmedia.Garbage).
func garbageBytes() []byte {
	rng := rand.New(rand.NewPCG(0x6861726d, 0x6c657373))
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	return buf
}

func (s *submitter) url(key string) string { return "s3://" + s.bucket + "/" + key }

// job makes a job message with the soak's segment length.
func (s *submitter) job(src, out string) (Submission, error) {
	j := job.New(src, out, job.WithSegmentSeconds(segmentSeconds))
	body, err := j.Marshal()
	if err != nil {
		return Submission{}, err
	}
	return Submission{Body: body, JobID: j.ID, Source: src, Output: out}, nil
}

// event uploads data to key and makes the raw S3 event notification of
// the upload; the job (and its output) is what the workers' rules make of
// it.
func (s *submitter) event(ctx context.Context, data []byte, key string) (Submission, error) {
	if err := s.root.WriteAll(ctx, key, data, storage.WriterOptions{}); err != nil {
		return Submission{}, fmt.Errorf("uploading %s: %w", key, err)
	}
	a, err := s.root.Stat(ctx, key)
	if err != nil {
		return Submission{}, err
	}
	body, err := s3Event(s.bucket, key, a.Size, a.ETag, time.Now())
	if err != nil {
		return Submission{}, err
	}
	jobs, err := job.ParseMessage(body, s.rules)
	if err != nil || len(jobs) != 1 {
		return Submission{}, fmt.Errorf("the rules make %d jobs of the event for %s: %v", len(jobs), key, err)
	}
	return Submission{Body: body, JobID: jobs[0].ID, Source: jobs[0].Source, Output: jobs[0].Output}, nil
}

// s3Event is the S3 event notification (event version 2.1) of a PUT.
func s3Event(bucket, key string, size int64, etag string, at time.Time) ([]byte, error) {
	type obj struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	}
	rec := map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": at.UTC().Format("2006-01-02T15:04:05.000Z"), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0", "configurationId": "hlsfleet-soak",
			"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": obj{Key: strings.ReplaceAll(url.QueryEscape(key), "%2F", "/"), Size: size,
				ETag: strings.Trim(etag, `"`), Sequencer: fmt.Sprintf("%016X", at.UnixNano())},
		},
	}
	return json.Marshal(map[string]any{"Records": []any{rec}})
}
