// Package lambda is the AWS Lambda side of hlsfleet: it receives S3 upload
// events (directly, or through SQS in batches), transcodes short clips
// inline and sends everything else to the fleet's queues.
//
// For each uploaded object the handler probes the source over S3 range
// reads (in a child process), decides a Route (Decide: short enough, fits
// the invocation's time and memory → inline; else the CPU or GPU queue by
// fleetRoute) and then either runs the job exactly as a worker would — the
// same `hlsfleet job-exec` child, the same output layout, master.m3u8 last
// as a conditional create, the same job.json status document — or sends the
// job to a queue and records it as queued in job.json.
//
// # Failures
//
// An input fault (garbage, unsupported, empty, missing) is permanent: it is
// recorded once (job.json "failed" with the reason and the input's
// fingerprint, one log line, and a copy on HLSFLEET_DLQ_URL when set) and
// never reported as an invocation error, so neither Lambda's async retries
// nor SQS redeliveries repeat it. In an SQS batch, a record whose permanent
// fault could not be parked on HLSFLEET_DLQ_URL (none is configured) is
// reported in BatchItemFailures, so the source queue's redrive policy moves
// it to its dead-letter queue: it is never dropped. Transient faults (S3 or
// SQS unavailable) are returned as errors (S3 events: Lambda retries the
// invocation) or reported in BatchItemFailures (SQS: only those records are
// redelivered). An inline transcode that crashes, fails transiently or runs
// out of time is handed to the CPU fleet's queue instead.
//
// Every step is idempotent: a job whose master exists is a duplicate, and a
// job already queued (job.json names it) is not sent twice.
package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/worker"
)

// Actions in Result.Action.
const (
	ActionPublished = "published" // transcoded inline and published
	ActionQueued    = "queued"    // sent to a fleet queue
	ActionDuplicate = "duplicate" // already published or queued: nothing done
	ActionFailed    = "failed"    // the input is at fault; recorded, not retried
	ActionIgnored   = "ignored"   // the event asks for no work
)

