package dashboard

import (
	"context"
	"encoding/json"
	"path"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// docCache remembers the last parsed version of one job.json.
type docCache struct {
	etag   string
	job    Job
	extras job.Extras
	ok     bool
}

// LivePrefix is the key prefix of live streams below the output root
// (<out>/live/<stream>/master.m3u8).
const LivePrefix = "live/"

// Scan reads the output root (job.json documents, extras, live streams),
// the queue's figures and the dead letters once, and sends what changed.
func (s *Server) Scan(ctx context.Context) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	now := s.cfg.Now()
	objs, err := s.out.List(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("dashboard: listing the output root", zap.String("output", s.outRoot), zap.Error(err))
		}
	} else {
		s.scanJobs(ctx, objs)
		s.hub.setStreams(s.scanStreams(ctx, objs, now))
	}
	var st Stats
	if s.cfg.Queue != nil {
		qs, err := s.cfg.Queue.Stats(ctx)
		if err != nil {
			st.Error = err.Error()
		}
		st.Visible, st.InFlight, st.Delayed, st.OldestAgeS = qs.Visible, qs.InFlight, qs.Delayed, qs.OldestAge.Seconds()
	}
	if s.dead != nil {
		dl, err := s.dead.list(ctx)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		views := make([]DeadLetter, 0, len(dl))
		for _, d := range dl {
			views = append(views, deadView(d))
		}
		st.DeadLetters = len(views)
		if ctx.Err() == nil {
			s.hub.setDead(views, errText)
		}
	}
	if s.cfg.Queue != nil || s.cfg.DeadLetters != nil {
		s.hub.setStats(st)
	}
}

func deadView(d queue.DeadLetter) DeadLetter {
	v := DeadLetter{ID: d.ID, Reason: d.Reason, At: d.At, Count: d.ReceiveCount}
	var j job.Job
	if err := json.Unmarshal(d.Body, &j); err == nil && j.ID != "" {
		v.JobID, v.Source, v.Output = j.ID, j.Source, j.Output
	} else {
		p := d.Body
		if len(p) > 200 {
			p = p[:200]
		}
		v.Preview = strings.ToValidUTF8(string(p), "?")
	}
	return v
}

// scanJobs reads every job.json below the root that changed since the last
// scan and notes each output's extras.
func (s *Server) scanJobs(ctx context.Context, objs []storage.Attrs) {
	keys := map[string]bool{}
	mp4s := map[string][]string{} // progressive MP4 files directly in a folder
	var docs []storage.Attrs
	for _, o := range objs {
		if strings.HasPrefix(o.Key, LivePrefix) || hiddenKey(o.Key) {
			continue
		}
		keys[o.Key] = true
		dir, name := path.Split(o.Key)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			continue
		}
		switch {
		case name == job.StatusName:
			docs = append(docs, o)
		case strings.HasSuffix(name, ".mp4") && name != "init.mp4":
			mp4s[dir] = append(mp4s[dir], name)
		}
	}
	seen := map[string]bool{}
	for _, o := range docs {
		seen[o.Key] = true
		c, ok := s.docs[o.Key]
		if !ok || c.etag != o.ETag {
			c = docCache{etag: o.ETag}
			data, err := s.out.ReadAll(ctx, o.Key)
			if err == nil {
				c.job, c.extras, c.ok = parseStatusDoc(data)
			}
			if err != nil && ctx.Err() != nil {
				return
			}
			s.docs[o.Key] = c
		}
		if !c.ok {
			continue
		}
		v := c.job
		dir := path.Dir(o.Key)
		v.Path = dir
		v.Poster, v.Storyboard, v.MP4 = outputExtras(dir, c.extras, keys, mp4s[dir])
		s.hub.update(v, true)
	}
	for k := range s.docs {
		if !seen[k] {
			delete(s.docs, k)
		}
	}
}

// outputExtras finds the extras of the output in dir, as names relative
// to it: those its job.json gives when the objects exist (a fleet output
// keeps them in the publishing attempt's folder, "<attempt>/poster.jpg"),
// else the fixed names beside job.json (outputs of older builds), plus any
// progressive MP4 there.
func outputExtras(dir string, ex job.Extras, keys map[string]bool, mp4s []string) (poster, storyboard string, mp4 []string) {
	pick := func(names ...string) string {
		for _, n := range names {
			if n != "" && keys[dir+"/"+n] {
				return n
			}
		}
		return ""
	}
	poster = pick(ex.Poster, job.PosterName)
	storyboard = pick(ex.Storyboard, storyboardName)
	if n := pick(ex.MP4); n != "" {
		mp4 = append(mp4, n)
	}
	for _, n := range mp4s {
		if n != ex.MP4 {
			mp4 = append(mp4, n)
		}
	}
	return poster, storyboard, mp4
}

// storyboardName is the storyboard index's fixed name in outputs of older
// builds (pipeline.StoryboardName; the dashboard links no libav).
const storyboardName = "storyboard.vtt"

// parseStatusDoc reads a job.json: the worker's Status, plus the "quality"
// report when a build that writes one put it there, and the names of the
// extras.
func parseStatusDoc(data []byte) (Job, job.Extras, bool) {
	var st job.Status
	if err := json.Unmarshal(data, &st); err != nil || st.JobID == "" {
		return Job{}, job.Extras{}, false
	}
	v := fromStatus(st)
	var extra struct {
		Quality json.RawMessage `json:"quality"`
	}
	if json.Unmarshal(data, &extra) == nil && len(extra.Quality) > 0 && string(extra.Quality) != "null" {
		v.Quality = extra.Quality
	}
	return v, st.Extras, true
}

// scanStreams lists <root>/live/<stream>/master.m3u8 and each stream's
// newest segment.
func (s *Server) scanStreams(ctx context.Context, objs []storage.Attrs, now time.Time) []Stream {
	type acc struct {
		master bool
		newest time.Time
		n      int
		media  string
	}
	by := map[string]*acc{}
	for _, o := range objs {
		if !strings.HasPrefix(o.Key, LivePrefix) || hiddenKey(o.Key) {
			continue
		}
		rest := o.Key[len(LivePrefix):]
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			continue
		}
		name, sub := rest[:i], rest[i+1:]
		a := by[name]
		if a == nil {
			a = &acc{}
			by[name] = a
		}
		switch {
		case sub == job.MasterName:
			a.master = true
		case strings.HasSuffix(sub, ".m3u8"):
			if a.media == "" {
				a.media = o.Key
			}
		case strings.Contains(sub, "/") && (strings.HasSuffix(sub, ".ts") || strings.HasSuffix(sub, ".m4s")):
			a.n++
			if o.ModTime.After(a.newest) {
				a.newest = o.ModTime
			}
		}
	}
	var out []Stream
	for name, a := range by {
		if !a.master {
			continue
		}
		st := Stream{Name: name, Path: LivePrefix + name, NewestSegmentAt: a.newest, Segments: a.n}
		if !a.newest.IsZero() {
			st.LatencySeconds = now.Sub(a.newest).Seconds()
		}
		if a.media != "" {
			if data, err := s.out.ReadAll(ctx, a.media); err == nil {
				st.Ended = strings.Contains(string(data), "#EXT-X-ENDLIST")
			}
		}
		if st.Ended {
			st.LatencySeconds = 0 // no live edge to be behind
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hiddenKey: a key with a path segment starting with "." (staging folders).
func hiddenKey(k string) bool {
	for _, seg := range strings.Split(k, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}
