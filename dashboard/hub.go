package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Job is one job as the dashboard shows it.
type Job struct {
	ID       string  `json:"id"`
	State    string  `json:"state"` // queued, running, retrying, published, failed
	Progress float64 `json:"progress"`
	Attempt  int     `json:"attempt,omitempty"`
	Worker   string  `json:"worker,omitempty"`
	Source   string  `json:"source,omitempty"`
	Output   string  `json:"output,omitempty"`
	// Path is the output's key prefix below the output root ("" when the
	// output lies elsewhere): the player reads /media/<Path>/master.m3u8.
	Path       string     `json:"path,omitempty"`
	Error      string     `json:"error,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	RetryAt    *time.Time `json:"retry_at,omitempty"`
	Duration   float64    `json:"duration_seconds,omitempty"`
	Speed      float64    `json:"speed,omitempty"`
	Renditions int        `json:"renditions,omitempty"`
	BytesOut   int64      `json:"bytes_out,omitempty"`
	// Extras of the output (from the scan), as names relative to Path (in
	// a fleet output, inside the publishing attempt's folder): the
	// poster, the storyboard index, progressive MP4 files, and job.json's
	// quality report.
	Poster     string          `json:"poster,omitempty"`
	Storyboard string          `json:"storyboard,omitempty"`
	MP4        []string        `json:"mp4,omitempty"`
	Quality    json.RawMessage `json:"quality,omitempty"`
	// Chunks are a chunked job's figures (issue H): one row for the job,
	// its chunks counted.
	Chunks *ChunkView `json:"chunks,omitempty"`
}

// ChunkView is a chunked job's figures as its row shows them, Text
// ready to print: "chunks: 7/30 done, 3 running on 2 workers".
type ChunkView struct {
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Running int    `json:"running"`
	Workers int    `json:"workers"`
	Failed  int    `json:"failed,omitempty"`
	Text    string `json:"text"`
}

// DeadLetter is one dead letter as the dashboard shows it.
type DeadLetter struct {
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at,omitempty"`
	Count   int       `json:"receive_count,omitempty"`
	JobID   string    `json:"job_id,omitempty"`
	Source  string    `json:"source,omitempty"`
	Output  string    `json:"output,omitempty"`
	Preview string    `json:"body,omitempty"` // the body's first bytes when it is not a job
}

// Stream is one live stream below the output root.
type Stream struct {
	Name string `json:"name"`
	// Path is the stream's key prefix: the master is /media/<Path>/master.m3u8.
	Path string `json:"path"`
	// NewestSegmentAt is the time the newest segment was written;
	// LatencySeconds is the scan time minus it (0 once the stream ended).
	NewestSegmentAt time.Time `json:"newest_segment_at"`
	LatencySeconds  float64   `json:"latency_seconds"`
	Segments        int       `json:"segments"`
	Ended           bool      `json:"ended"`
}

// Stats are the queue's figures.
type Stats struct {
	Visible     int64   `json:"visible"`
	InFlight    int64   `json:"in_flight"`
	Delayed     int64   `json:"delayed"`
	OldestAgeS  float64 `json:"oldest_age_seconds"`
	DeadLetters int     `json:"dead_letters"`
	Error       string  `json:"error,omitempty"`
}

// Info says what this dashboard can do.
type Info struct {
	Uploads   bool   `json:"uploads"`
	MaxUpload int64  `json:"max_upload"`
	HLSJS     bool   `json:"hlsjs"`
	Queue     bool   `json:"queue"`
	DLQ       bool   `json:"dlq"`
	Output    string `json:"output"`
}

// State is the whole picture: the first event of every stream and GET /api/state.
type State struct {
	Info        Info         `json:"info"`
	Jobs        []Job        `json:"jobs"`
	DeadLetters []DeadLetter `json:"dead_letters"`
	DLQError    string       `json:"dlq_error,omitempty"`
	Streams     []Stream     `json:"streams"`
	Stats       *Stats       `json:"stats,omitempty"`
}

// hub keeps the state and fans changes out to the event streams. Sends to a
// subscriber never block: one that cannot keep up is dropped, and its
// browser reconnects and starts again from a snapshot.
type hub struct {
	mu      sync.Mutex
	now     func() time.Time
	info    Info
	jobs    map[string]*Job
	dead    []DeadLetter
	dlqErr  string
	streams []Stream
	stats   *Stats
	subs    map[chan []byte]struct{}
	closed  bool
}

// MaxJobs is the most jobs a snapshot carries (the most recently updated).
const MaxJobs = 500

// subscriberBuffer is how many events a slow stream may fall behind.
const subscriberBuffer = 256

func newHub(now func() time.Time) *hub {
	return &hub{now: now, jobs: map[string]*Job{}, subs: map[chan []byte]struct{}{}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled
	}
	return b
}

// frame is one server-sent event.
func frame(event string, v any) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", event, mustJSON(v))
	return b.Bytes()
}