// Result is what happened to one job.
type Result struct {
	JobID  string `json:"job_id,omitempty"`
	Source string `json:"source,omitempty"`
	Output string `json:"output,omitempty"`
	Action string `json:"action"`
	Route  string `json:"route,omitempty"`
	Queue  string `json:"queue,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Response is the handler's answer to an S3 or EventBridge event.
type Response struct {
	Results []Result `json:"results"`
}

// Prober describes the source at url.
type Prober func(ctx context.Context, url string) (*pipeline.Info, error)

// Config configures New. Queue and Runner are required.
type Config struct {
	Queue    queue.Queue // the CPU fleet's queue (HLSFLEET_QUEUE_URL)
	QueueURL string      // its URL, for results and logs
	GPUQueue queue.Queue // the GPU fleet's queue; nil: none
	GPUURL   string
	// LiveQueue is the live FIFO queue (HLSFLEET_LIVE_QUEUE_URL): live-segment
	// jobs go there with their stream as the message group and stream.seq
	// as the deduplication id, so streams run in parallel and each one in
	// order. nil: they go to Queue, still grouped by stream.
	LiveQueue queue.Queue
	LiveURL   string
	DLQ       queue.Queue // where permanent failures are parked; nil: none
	Rules     job.Rules   // S3 event → job rules; nil: job.DefaultRules
	// ShortClipSeconds is the longest clip done inline; 0: DefaultShortClipSeconds.
	ShortClipSeconds float64
	Probe            Prober
	Runner           worker.Runner // the inline transcode (a job-exec child)
	Outputs          worker.Outputs
	Cores            int   // 0: runtime.NumCPU()
	MemoryBytes      int64 // the function's memory; 0: not checked
	WorkerID         string
	Logger           *zap.Logger
	Now              func() time.Time
}

// DefaultShortClipSeconds is HLSFLEET_SHORT_CLIP_SECONDS's default.
const DefaultShortClipSeconds = 60

// noDeadline is the time budget assumed when ctx has no deadline.
const noDeadline = 15 * time.Minute

// finishReserve is kept back from an inline transcode's deadline to
// record the outcome or hand the job to the fleet.
const finishReserve = 5 * time.Second

// recordReserve is the least time left in which an SQS record is started.
const recordReserve = 10 * time.Second

// Handler handles Lambda invocations.
type Handler struct {
	c Config
}

// New checks c and returns a Handler.
func New(c Config) (*Handler, error) {
	switch {
	case c.Queue == nil:
		return nil, errors.New("lambda: a queue is required (HLSFLEET_QUEUE_URL)")
	case c.Runner == nil:
		return nil, errors.New("lambda: Config.Runner is required")
	case c.Probe == nil:
		return nil, errors.New("lambda: Config.Probe is required")
	case c.ShortClipSeconds < 0:
		return nil, fmt.Errorf("lambda: short-clip limit %g s is negative", c.ShortClipSeconds)
	}
	if c.Rules == nil {
		c.Rules = job.DefaultRules()
	}
	if err := c.Rules.Validate(); err != nil {
		return nil, fmt.Errorf("lambda: S3 event rules: %w", err)
	}
	if c.ShortClipSeconds == 0 {
		c.ShortClipSeconds = DefaultShortClipSeconds
	}
	if c.Outputs == nil {
		c.Outputs = Outputs{}
	}
	if c.Cores <= 0 {
		c.Cores = numCPU()
	}
	if c.WorkerID == "" {
		c.WorkerID = "lambda"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Handler{c: c}, nil
}

// Invoke handles one invocation: an SQS batch (every record's eventSource
// is "aws:sqs") gives an events.SQSEventResponse; an SNS event (records of
// EventSource "aws:sns", as a topic subscription delivers them) and
// anything else, parsed as an S3 notification, an EventBridge S3 event or a
// job document, give a Response.
func (h *Handler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	// encoding/json matches field names case-insensitively: this reads
	// SQS's "eventSource" and SNS's "EventSource" alike.
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(payload, &probe) == nil && len(probe.Records) > 0 {
		switch probe.Records[0].EventSource {
		case "aws:sqs":
			var ev events.SQSEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return nil, fmt.Errorf("lambda: SQS event: %w", err)
			}
			return h.HandleSQS(ctx, ev), nil
		case "aws:sns":
			return h.HandleSNS(ctx, payload)
		}
	}
	return h.HandleEvent(ctx, payload)
}

// HandleSNS handles an SNS event: each record's notification (an S3 event
// published to a topic, or a job document) is handled as HandleEvent
// handles a direct one, and the results are joined. SNS invokes Lambda
// asynchronously, so a transient fault in any record is an invocation error
// for Lambda to retry; records already done are duplicates then.
func (h *Handler) HandleSNS(ctx context.Context, payload []byte) (*Response, error) {
	var ev struct {
		Records []struct {
			Sns json.RawMessage `json:"Sns"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("%w: SNS event: %w", job.ErrPermanent, err)
	}
	resp := &Response{}
	var transient []error
	for _, r := range ev.Records {
		// The record's Sns object has the notification's own fields (Type,
		// Message, TopicArn...), the shape job.ParseMessage reads from a
		// topic's SQS subscription.
		res, err := h.HandleEvent(ctx, r.Sns)
		if err != nil {
			transient = append(transient, err)
			continue
		}
		resp.Results = append(resp.Results, res.Results...)
	}
	if len(transient) > 0 {
		return nil, errors.Join(transient...)
	}
	return resp, nil
}

// HandleEvent handles an event invoked directly (S3 notification,
// EventBridge). It returns an error only for transient faults, which
// Lambda's retries of asynchronous invocations can cure.
func (h *Handler) HandleEvent(ctx context.Context, payload []byte) (*Response, error) {
	log := h.c.Logger
	jobs, err := job.ParseMessage(payload, h.c.Rules)
	switch {
	case errors.Is(err, job.ErrIgnore):
		log.Info("event ignored: it asks for no work", zap.String("reason", err.Error()))
		return &Response{Results: []Result{{Action: ActionIgnored, Reason: err.Error()}}}, nil
	case errors.Is(err, job.ErrPermanent):
		// A malformed event: retrying cannot help.
		log.Error("event rejected; not retrying", zap.Error(err))
		h.park(ctx, payload, err.Error(), log)
		return &Response{Results: []Result{{Action: ActionFailed, Reason: err.Error()}}}, nil
	case err != nil:
		return nil, err
	}
	resp := &Response{}
	var transient []error
	for _, j := range jobs {
		res, err := h.Process(ctx, j)
		if errors.Is(err, job.ErrPermanent) {
			body, _ := j.Marshal()
			h.park(ctx, body, res.Reason, log.With(zap.String("job_id", j.ID)))
		} else if err != nil {
			transient = append(transient, fmt.Errorf("job %s: %w", j.ID, err))
		}
		resp.Results = append(resp.Results, res)
	}
	if len(transient) > 0 {
		// Lambda retries the invocation; the jobs already done are
		// duplicates then.
		return nil, errors.Join(transient...)
	}
	return resp, nil
}

