// Package chunkcheck is the oracle of chunked (segmented parallel) VOD
// encoding (issue H): it compares an HLS output made in chunks with a
// single pass of the same job, rendition by rendition, and says where they
// differ in ways a viewer or a player could notice.
//
// Per rendition it compares the media playlists (segment count, EXTINF
// within DurationTolerance, no EXT-X-DISCONTINUITY the single pass lacks),
// the video over the concatenation of the segments (an fMP4
// initialization section first) as a player reads it: the decoded frame
// count (ffprobe -count_frames) and every frame's presentation timestamp,
// exactly; that every segment starts with an IDR picture (decoded key
// frame of type I whose NAL units say IDR); the decoded audio sample
// count (within one AAC frame, SampleTolerance); MPEG-TS continuity
// counter errors over the joined segments; and, around each join (where
// two chunks meet), the decoded audio against the single pass's: the
// largest difference within ±Window and the largest sample-to-sample
// step, against the tone's own largest step (the test sources carry a
// pure sine, so a click shows as a step many times larger).
//
// It reads media with the ffprobe and ffmpeg CLIs (FFmpeg 5.1 or later on
// PATH) and links no libav: tests and benchmarks only.
package chunkcheck

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"

	"github.com/hlsfleet/hlsfleet/internal/testmedia"
)

// Tolerances and defaults.
const (
	// DurationTolerance is how far a segment's EXTINF may be from the
	// single pass's, in seconds.
	DurationTolerance = 0.001
	// SampleTolerance is how many decoded audio samples (per channel) the
	// chunked output may have more or fewer than the single pass: one AAC
	// frame.
	SampleTolerance = 1024
	// DefaultWindow is Options.Window's default: ±50 ms around a join.
	DefaultWindow = 0.05
	// DefaultMaxJoinDiff is Options.MaxJoinDiff's default: 0.05 of full
	// scale, a fifth of the test tone's amplitude (-12 dBFS). Two AAC
	// encodes of the same sine differ by far less; a shift of one AAC
	// frame, a gap or a fade differs by more.
	DefaultMaxJoinDiff = 0.05
	// DefaultMaxStepRatio is Options.MaxStepRatio's default.
	DefaultMaxStepRatio = 2.0
)

// Options tune Compare.
type Options struct {
	// Joins are the times where chunks meet, in seconds from the start of
	// the presentation (the sum of the EXTINFs before the join's first
	// segment; PlanJoins gives them from a chunk plan). Empty: derived
	// from the chunked output's first rendition, at each segment whose
	// folder differs from the previous segment's (every chunk writes into
	// its attempt's folder).
	Joins []float64
	// Window is the half-width of the audio comparison around a join, in
	// seconds; 0 means DefaultWindow.
	Window float64
	// MaxJoinDiff is the largest difference between the chunked and
	// single-pass audio near a join that is not a problem; 0 means
	// DefaultMaxJoinDiff.
	MaxJoinDiff float64
	// MaxStepRatio bounds the chunked audio's largest step near a join as
	// a multiple of the tone's own (Rendition.ToneStep); 0 means
	// DefaultMaxStepRatio.
	MaxStepRatio float64
	// Workers is how many ffprobe runs go at once; 0 means 2.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxJoinDiff <= 0 {
		o.MaxJoinDiff = DefaultMaxJoinDiff
	}
	if o.MaxStepRatio <= 0 {
		o.MaxStepRatio = DefaultMaxStepRatio
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	return o
}

// Report is what Compare found. Problems is empty when the chunked output
// is, as far as these checks see, the single pass's equal.
type Report struct {
	Single, Chunked string // the master playlists compared
	// Joins are the join times used (seconds from the presentation's
	// start), and JoinsFrom where they came from: "given", "attempt
	// folders" or "none found".
	Joins      []float64
	JoinsFrom  string
	Renditions []Rendition
	Problems   []string
}

