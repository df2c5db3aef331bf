package dashboard

import (
	"fmt"
	"strings"

	"github.com/hlsfleet/hlsfleet/job"
)

// JobEvent implements job.EventSink: the job's row changes as soon as the
// worker says so. It never blocks (the hub drops streams that fall behind).
func (s *Server) JobEvent(e job.StateChange) {
	if liveSegment(e.Job) {
		return
	}
	st := e.Status
	id := st.JobID
	if e.Job != nil {
		id = e.Job.ID
	}
	if id == "" {
		return // a message that was not a job: the dead-letter list shows it
	}
	v := fromStatus(st)
	v.ID = id
	if e.Job != nil {
		v.Source, v.Output = e.Job.Source, e.Job.Output
	}
	v.Path = s.relPath(v.Output)
	switch e.Type {
	case job.EventDeadLettered, job.EventFailed:
		v.State = job.StateFailed
		if v.Error == "" {
			v.Error = e.Reason
		}
	case job.EventReleased:
		v.State = job.StateQueued
	case job.EventPublished:
		v.State, v.Progress = job.StatePublished, 100
	}
	if e.Time.After(v.UpdatedAt) {
		v.UpdatedAt = e.Time
	}
	s.hub.update(v, false)
}

// Queued records a job that was just sent to the queue (by an upload or by
// `hlsfleet local`'s inbox), so it shows before a worker picks it up.
func (s *Server) Queued(j *job.Job) {
	if liveSegment(j) {
		return
	}
	s.hub.update(Job{
		ID: j.ID, State: job.StateQueued, Source: j.Source, Output: j.Output,
		Path: s.relPath(j.Output), UpdatedAt: s.cfg.Now(),
	}, false)
}

// liveSegment reports a live-segment job: a stream makes one every few
// seconds, so they are shown as the stream (the live table, from the
// output's playlists), not as jobs; one that fails for good still shows in
// the dead-letter list.
func liveSegment(j *job.Job) bool { return j != nil && j.Kind == job.KindLiveSegment }

func fromStatus(st job.Status) Job {
	v := Job{
		ID: st.JobID, State: st.State, Progress: st.Progress, Attempt: st.Attempt, Worker: st.Worker,
		Source: st.Source, Output: st.Output, Error: st.Error, Reason: st.Reason,
		UpdatedAt: st.UpdatedAt, FinishedAt: st.FinishedAt, RetryAt: st.RetryAt,
		Duration: st.Duration, Speed: st.Speed, Renditions: st.Renditions, BytesOut: st.BytesOut,
	}
	if !st.StartedAt.IsZero() {
		t := st.StartedAt
		v.StartedAt = &t
	}
	if c := st.Chunks; c != nil && c.Total > 0 {
		v.Chunks = chunkView(*c)
	}
	return v
}

// chunkView is what a chunked job's row shows of its job.json's figures.
func chunkView(c job.ChunkStatus) *ChunkView {
	cv := &ChunkView{Total: c.Total, Done: min(c.Done, c.Total), Workers: len(c.Running), Failed: len(c.Failed)}
	for _, n := range c.Running {
		cv.Running += n
	}
	cv.Text = fmt.Sprintf("chunks: %d/%d done", cv.Done, cv.Total)
	if cv.Running > 0 {
		cv.Text += fmt.Sprintf(", %d running on %d %s", cv.Running, cv.Workers, plural(cv.Workers, "worker", "workers"))
	}
	if cv.Failed > 0 {
		cv.Text += fmt.Sprintf(", %d failed", cv.Failed)
	}
	return cv
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// relPath is output's key prefix below the output root, or "" when output
// lies elsewhere.
func (s *Server) relPath(output string) string {
	output = strings.TrimSuffix(output, "/")
	if !strings.HasPrefix(output, s.outRoot+"/") {
		return ""
	}
	rel := output[len(s.outRoot)+1:]
	if validKey(rel+"/x") != nil {
		return ""
	}
	return rel
}