// HandleSQS handles a batch from an SQS event source mapping (with
// ReportBatchItemFailures): only records that failed transiently, or whose
// permanent fault could not be parked on the DLQ, are returned for
// redelivery.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		log := h.c.Logger.With(zap.String("message_id", m.MessageId))
		if dl, ok := ctx.Deadline(); ok && dl.Sub(h.c.Now()) < recordReserve {
			// Too late to start another record: give it back now rather
			// than time out, which would redeliver the whole batch.
			log.Warn("no time left for this record; it will be redelivered")
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		if !h.handleRecord(ctx, m, log) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	log := h.c.Logger
	log.Info("batch done", zap.Int("records", len(ev.Records)), zap.Int("failures", len(resp.BatchItemFailures)))
	return resp
}

// handleRecord reports whether the record is finished with (true) or must
// be redelivered (false).
func (h *Handler) handleRecord(ctx context.Context, m events.SQSMessage, log *zap.Logger) bool {
	jobs, err := job.ParseMessage([]byte(m.Body), h.c.Rules)
	switch {
	case errors.Is(err, job.ErrIgnore):
		log.Info("message ignored: it asks for no work", zap.String("reason", err.Error()))
		return true
	case errors.Is(err, job.ErrPermanent):
		log.Error("message rejected; not retrying", zap.Error(err))
		return h.park(ctx, []byte(m.Body), err.Error(), log)
	case err != nil:
		log.Warn("message not parsed; it will be redelivered", zap.Error(err))
		return false
	}
	ok := true
	for _, j := range jobs {
		res, err := h.Process(ctx, j)
		switch {
		case errors.Is(err, job.ErrPermanent):
			body, _ := j.Marshal()
			if !h.park(ctx, body, res.Reason, log.With(zap.String("job_id", j.ID))) {
				ok = false
			}
		case err != nil:
			ok = false
		}
	}
	return ok
}

// park copies a permanently failed message or job to the DLQ with its
// reason and reports whether it did (false: there is no DLQ, or the send
// failed).
func (h *Handler) park(ctx context.Context, body []byte, reason string, log *zap.Logger) bool {
	if h.c.DLQ == nil {
		return false
	}
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	if _, err := h.c.DLQ.Send(ctx, body, queue.SendOptions{Attributes: map[string]string{queue.AttrReason: reason}}); err != nil {
		log.Error("parking the failed message on the dead-letter queue failed", zap.Error(err))
		return false
	}
	log.Info("failed message parked on the dead-letter queue")
	return true
}

// Process does one job: skip it when already published or queued, probe,
// route, then transcode inline or send it to a queue. The error wraps
// job.ErrPermanent when the input is at fault (already recorded in the
// status document); any other error is transient (nothing was recorded as
// final; try again).
func (h *Handler) Process(ctx context.Context, j *job.Job) (Result, error) {
	log := h.c.Logger.With(zap.String("job_id", j.ID))
	res := Result{JobID: j.ID, Source: j.Source, Output: j.Output}
	if j.Kind != job.KindVOD {
		// Live segments (and chunks) are the fleet's, in order, on its
		// queue; their output's master and status belong to the stream,
		// not to this one job, so neither is consulted nor written here.
		// The FIFO queue's deduplication (the job's idempotency key)
		// absorbs duplicate events.
		return h.enqueue(ctx, j, res, Decide(j, &pipeline.Info{}, h.c.ShortClipSeconds, h.budget(ctx), false), log)
	}
	published, err := h.c.Outputs.Published(ctx, j)
	if err != nil {
		log.Warn("checking for a published output failed", zap.Error(err))
		return res, err
	}
	if published {
		log.Info("output already published: duplicate event", zap.String("output", j.Output))
		res.Action, res.Reason = ActionDuplicate, "already published"
		return res, nil
	}
	if st, ok := h.status(ctx, j); ok && fleetHas(st, j) {
		log.Info("job already handed to the fleet: duplicate event", zap.String("state", st.State), zap.String("worker", st.Worker))
		res.Action, res.Reason = ActionDuplicate, "already "+st.State
		return res, nil
	}

	info, err := h.c.Probe(ctx, j.Source)
	switch {
	case errors.Is(err, job.ErrPermanent):
		return h.fail(ctx, j, res, err, log)
	case errors.Is(err, ErrProbeCrashed):
		// libav died on this input: let the fleet's retries and
		// dead-letter policy decide, with its crash containment.
		log.Warn("probe crashed; handing the job to the fleet", zap.Error(err))
		return h.enqueue(ctx, j, res, Decision{Route: RouteCPU, Reason: "the probe crashed: " + err.Error()}, log)
	case err != nil:
		log.Warn("probe failed; will retry", zap.Error(err))
		return res, err
	}
	d := Decide(j, info, h.c.ShortClipSeconds, h.budget(ctx), h.c.GPUQueue != nil)
	log.Info("routed", zap.String("route", d.Route.String()), zap.String("reason", d.Reason),
		zap.Float64("media_seconds", info.Duration), zap.Float64("estimate_seconds", d.Estimate.Seconds))
	if d.Route != RouteInline {
		return h.enqueue(ctx, j, res, d, log)
	}
	return h.inline(ctx, j, res, d, log)
}