// broadcast sends f to every subscriber; h.mu is held.
func (h *hub) broadcast(f []byte) {
	for ch := range h.subs {
		select {
		case ch <- f:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) subscribe() (chan []byte, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan []byte, subscriberBuffer)
	if h.closed {
		close(ch)
		return ch, nil
	}
	h.subs[ch] = struct{}{}
	return ch, frame("snapshot", h.stateLocked())
}

func (h *hub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// EndStreams ends every event stream (the pages reconnect); a server about
// to shut down calls it so that open streams do not hold the shutdown up.
func (s *Server) EndStreams() { s.hub.endStreams() }

func (h *hub) endStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) state() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stateLocked()
}

func (h *hub) stateLocked() State {
	st := State{Info: h.info, DeadLetters: h.dead, DLQError: h.dlqErr, Streams: h.streams, Stats: h.stats, Jobs: []Job{}}
	for _, j := range h.jobs {
		st.Jobs = append(st.Jobs, *j)
	}
	sort.Slice(st.Jobs, func(a, b int) bool {
		if !st.Jobs[a].UpdatedAt.Equal(st.Jobs[b].UpdatedAt) {
			return st.Jobs[a].UpdatedAt.After(st.Jobs[b].UpdatedAt)
		}
		return st.Jobs[a].ID < st.Jobs[b].ID
	})
	if len(st.Jobs) > MaxJobs {
		st.Jobs = st.Jobs[:MaxJobs]
	}
	if st.DeadLetters == nil {
		st.DeadLetters = []DeadLetter{}
	}
	if st.Streams == nil {
		st.Streams = []Stream{}
	}
	return st
}

func (h *hub) setInfo(i Info) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.info = i
}

func (h *hub) job(id string) (Job, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	j, ok := h.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

// update merges a job view. authoritative views (worker events, the
// dashboard's own actions) replace the state unless they are older than what
// is shown; a scanned job.json replaces it only when it is newer, so a stale
// document never moves a bar back. The extras of a scan are always kept.
func (h *hub) update(j Job, fromScan bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.jobs[j.ID]
	if ok {
		if fromScan {
			if !j.UpdatedAt.After(cur.UpdatedAt) {
				// Keep the state; take the extras, which only a scan knows.
				if extrasEqual(cur, &j) {
					return
				}
				cur.Poster, cur.Storyboard, cur.MP4, cur.Quality = j.Poster, j.Storyboard, j.MP4, j.Quality
				h.broadcast(frame("job", cur))
				return
			}
		} else {
			if j.UpdatedAt.Before(cur.UpdatedAt) {
				return
			}
			j.Poster, j.Storyboard, j.MP4, j.Quality = cur.Poster, cur.Storyboard, cur.MP4, cur.Quality
			if j.Path == "" {
				j.Path = cur.Path
			}
			if j.Source == "" {
				j.Source = cur.Source
			}
			if j.Output == "" {
				j.Output = cur.Output
			}
		}
		if jobEqual(cur, &j) {
			return
		}
	}
	jj := j
	h.jobs[j.ID] = &jj
	h.broadcast(frame("job", jj))
}

func extrasEqual(a, b *Job) bool {
	return a.Poster == b.Poster && a.Storyboard == b.Storyboard &&
		bytes.Equal(mustJSON(a.MP4), mustJSON(b.MP4)) && bytes.Equal(a.Quality, b.Quality)
}

func jobEqual(a, b *Job) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

// setList replaces one of the lists (dead letters, streams, stats) and sends
// it when it changed.
func (h *hub) setDead(d []DeadLetter, errText string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d == nil {
		d = []DeadLetter{}
	}
	if bytes.Equal(mustJSON(d), mustJSON(h.dead)) && errText == h.dlqErr && h.dead != nil {
		return
	}
	h.dead, h.dlqErr = d, errText
	h.broadcast(frame("dlq", map[string]any{"dead_letters": d, "error": errText}))
}

func (h *hub) setStreams(s []Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s == nil {
		s = []Stream{}
	}
	if bytes.Equal(mustJSON(s), mustJSON(h.streams)) && h.streams != nil {
		return
	}
	h.streams = s
	h.broadcast(frame("streams", s))
}

func (h *hub) setStats(s Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stats != nil && *h.stats == s {
		return
	}
	h.stats = &s
	h.broadcast(frame("stats", s))
}

// handleEvents is the server-sent-events stream: a snapshot first, then
// every change as it happens, and a comment every 15 s to keep proxies from
// closing an idle stream.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	ch, snap := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 2000\n\n"))
	if snap != nil {
		_, _ = w.Write(snap)
	}
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case f, ok := <-ch:
			if !ok {
				return // dropped for being slow, or the server is closing
			}
			if _, err := w.Write(f); err != nil {
				return
			}
			fl.Flush()
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(mustJSON(s.hub.state()))
}
