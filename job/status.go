package job

import "time"

// The shared vocabulary of a job's output and status: what every package
// (worker, events, dashboard, Lambda, CLI) reads and writes, kept here so
// that none of them has to link libav to speak it.

// Output names every presentation uses.
const (
	// MasterName is the publish point of every presentation: its presence
	// means the output is whole.
	MasterName = "master.m3u8"
	// PosterName is the poster image written with every presentation that
	// has video (in a fleet output, inside the attempt's folder: see
	// Extras.Poster).
	PosterName = "poster.jpg"
	// StatusName is the per-job status document next to the master playlist.
	StatusName = "job.json"
)

// Job states in Status.State.
//
// The states move forward only, and published is final: a status document
// that says published is never replaced (MayReplace), whichever job or
// attempt writes next, so a losing or late attempt's progress or failure
// cannot hide a published output. The other states follow each other as
// attempts come and go (queued → running → retrying → running → failed,
// and a redriven dead letter runs again).
const (
	StateQueued    = "queued"    // waiting for a worker (released by a worker's shutdown)
	StateRunning   = "running"   // a worker is running it
	StatePublished = "published" // the output is whole: master.m3u8 exists; final
	StateFailed    = "failed"    // permanent failure; the message is in the dead-letter queue
	StateRetrying  = "retrying"  // the last attempt failed; it will be tried again
)

// MayReplace reports whether next may replace cur as an output's status
// document: anything may replace a document that does not say published,
// nothing replaces one that does.
func MayReplace(cur, next Status) bool { return cur.State != StatePublished }