// budget is what this invocation has left for one inline transcode.
func (h *Handler) budget(ctx context.Context) Budget {
	b := Budget{Remaining: noDeadline, Cores: h.c.Cores, MemoryBytes: h.c.MemoryBytes}
	if dl, ok := ctx.Deadline(); ok {
		b.Remaining = dl.Sub(h.c.Now())
	}
	return b
}

// inline runs j here, in a job-exec child, as a worker would.
func (h *Handler) inline(ctx context.Context, j *job.Job, res Result, d Decision, log *zap.Logger) (Result, error) {
	res.Route = RouteInline.String()
	start := h.c.Now()
	st := job.Status{JobID: j.ID, State: job.StateRunning, Attempt: 1, Worker: h.c.WorkerID,
		Source: j.Source, Output: j.Output, StartedAt: start, UpdatedAt: start}
	h.writeStatus(ctx, j, st, log)
	log.Info("job started", zap.String("source", j.Source), zap.String("output", j.Output), zap.String("route", "inline"))

	runCtx, cancel := context.WithCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		runCtx, cancel = context.WithDeadline(ctx, dl.Add(-finishReserve))
	}
	defer cancel()
	decile := 0
	out, err := h.c.Runner.Run(runCtx, j, func(p worker.Progress) {
		if dd := int(p.Percent / 10); dd > decile && dd < 10 {
			decile = dd
			log.Info("progress", zap.Float64("percent", p.Percent), zap.Float64("speed", p.Speed))
			s := st
			s.Progress, s.UpdatedAt = p.Percent, h.c.Now()
			h.writeStatus(runCtx, j, s, log)
		}
	})
	end := h.c.Now()
	wall := end.Sub(start).Seconds()
	switch {
	case err == nil && out == nil:
		err = errors.New("the job process reported no outcome")
	case err == nil && !out.Published:
		log.Info("output published by someone else meanwhile: duplicate event")
		res.Action, res.Reason = ActionDuplicate, "published by another invocation"
		return res, nil
	case err == nil:
		speed := out.Speed
		if speed <= 0 && wall > 0 {
			speed = out.Duration / wall
		}
		st.State, st.Progress, st.FinishedAt, st.UpdatedAt = job.StatePublished, 100, &end, end
		st.Duration, st.Speed, st.Renditions, st.BytesOut = out.Duration, speed, out.Renditions, out.BytesOut
		h.writeStatus(ctx, j, st, log)
		log.Info("job published", zap.Float64("wall_seconds", wall), zap.Float64("media_seconds", out.Duration),
			zap.Float64("speed", speed), zap.Int("renditions", out.Renditions), zap.Int64("bytes_out", out.BytesOut),
			zap.Float64("estimate_seconds", d.Estimate.Seconds))
		res.Action, res.Reason = ActionPublished, d.Reason
		return res, nil
	case errors.Is(err, job.ErrPermanent):
		return h.fail(ctx, j, res, err, log)
	}
	// Crashed, transient or out of time: the fleet takes it over.
	why := "the inline transcode failed: " + err.Error()
	if runCtx.Err() != nil && ctx.Err() == nil {
		why = fmt.Sprintf("the inline transcode ran out of time after %.0f s (estimated %.0f s)", wall, d.Estimate.Seconds)
	}
	log.Warn("inline transcode did not finish; handing the job to the fleet", zap.Error(err), zap.String("reason", why))
	r, fleetWhy := fleetRoute(&pipeline.Info{}, false) // the CPU fleet contains crashes and retries
	return h.enqueue(context.WithoutCancel(ctx), j, res, Decision{Route: r, Reason: why + "; " + fleetWhy}, log)
}

