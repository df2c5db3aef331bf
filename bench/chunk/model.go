package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// jobSpan is one queue message of a run (a job: the parent VOD job or a
// chunk) as the worker's log tells it: received and acknowledged (a slot
// busy), the job started and ended (ended: its line with wall_seconds,
// else its last line).
type jobSpan struct {
	jobID, messageID         string
	received, started, ended time.Time
	acked                    time.Time
	wall                     float64 // wall_seconds the worker logged, 0 if none
	index                    int     // chunk index the log gave (chunk_index, chunk or index), -1 if none
	failed                   string  // a "job failed..." or dead-letter line and its error
	receivedSeen, ackedSeen  bool
	startedSeen, endedByWall bool
}

// busy returns the span's slot occupancy: message received → acknowledged
// (started → ended when the log lacks those lines).
func (s jobSpan) busy() (from, to time.Time) {
	from, to = s.received, s.acked
	if !s.receivedSeen {
		from = s.started
	}
	if !s.ackedSeen {
		to = s.ended
	}
	return from, to
}

// seconds is the span's slot occupancy in seconds.
func (s jobSpan) seconds() float64 {
	from, to := s.busy()
	return to.Sub(from).Seconds()
}

// zapTime is the layout of zap's ISO8601 time encoder.
const zapTime = "2006-01-02T15:04:05.000Z0700"