// Status is a job's status document (<output>/job.json), kept current while
// the job runs.
type Status struct {
	JobID      string     `json:"job_id"`
	State      string     `json:"state"`
	Progress   float64    `json:"progress"` // percent, 0..100
	Attempt    int        `json:"attempt"`  // the message's receive count
	Worker     string     `json:"worker"`
	Source     string     `json:"source"`
	Output     string     `json:"output"`
	StartedAt  time.Time  `json:"started_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Error is the last attempt's error (failed, retrying): while storage
	// or the queue is out, the last infrastructure error.
	Error string `json:"error,omitempty"`
	// Reason is the error's class (fault.Class's name): "permanent",
	// "crashed", "transient", "shutdown", "infrastructure".
	Reason string `json:"reason,omitempty"`
	// RetryAt is when a retrying job becomes visible again.
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// PublishedBy is the job whose attempt published the output (its
	// conditional create of the master won): this document's job, or
	// another job of the same output (a duplicate submission). "" when a
	// later delivery found the output published under a stale document and
	// could not tell (see RepairedBy).
	PublishedBy string `json:"published_by_job,omitempty"`
	// AttemptID names the attempt that published the output (the objects
	// it wrote carry it); "" when not known.
	AttemptID string `json:"attempt_id,omitempty"`
	// RepairedBy says who found the output published while this document
	// said otherwise (its publisher died between the master and the status
	// write) and corrected it: "WORKER (job ID, attempt N)".
	RepairedBy string `json:"repaired_by,omitempty"`
	// Outcome fields of a published job.
	Duration   float64 `json:"duration_seconds,omitempty"`
	Speed      float64 `json:"speed,omitempty"`
	Renditions int     `json:"renditions,omitempty"`
	BytesOut   int64   `json:"bytes_out,omitempty"`
	// Chunks are a chunked job's figures (issue H): set from the plan on,
	// kept current by every chunk's worker.
	Chunks *ChunkStatus `json:"chunks,omitempty"`
	Extras
}

// ChunkStatus is a chunked job's figures in its job.json: how many chunks,
// how many are done (as chunks.json said to the last chunk that finished),
// how many run on which worker, which failed for good, and each running
// chunk's progress. The workers of the job's chunks each merge their own
// entry into it by compare-and-swap, so none overwrites another's.
//
//	"chunks": {"total": 30, "done": 7, "running": {"w1-4242": 2, "w2-77": 1},
//	           "active": {"7": {"worker": "w1-4242", "state": "running", "percent": 40, ...}, ...}}
type ChunkStatus struct {
	// PlanID is the plan (chunks.json's plan_id) the figures are of.
	PlanID string `json:"plan_id,omitempty"`
	Total  int    `json:"total"`
	Done   int    `json:"done"`
	// Running is how many chunks run on each worker (from Active).
	Running map[string]int `json:"running,omitempty"`
	// Failed are the chunks that failed for good (the job failed with
	// the first one's reason).
	Failed []ChunkFailure `json:"failed,omitempty"`
	// Active is each chunk being worked on, by its index in decimal.
	Active map[string]ChunkProgress `json:"active,omitempty"`
}

// ChunkProgress is one chunk being worked on: by which worker, running or
// retrying, and how far (percent of the chunk).
type ChunkProgress struct {
	Worker    string    `json:"worker"`
	State     string    `json:"state"` // StateRunning or StateRetrying
	Percent   float64   `json:"percent"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChunkFailure is a chunk that failed for good, and why.
type ChunkFailure struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Tally recomputes Running from Active and returns the job's progress in
// percent: every done chunk counts whole, every running or retrying one
// by its percent, over Total. It stays below 100 (100 is published).
func (c *ChunkStatus) Tally() float64 {
	c.Running = nil
	sum := 100 * float64(c.Done)
	for _, a := range c.Active {
		if a.State == StateRunning {
			if c.Running == nil {
				c.Running = map[string]int{}
			}
			c.Running[a.Worker]++
		}
		sum += min(max(a.Percent, 0), 100)
	}
	if c.Total <= 0 {
		return 0
	}
	return min(sum/float64(c.Total), 99.9)
}

// Extras are what a published output has besides its master: the quality
// report and the names (relative to the output) of the media playlists,
// the poster, the storyboard index and the progressive MP4. A fleet output
// keeps each attempt's files in a folder of its own (jobexec/attempt), so
// these are the published attempt's names; read them here (or follow the
// master) rather than guessing fixed ones. Status and the worker's outcome
// embed it, so the fields sit at the top level of job.json:
//
//	"quality": [{"rendition": "720p", "width": 1280, "height": 720,
//	             "ssim": 0.97, "psnr_db": 38.2, "frames": 12,
//	             "ssim_gain": 0.012, "dropped": false}],
//	"playlists": ["720p/k3x7q2abcd/index.m3u8", "360p/k3x7q2abcd/index.m3u8"],
//	"poster": "k3x7q2abcd/poster.jpg", "storyboard": "k3x7q2abcd/storyboard.vtt",
//	"mp4": "k3x7q2abcd/720p.mp4"
type Extras struct {
	Quality    []Quality `json:"quality,omitempty"`
	Playlists  []string  `json:"playlists,omitempty"`
	Poster     string    `json:"poster,omitempty"`
	Storyboard string    `json:"storyboard,omitempty"`
	MP4        string    `json:"mp4,omitempty"`
}

// Quality is one rendition's figures against the source.
//
// Both pictures are compared at the size of the top rung: the source frame
// is scaled down to it (detail beyond the largest rung is something no rung
// can show, and comparing at a 4K source's size would cost 4x more), and the
// rendition is scaled back up to it with bicubic, as a player fills the same
// screen. A lower rung is thus charged for the detail its resolution loses,
// which is what makes "SSIM gain over the next lower rung" mean something.
type Quality struct {
	Rendition string  `json:"rendition"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	SSIM      float64 `json:"ssim"`    // mean SSIM (all planes), 0..1
	PSNR      float64 `json:"psnr_db"` // from the mean MSE over the frames; capped at 100
	Frames    int     `json:"frames"`  // frames compared
	// SSIMGain is the SSIM above the next lower rung kept (absent for the
	// lowest rung and when either has no figures).
	SSIMGain *float64 `json:"ssim_gain,omitempty"`
	// Dropped says the quality gate removed the rung from the master.
	Dropped bool `json:"dropped,omitempty"`
}