// enqueue sends j to the queue d.Route names and records it as queued.
func (h *Handler) enqueue(ctx context.Context, j *job.Job, res Result, d Decision, log *zap.Logger) (Result, error) {
	q, url := h.c.Queue, h.c.QueueURL
	switch {
	case j.Kind == job.KindLiveSegment && h.c.LiveQueue != nil:
		// queue.SendJob gives a live segment the same group and
		// deduplication id as a worker's --live-queue forwarding, so a
		// segment reaching the queue both ways runs once.
		q, url, d.Route = h.c.LiveQueue, h.c.LiveURL, RouteLive
	case d.Route == RouteGPU && h.c.GPUQueue != nil:
		q, url = h.c.GPUQueue, h.c.GPUURL
	default:
		d.Route = RouteCPU
	}
	res.Route, res.Queue = d.Route.String(), url
	id, err := queue.SendJob(ctx, q, j)
	if err != nil {
		log.Warn("sending the job to the fleet failed; will retry", zap.Error(err), zap.String("queue", url))
		return res, err
	}
	now := h.c.Now()
	if j.Kind != job.KindVOD {
		log.Info("job queued", zap.String("queue", url), zap.String("message_id", id), zap.String("reason", d.Reason))
		res.Action, res.Reason = ActionQueued, d.Reason
		return res, nil
	}
	h.writeStatus(ctx, j, job.Status{JobID: j.ID, State: job.StateQueued, Worker: h.c.WorkerID,
		Source: j.Source, Output: j.Output, StartedAt: now, UpdatedAt: now, Reason: d.Reason}, log)
	log.Info("job queued", zap.String("queue", url), zap.String("message_id", id), zap.String("reason", d.Reason))
	res.Action, res.Reason = ActionQueued, d.Reason
	return res, nil
}

// fail records a permanent input fault once: job.json, one log line.
func (h *Handler) fail(ctx context.Context, j *job.Job, res Result, err error, log *zap.Logger) (Result, error) {
	fp := h.c.Outputs.Fingerprint(context.WithoutCancel(ctx), j)
	if fp == "" {
		fp = "unknown"
	}
	now := h.c.Now()
	reason := err.Error() + " fingerprint=" + fp
	h.writeStatus(ctx, j, job.Status{JobID: j.ID, State: job.StateFailed, Attempt: 1, Worker: h.c.WorkerID,
		Source: j.Source, Output: j.Output, StartedAt: now, UpdatedAt: now, FinishedAt: &now,
		Error: err.Error(), Reason: "permanent"}, log)
	log.Warn("job failed: the input is at fault; not retrying", zap.Error(err), zap.String("fingerprint", fp))
	res.Action, res.Reason = ActionFailed, reason
	return res, err
}

// fleetHas reports whether status st says the fleet already has job j:
// queued by an invocation, or running or retrying on a worker. A job left
// "running" by an invocation that died is not the fleet's: it is done again
// (the master's conditional create keeps that to one output). A failed job
// is tried again too, so that each delivery of a permanently failing SQS
// record can still be parked or reported (nothing is dropped).
func fleetHas(st job.Status, j *job.Job) bool {
	if st.JobID != j.ID {
		return false
	}
	switch st.State {
	case job.StateQueued:
		return true
	case job.StateRunning, job.StateRetrying:
		return !strings.HasPrefix(st.Worker, "lambda")
	}
	return false
}

// status reads j's status document, if there is one.
func (h *Handler) status(ctx context.Context, j *job.Job) (job.Status, bool) {
	r, ok := h.c.Outputs.(StatusReader)
	if !ok {
		return job.Status{}, false
	}
	return r.ReadStatus(ctx, j)
}

// StatusReader is implemented by Outputs that can read a status back.
type StatusReader interface {
	ReadStatus(ctx context.Context, j *job.Job) (job.Status, bool)
}

func (h *Handler) writeStatus(ctx context.Context, j *job.Job, st job.Status, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := h.c.Outputs.WriteStatus(ctx, j, st); err != nil {
		log.Warn("writing the job status failed", zap.String("state", st.State), zap.Error(err))
	}
}

// WorkerID names this function in status documents: "lambda:NAME".
func WorkerID() string {
	if fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		return "lambda:" + fn
	}
	return "lambda"
}