// parseLog reads a worker's zap JSON log and returns its messages that
// ran a job, by message id. Every line about a message carries its
// message_id; those about its job add the job_id. Keying by message, not
// job, keeps chunk jobs apart even if they carried their parent's id.
func parseLog(r io.Reader) (map[string]*jobSpan, error) {
	spans := map[string]*jobSpan{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	str := func(f map[string]any, k string) string { s, _ := f[k].(string); return s }
	for sc.Scan() {
		var f map[string]any
		if json.Unmarshal(sc.Bytes(), &f) != nil {
			continue
		}
		ts := str(f, "ts")
		at, err := time.Parse(zapTime, ts)
		if err != nil {
			if at, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				continue
			}
		}
		msgID := str(f, "message_id")
		if msgID == "" {
			continue
		}
		s := spans[msgID]
		if s == nil {
			s = &jobSpan{messageID: msgID, index: -1}
			spans[msgID] = s
		}
		msg := str(f, "msg")
		switch {
		case msg == "message received":
			if !s.receivedSeen {
				s.received, s.receivedSeen = at, true
			}
		case msg == "message acknowledged":
			s.acked, s.ackedSeen = at, true
		case msg == "job started":
			s.started, s.startedSeen = at, true
		case strings.HasPrefix(msg, "job failed") || strings.Contains(msg, "dead-letter"):
			s.failed = msg + ": " + str(f, "error")
		}
		id := str(f, "job_id")
		if id == "" {
			continue
		}
		if s.jobID == "" {
			s.jobID = id
		}
		for _, k := range []string{"chunk_index", "chunk", "index"} {
			if v, ok := f[k].(float64); ok && s.index < 0 {
				s.index = int(v)
			}
		}
		if w, ok := f["wall_seconds"].(float64); ok && !s.endedByWall {
			s.wall, s.ended, s.endedByWall = w, at, true
		} else if !s.endedByWall {
			s.ended = at
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for id, s := range spans {
		if s.jobID == "" && s.failed == "" {
			delete(spans, id) // a message that ran no job (ignored, forwarded)
		}
	}
	return spans, nil
}

// parseLogFile is parseLog on a file.
func parseLogFile(path string) (map[string]*jobSpan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLog(f)
}

// split returns the parent's span (the first received of the messages
// with its job id; nil when none) and the chunks' (every other message)
// in plan order: by the index the log gave, else by when they started.
func split(spans map[string]*jobSpan, parent string) (*jobSpan, []*jobSpan) {
	all := make([]*jobSpan, 0, len(spans))
	for _, s := range spans {
		all = append(all, s)
	}
	sort.Slice(all, func(a, b int) bool {
		fa, _ := all[a].busy()
		fb, _ := all[b].busy()
		return fa.Before(fb)
	})
	var p *jobSpan
	var cs []*jobSpan
	for _, s := range all {
		if p == nil && s.jobID == parent {
			p = s
			continue
		}
		cs = append(cs, s)
	}
	sort.SliceStable(cs, func(a, b int) bool {
		return cs[a].index >= 0 && cs[b].index >= 0 && cs[a].index < cs[b].index
	})
	return p, cs
}

// pickups returns, for each chunk received after the parent was
// acknowledged while fewer than slots jobs were busy, how long the free
// slot waited: received - max(the parent's ack, the last ack before).
// Chunks received earlier (while the parent was still ending) have no
// reference and are left out.
func pickups(parent *jobSpan, chunks []*jobSpan, slots int) []float64 {
	all := append([]*jobSpan{parent}, chunks...)
	_, parentEnd := parent.busy()
	var out []float64
	for _, c := range chunks {
		at, _ := c.busy()
		if at.Before(parentEnd) {
			continue
		}
		running := 0
		free := parentEnd
		for _, o := range all {
			if o == c {
				continue
			}
			from, to := o.busy()
			if !from.After(at) && to.After(at) {
				running++
			}
			if !to.After(at) && to.After(free) {
				free = to
			}
		}
		if running < slots {
			out = append(out, at.Sub(free).Seconds())
		}
	}
	return out
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// phases are the measured parts of a chunked job that the makespan model
// puts together.
type phases struct {
	plan      float64   // send → the parent job acknowledged: its pickup, probe, plan, chunk messages
	pickup    float64   // median wait of a free slot for the next chunk message
	chunks    []float64 // seconds a slot is busy with each chunk, plan order, the finish taken out
	media     []float64 // each chunk's media seconds (from the plan)
	finish    float64   // the last chunk's extra work: playlists, extras, master
	finishHow string    // how finish was told apart from the last chunk's transcode
}

// measurePhases derives the model's phases from one run's log: sent is
// when the job was sent, parent its job id, media each chunk's media
// seconds in plan order, elapsed each chunk's own transcode seconds from
// the chunk results (nil when the run left none), slots the job slots,
// finish the finish's seconds as the job child logged them (below 0: not
// logged, then it is told apart from the last chunk's busy time).
func measurePhases(jobs map[string]*jobSpan, parent string, sent time.Time, media, elapsed []float64, slots int, finish float64) (phases, error) {
	var ph phases
	p, cs := split(jobs, parent)
	if p == nil {
		return ph, fmt.Errorf("the worker log has no run of the parent job %s", parent)
	}
	if len(cs) == 0 {
		return ph, fmt.Errorf("the worker log has no chunk job besides the parent %s", parent)
	}
	if len(media) != len(cs) {
		return ph, fmt.Errorf("the worker log has %d chunk jobs, the plan %d chunks", len(cs), len(media))
	}
	_, parentEnd := p.busy()
	ph.plan = parentEnd.Sub(sent).Seconds()
	ph.pickup = median(pickups(p, cs, slots))
	ph.media = media
	last := 0 // the chunk acknowledged last finished the presentation
	var lastEnd time.Time
	for i, c := range cs {
		ph.chunks = append(ph.chunks, c.seconds())
		if _, to := c.busy(); i == 0 || !to.Before(lastEnd) {
			last, lastEnd = i, to
		}
	}
	var others []float64
	switch {
	case finish >= 0:
		ph.finish = finish
		ph.finishHow = "the finishing chunk's child log: \"every chunk done: finishing\" → \"chunked job published\""
	case len(elapsed) == len(cs):
		// Each chunk's fixed cost around its transcode (status, child
		// start, results) from the others; what is left is the finish.
		for i := range cs {
			if i != last {
				others = append(others, ph.chunks[i]-elapsed[i])
			}
		}
		ph.finish = ph.chunks[last] - elapsed[last] - median(others)
		ph.finishHow = "last chunk's busy time - its transcode (chunk results' elapsed_seconds) - the other chunks' median overhead"
	default:
		for i := range cs {
			if i != last && media[i] > 0 {
				others = append(others, ph.chunks[i]/media[i])
			}
		}
		if len(others) == 0 {
			return ph, fmt.Errorf("only one chunk: no rate to tell its transcode from the finish")
		}
		ph.finish = ph.chunks[last] - median(others)*media[last]
		ph.finishHow = "last chunk's busy time - the other chunks' median busy seconds per media second x its media seconds"
	}
	ph.finish = math.Max(ph.finish, 0)
	ph.chunks[last] -= ph.finish
	return ph, nil
}

// finishFromLog is the seconds from the job child's "every chunk done:
// finishing" to its "chunked job published" in the worker log at path
// (the child's lines go to the worker's stderr), or -1 when either is
// missing.
func finishFromLog(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	var from, to time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l struct{ Msg, TS string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		at, err := time.Parse(zapTime, l.TS)
		switch {
		case err != nil:
		case l.Msg == "every chunk done: finishing":
			from = at
		case l.Msg == "chunked job published" && !from.IsZero():
			to = at
		}
	}
	if from.IsZero() || to.Before(from) {
		return -1
	}
	return to.Sub(from).Seconds()
}

// rate is the chunks' median busy seconds per media second.
func (ph phases) rate() float64 {
	var r []float64
	for i, c := range ph.chunks {
		if ph.media[i] > 0 {
			r = append(r, c/ph.media[i])
		}
	}
	return median(r)
}

// listSchedule returns when the last of the jobs (seconds each, in order)
// ends on n workers that each take the next job when free, every job
// costing pickup more.
func listSchedule(n int, pickup float64, jobs []float64) float64 {
	free := make([]float64, max(n, 1))
	end := 0.0
	for _, j := range jobs {
		i := 0
		for k := range free {
			if free[k] < free[i] {
				i = k
			}
		}
		free[i] += pickup + j
		end = math.Max(end, free[i])
	}
	return end
}

// makespan is the model: M(N) = plan + LS_N(pickup + c_i) + finish.
func (ph phases) makespan(n int) float64 {
	return ph.plan + listSchedule(n, ph.pickup, ph.chunks) + ph.finish
}

// extrapolate returns the phases of a source of seconds (chunked into
// media), the chunks costing the measured rate per media second, the
// finish scaled with the duration when linear (it writes playlists over
// every segment and remuxes one rendition into the MP4) or kept, and the
// planning and pickup as measured.
func (ph phases) extrapolate(seconds, measured float64, media []float64, linear bool) phases {
	out := phases{plan: ph.plan, pickup: ph.pickup, media: media, finish: ph.finish, finishHow: ph.finishHow}
	r := ph.rate()
	for _, m := range media {
		out.chunks = append(out.chunks, r*m)
	}
	if linear && measured > 0 {
		out.finish = ph.finish * seconds / measured
	}
	return out
}

// findChunkElapsed looks under dir for the chunk results the chunked job
// stored (a chunks.json: an array, or an object with an array, of
// objects with "index" and "elapsed_seconds") and returns each chunk's
// elapsed seconds by index; nil when there is none.
func findChunkElapsed(dir string, n int) []float64 {
	var found []float64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "chunks.json" || found != nil {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		found = elapsedFrom(data, n)
		return nil
	})
	return found
}

// elapsedFrom finds the per-chunk elapsed_seconds in a chunks.json.
func elapsedFrom(data []byte, n int) []float64 {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	var walk func(any) []float64
	walk = func(v any) []float64 {
		switch x := v.(type) {
		case []any:
			out := make([]float64, n)
			seen := 0
			for _, e := range x {
				o, ok := e.(map[string]any)
				if !ok {
					continue
				}
				i, ok1 := o["index"].(float64)
				el, ok2 := o["elapsed_seconds"].(float64)
				if ok1 && ok2 && int(i) >= 0 && int(i) < n {
					out[int(i)] = el
					seen++
				}
			}
			if seen == n {
				return out
			}
			for _, e := range x {
				if r := walk(e); r != nil {
					return r
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if r := walk(x[k]); r != nil {
					return r
				}
			}
		}
		return nil
	}
	return walk(v)
}