// Rendition holds the figures of one pair of media playlists (the single
// pass's and the chunked output's at the same place in their masters).
type Rendition struct {
	Name  string // the rendition's first folder ("720p"), else its playlist URI
	Video bool
	// Playlists.
	SingleSegments, ChunkedSegments int
	MaxSegmentDiff                  float64 // largest |EXTINF chunked - EXTINF single|, seconds
	// Video (over the joined segments).
	SingleFrames, ChunkedFrames int
	PTSMismatches               int     // frames (by index) whose pts differ
	MaxPTSDiff                  float64 // largest pts difference among them, seconds
	// Segments (by index) whose first picture is not an IDR one.
	SingleKeyframeMisses, ChunkedKeyframeMisses []int
	// Audio (decoded samples per channel; -1 without audio).
	SingleSamples, ChunkedSamples int
	// MPEG-TS continuity counter errors over the joined segments (-1 for
	// fMP4).
	SingleContinuityErrors, ChunkedContinuityErrors int
	// Audio at the joins.
	Joins     []Join
	ToneStep  float64 // the single pass's own largest sample-to-sample step (see Join)
	Elsewhere float64 // largest audio difference outside the join windows
}

// Join is the audio around one join: the largest |chunked - single| of
// two samples playing at the same time within the window, and the largest
// step between consecutive samples of the chunked (MaxStep) and single
// (SingleStep) audio there. NaN when the window holds no audio.
type Join struct {
	Time                         float64
	MaxDiff, MaxStep, SingleStep float64
}

// Compare compares the chunked HLS output with the single pass of the
// same job; each is an output folder or the path of its master playlist.
// joins are where the chunks meet (see Options.Joins). The error is for a
// comparison that could not run (no ffprobe, an unreadable single pass);
// what is wrong with the chunked output is in Report.Problems.
func Compare(single, chunked string, joins ...float64) (Report, error) {
	return CompareWith(single, chunked, Options{Joins: joins})
}

// CompareWith is Compare with options.
func CompareWith(single, chunked string, opt Options) (Report, error) {
	opt = opt.withDefaults()
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Report{}, fmt.Errorf("chunkcheck: %w", err)
		}
	}
	s, err := load(single)
	if err != nil {
		return Report{}, fmt.Errorf("chunkcheck: single pass: %w", err)
	}
	rep := Report{Single: s.master, Chunked: chunked}
	c, err := load(chunked)
	if err != nil {
		rep.problem("chunked output: %v", err)
		return rep, nil
	}
	rep.Chunked = c.master
	tmp, err := os.MkdirTemp("", "chunkcheck-")
	if err != nil {
		return rep, fmt.Errorf("chunkcheck: %w", err)
	}
	defer os.RemoveAll(tmp)
	k := &comparer{opt: opt, tmp: tmp, rep: &rep, originS: math.NaN()}

	switch {
	case len(opt.Joins) > 0:
		rep.Joins, rep.JoinsFrom = slices.Clone(opt.Joins), "given"
	default:
		rep.Joins = attemptJoins(c.rends[0])
		rep.JoinsFrom = "attempt folders"
		if len(rep.Joins) == 0 {
			rep.JoinsFrom = "none found"
		}
	}
	k.compareMasters(s, c)
	for i := range min(len(s.rends), len(c.rends)) {
		rep.Renditions = append(rep.Renditions, k.rendition(i, s.rends[i], c.rends[i]))
	}
	return rep, nil
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// comparer carries one comparison.
type comparer struct {
	opt Options
	tmp string
	rep *Report
	// originS is when the single pass's presentation starts on its
	// streams' timeline: the first video frame's time (the audio's
	// without video); join times are relative to it.
	originS float64
}

// compareMasters checks that both masters offer the same renditions.
func (k *comparer) compareMasters(s, c *output) {
	if len(s.rends) != len(c.rends) {
		k.rep.problem("the chunked master names %d media playlists, the single pass's %d", len(c.rends), len(s.rends))
	}
	for i := range min(len(s.rends), len(c.rends)) {
		sv, cv := s.rends[i].variant, c.rends[i].variant
		if (sv == nil) != (cv == nil) {
			k.rep.problem("media playlist %d: %s in one master, %s in the other", i, s.rends[i].uri, c.rends[i].uri)
			continue
		}
		if sv == nil {
			continue
		}
		if sv.Width != cv.Width || sv.Height != cv.Height || !slices.Equal(sv.Codecs, cv.Codecs) {
			k.rep.problem("variant %d: chunked %dx%d %v, single pass %dx%d %v", i, cv.Width, cv.Height, cv.Codecs, sv.Width, sv.Height, sv.Codecs)
		}
	}
}

// media is what the comparison reads from one rendition's joined segments.
type media struct {
	video          bool
	pts            []int64 // frames' pts in presentation order
	num, den       int64   // video time base
	firsts         []firstPicture
	audio          *pcm
	continuity     []string // TS continuity errors; nil for fMP4
	isTS           bool
	videoStart     float64 // first frame's time, seconds
	haveVideoStart bool
}

// rendition compares the i-th media playlists s and c.
func (k *comparer) rendition(i int, s, c *rend) Rendition {
	r := Rendition{Name: name(s.uri), SingleSegments: len(s.segs), ChunkedSegments: len(c.segs),
		SingleSamples: -1, ChunkedSamples: -1, SingleContinuityErrors: -1, ChunkedContinuityErrors: -1}
	p := func(format string, args ...any) { k.rep.problem(r.Name+": "+format, args...) }
	k.comparePlaylists(&r, s, c, p)

	sm, err := k.read(fmt.Sprintf("s%d", i), s)
	if err != nil {
		p("single pass: %v", err)
		return r
	}
	cm, err := k.read(fmt.Sprintf("c%d", i), c)
	if err != nil {
		p("chunked: %v", err)
		return r
	}
	r.Video = sm.video
	if sm.video && math.IsNaN(k.originS) && sm.haveVideoStart {
		k.originS = sm.videoStart
	}
	if sm.video != cm.video {
		p("video in the single pass %v, in the chunked output %v", sm.video, cm.video)
	}
	if sm.video && cm.video {
		k.compareVideo(&r, sm, cm, s, c, p)
	}
	if sm.isTS {
		r.SingleContinuityErrors = len(sm.continuity)
	}
	if cm.isTS {
		r.ChunkedContinuityErrors = len(cm.continuity)
		if len(cm.continuity) > 0 {
			p("%d MPEG-TS continuity errors over the joined segments (single pass: %d), the first: %s",
				len(cm.continuity), len(sm.continuity), strings.TrimSpace(cm.continuity[0]))
		}
	}
	k.compareAudio(&r, sm, cm, p)
	return r
}

// comparePlaylists compares segment counts, EXTINFs and discontinuities.
func (k *comparer) comparePlaylists(r *Rendition, s, c *rend, p func(string, ...any)) {
	if len(s.segs) != len(c.segs) {
		p("%d segments, single pass %d", len(c.segs), len(s.segs))
	}
	var off []string
	for i := range min(len(s.segs), len(c.segs)) {
		d := math.Abs(s.segs[i].dur - c.segs[i].dur)
		r.MaxSegmentDiff = math.Max(r.MaxSegmentDiff, d)
		if d > DurationTolerance {
			off = append(off, fmt.Sprintf("%d (%.3f s, single pass %.3f s)", i, c.segs[i].dur, s.segs[i].dur))
		}
		if c.segs[i].disc && !s.segs[i].disc {
			p("EXT-X-DISCONTINUITY before segment %d (%s), which the single pass does not have", i, c.segs[i].uri)
		}
	}
	if len(off) > 0 {
		p("EXTINF differs by more than %.0f ms in %d segments: %s", DurationTolerance*1000, len(off), list(off, 5))
	}
	// A change of initialization section is legal HLS, but a chunked
	// output that needs one is not the single pass's equal.
	first := c.segs[0].init
	for i, sg := range c.segs {
		if sg.init != first && !sameFile(sg.init, first) {
			p("segment %d (%s) has another EXT-X-MAP (%s) whose bytes differ from the first's", i, sg.uri, sg.init)
			break
		}
	}
}

// list joins at most n items, saying how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// sameFile reports whether two files hold the same bytes.
func sameFile(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// read joins a rendition's segments into one file under the temporary
// folder and reads its streams, video frames, audio samples, first
// pictures and TS continuity.
func (k *comparer) read(tag string, r *rend) (*media, error) {
	m := &media{isTS: r.segs[0].init == ""}
	files := make([]string, 0, len(r.segs)+1)
	if !m.isTS {
		files = append(files, r.segs[0].init)
	}
	for _, s := range r.segs {
		files = append(files, s.path)
	}
	ext := ".ts"
	if !m.isTS {
		ext = ".mp4"
	}
	joined := filepath.Join(k.tmp, tag+ext)
	if err := hlscheck.Concat(joined, files...); err != nil {
		return nil, err
	}
	defer os.Remove(joined)
	sts, err := streams(joined)
	if err != nil {
		return nil, err
	}
	var audio *stream
	for i := range sts {
		switch sts[i].CodecType {
		case "video":
			m.video = true
		case "audio":
			if audio == nil {
				audio = &sts[i]
			}
		}
	}
	if m.video {
		if m.pts, m.num, m.den, err = videoFrames(joined); err != nil {
			return nil, fmt.Errorf("video frames: %w", err)
		}
		if len(m.pts) > 0 {
			m.videoStart = float64(slices.Min(m.pts)) * float64(m.num) / float64(m.den)
			m.haveVideoStart = true
		}
		if m.firsts, err = k.firstPictures(tag, r); err != nil {
			return nil, err
		}
	}
	if audio != nil {
		samples, err := decodePCM(joined)
		if err != nil {
			return nil, fmt.Errorf("audio: %w", err)
		}
		m.audio = &pcm{samples: samples, channels: audio.Channels, rate: seconds(audio.SampleRate), start: seconds(audio.StartTime)}
		if math.IsNaN(m.audio.start) {
			m.audio.start = 0
		}
	}
	if m.isTS {
		var data [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			data = append(data, b)
		}
		if m.continuity, err = testmedia.TSContinuityErrors(data...); err != nil {
			return nil, fmt.Errorf("continuity check: %w", err)
		}
		if m.continuity == nil {
			m.continuity = []string{}
		}
	}
	return m, nil
}

// firstPictures probes the first picture of every segment, a few at once.
func (k *comparer) firstPictures(tag string, r *rend) ([]firstPicture, error) {
	out := make([]firstPicture, len(r.segs))
	errs := make([]error, len(r.segs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range k.opt.Workers {
		wg.Go(func() {
			for i := range jobs {
				s := r.segs[i]
				file := s.path
				if s.init != "" {
					file = filepath.Join(k.tmp, fmt.Sprintf("%s-seg%d.mp4", tag, i))
					if errs[i] = hlscheck.Concat(file, s.init, s.path); errs[i] != nil {
						continue
					}
				}
				out[i], errs[i] = probeFirst(file)
				if s.init != "" {
					os.Remove(file)
				}
			}
		})
	}
	for i := range r.segs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("segment %d (%s): %w", i, r.segs[i].uri, err)
		}
	}
	return out, nil
}

// compareVideo compares frame counts, timestamps and segment starts.
func (k *comparer) compareVideo(r *Rendition, sm, cm *media, s, c *rend, p func(string, ...any)) {
	r.SingleFrames, r.ChunkedFrames = len(sm.pts), len(cm.pts)
	if len(sm.pts) != len(cm.pts) {
		p("%d video frames decoded, single pass %d", len(cm.pts), len(sm.pts))
	}
	first, firstS, firstC := -1, 0.0, 0.0
	for i := range min(len(sm.pts), len(cm.pts)) {
		// Exact comparison across time bases: a/b·x == c/d·y.
		if sm.pts[i]*sm.num*cm.den == cm.pts[i]*cm.num*sm.den {
			continue
		}
		r.PTSMismatches++
		ts := float64(sm.pts[i]) * float64(sm.num) / float64(sm.den)
		tc := float64(cm.pts[i]) * float64(cm.num) / float64(cm.den)
		r.MaxPTSDiff = math.Max(r.MaxPTSDiff, math.Abs(tc-ts))
		if first < 0 {
			first, firstS, firstC = i, ts, tc
		}
	}
	if first >= 0 {
		p("%d frames' pts differ from the single pass's, the first frame %d at %.6f s (single pass %.6f s), by up to %.6f s",
			r.PTSMismatches, first, firstC, firstS, r.MaxPTSDiff)
	}
	misses := func(m *media, rd *rend) (idx []int, detail string) {
		for i, f := range m.firsts {
			if !f.ok() {
				if detail == "" {
					detail = fmt.Sprintf("segment %d (%s): %s", i, rd.segs[i].uri, f)
				}
				idx = append(idx, i)
			}
		}
		return idx, detail
	}
	var detail string
	r.ChunkedKeyframeMisses, detail = misses(cm, c)
	if len(r.ChunkedKeyframeMisses) > 0 {
		p("%d segments do not start with an IDR picture, the first %s", len(r.ChunkedKeyframeMisses), detail)
	}
	r.SingleKeyframeMisses, _ = misses(sm, s)
}

// compareAudio compares sample counts and the audio at the joins.
func (k *comparer) compareAudio(r *Rendition, sm, cm *media, p func(string, ...any)) {
	if (sm.audio == nil) != (cm.audio == nil) {
		p("audio in the single pass %v, in the chunked output %v", sm.audio != nil, cm.audio != nil)
		return
	}
	if sm.audio == nil {
		return
	}
	r.SingleSamples, r.ChunkedSamples = sm.audio.frames(), cm.audio.frames()
	if d := r.ChunkedSamples - r.SingleSamples; d > SampleTolerance || d < -SampleTolerance {
		p("%d audio samples decoded per channel, single pass %d (%+d, more than %d apart)", r.ChunkedSamples, r.SingleSamples, d, SampleTolerance)
	}
	if sm.audio.channels != cm.audio.channels || sm.audio.rate != cm.audio.rate {
		p("audio is %d channels at %g Hz, single pass %d at %g Hz", cm.audio.channels, cm.audio.rate, sm.audio.channels, sm.audio.rate)
		return
	}
	origin := k.originS
	if math.IsNaN(origin) {
		origin = sm.audio.start
	}
	abs := make([]float64, len(k.rep.Joins))
	for i, t := range k.rep.Joins {
		abs[i] = origin + t
	}
	r.ToneStep = sm.audio.toneStep()
	r.Joins, r.Elsewhere = joinFigures(*sm.audio, *cm.audio, abs, k.opt.Window)
	for i := range r.Joins {
		j := &r.Joins[i]
		j.Time = k.rep.Joins[i] // report on the presentation's timeline
		switch {
		case math.IsNaN(j.MaxDiff):
			p("join at %.3f s: no audio within ±%.0f ms to compare", j.Time, k.opt.Window*1000)
		case j.MaxDiff > k.opt.MaxJoinDiff:
			p("join at %.3f s: the audio differs from the single pass's by up to %.4f within ±%.0f ms (limit %.4f; elsewhere %.4f)",
				j.Time, j.MaxDiff, k.opt.Window*1000, k.opt.MaxJoinDiff, r.Elsewhere)
		}
		if r.ToneStep > 0 && j.MaxStep > k.opt.MaxStepRatio*r.ToneStep {
			p("join at %.3f s: a step of %.4f between consecutive samples, %.1fx the tone's own %.4f (limit %.1fx): a click",
				j.Time, j.MaxStep, j.MaxStep/r.ToneStep, r.ToneStep, k.opt.MaxStepRatio)
		}
	}
}

// String prints the report as a table, then the problems.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "single pass %s\nchunked     %s\njoins (%s): %v\n", r.Single, r.Chunked, r.JoinsFrom, r.Joins)
	for _, x := range r.Renditions {
		fmt.Fprintf(&b, "%s: segments %d/%d (max EXTINF diff %.4f s)", x.Name, x.ChunkedSegments, x.SingleSegments, x.MaxSegmentDiff)
		if x.Video {
			fmt.Fprintf(&b, ", frames %d/%d, pts mismatches %d (max %.6f s), non-IDR starts %d/%d",
				x.ChunkedFrames, x.SingleFrames, x.PTSMismatches, x.MaxPTSDiff, len(x.ChunkedKeyframeMisses), len(x.SingleKeyframeMisses))
		}
		if x.SingleSamples >= 0 {
			fmt.Fprintf(&b, ", audio samples %d/%d", x.ChunkedSamples, x.SingleSamples)
		}
		if x.ChunkedContinuityErrors >= 0 {
			fmt.Fprintf(&b, ", TS CC errors %d/%d", x.ChunkedContinuityErrors, x.SingleContinuityErrors)
		}
		b.WriteString(" (chunked/single)\n")
		for _, j := range x.Joins {
			fmt.Fprintf(&b, "  join %.3f s: max diff %.4f, max step %.4f (single %.4f, tone %.4f)\n", j.Time, j.MaxDiff, j.MaxStep, j.SingleStep, x.ToneStep)
		}
		if len(x.Joins) > 0 {
			fmt.Fprintf(&b, "  max diff elsewhere %.4f\n", x.Elsewhere)
		}
	}
	if len(r.Problems) == 0 {
		b.WriteString("no problems\n")
	}
	for _, p := range r.Problems {
		b.WriteString("PROBLEM: " + p + "\n")
	}
	return b.String()
}

// Err returns the problems joined as one error, nil when there are none.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}
