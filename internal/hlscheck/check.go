// Package hlscheck validates a finished HLS output directory against the
// "Correct HLS" rules of the project design (DESIGN.md): a parsable
// master with EXT-X-INDEPENDENT-SEGMENTS and complete variant attributes,
// VOD media playlists whose target duration bounds every segment, segments
// that exist and start with a keyframe at the same time in every rendition,
// streams that match what the master declares (resolution, square pixels,
// codec profile and level, audio), no upscaling, measured bandwidths and
// durations.
//
// It reads media with the ffprobe CLI (FFmpeg 5.1 or later on PATH) and
// imports only pipeline/hls, so end-to-end tests and GPU checks can use it
// without linking the cgo pipeline.
package hlscheck

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// Options says what the output is expected to hold.
type Options struct {
	// SourceWidth and SourceHeight are the display size of the source after
	// rotation and SAR; 0 skips the no-upscale check.
	SourceWidth, SourceHeight int
	// SourceDuration is in seconds; 0 skips the duration checks.
	SourceDuration float64
	// ExpectAudio and ExpectVideo say which streams every variant must
	// carry; a stream of a kind not expected is a problem too. When both are
	// false, stream presence is not checked.
	ExpectAudio, ExpectVideo bool
	// DurationTolerance in seconds; 0 means one video frame (at the lowest
	// declared FRAME-RATE, 30 if none) plus one AAC frame at 48 kHz.
	DurationTolerance float64
}

// Rendition is what Check measured of one variant of the master.
type Rendition struct {
	URI           string   // the variant's playlist URI as in the master
	Width, Height int      // of the video stream (the declared ones if it could not be probed)
	Codecs        []string // as declared in the master
	// Bandwidth is the measured peak segment bit rate and AverageBandwidth
	// the measured average (an fMP4 initialization section counted once),
	// both in bits per second, alternative audio included.
	Bandwidth, AverageBandwidth int64
	Segments                    int
	Duration                    float64 // sum of EXTINF, seconds
}

// Report is what Check found; Renditions follow the master's variants.
type Report struct {
	Master     *hls.Master
	Renditions []Rendition
}

// Kinds of problems; every problem Check reports wraps one of them.
var (
	ErrMaster         = errors.New("master playlist")
	ErrPlaylist       = errors.New("media playlist")
	ErrMissingSegment = errors.New("missing file")
	ErrTargetDuration = errors.New("EXTINF above EXT-X-TARGETDURATION")
	ErrProbe          = errors.New("ffprobe failed")
	ErrKeyframe       = errors.New("segment does not start with a keyframe")
	ErrAlignment      = errors.New("segments not aligned across renditions")
	ErrResolution     = errors.New("resolution mismatch")
	ErrAspect         = errors.New("non-square pixels")
	ErrCodecs         = errors.New("CODECS mismatch")
	ErrFrameRate      = errors.New("FRAME-RATE mismatch")
	ErrUpscale        = errors.New("rendition larger than the source")
	ErrVideo          = errors.New("video stream")
	ErrAudio          = errors.New("audio stream")
	ErrBandwidth      = errors.New("bandwidth")
	ErrDuration       = errors.New("duration")
)

// Problem is one thing wrong with the output. errors.Is(p, ErrKeyframe)
// and the like tell the kind.
type Problem struct {
	Kind       error
	Rendition  string // playlist URI as in the master; "" for the master itself
	Segment    int    // index in the playlist; -1 when not about one segment
	SegmentURI string
	Detail     string
	Cause      error // the underlying error (a parse or ffprobe error), if any
}

func (p *Problem) Error() string {
	var b strings.Builder
	if p.Rendition == "" {
		b.WriteString("master.m3u8")
	} else {
		b.WriteString("rendition " + p.Rendition)
	}
	if p.Segment >= 0 {
		fmt.Fprintf(&b, " segment %d (%s)", p.Segment, p.SegmentURI)
	}
	b.WriteString(": " + p.Kind.Error() + ": " + p.Detail)
	return b.String()
}

// Unwrap returns the kind and the cause.
func (p *Problem) Unwrap() []error {
	if p.Cause != nil {
		return []error{p.Kind, p.Cause}
	}
	return []error{p.Kind}
}

// rendition is a media playlist under check: a variant or an EXT-X-MEDIA one.
type rendition struct {
	uri     string
	variant *hls.Variant // nil for an EXT-X-MEDIA rendition
	isVideo bool
	pl      *hls.MediaPlaylist
	paths   []string // segment files
	sizes   []int64
	missing bool // a segment or the initialization section is missing
	init    string
	initLen int64

	probes    []*segmentProbe
	probeErrs []error
	whole     *wholeProbe
	wholeErr  error
}

type checker struct {
	dir      string
	opt      Options
	tmp      string
	problems []error
}

// addErr reports a problem caused by err.
func (c *checker) addErr(kind error, rend string, seg int, segURI string, err error) {
	c.problems = append(c.problems, &Problem{Kind: kind, Rendition: rend, Segment: seg, SegmentURI: segURI, Detail: err.Error(), Cause: err})
}

func (c *checker) add(kind error, rend string, seg int, segURI, format string, args ...any) {
	c.problems = append(c.problems, &Problem{Kind: kind, Rendition: rend, Segment: seg, SegmentURI: segURI, Detail: fmt.Sprintf(format, args...)})
}

// Check validates the HLS presentation in dir (master.m3u8 and the
// playlists and segments it names). It returns what it measured and an
// error joining every problem found (each a *Problem naming the rendition
// and segment), or nil when the output is correct.
func Check(dir string, opt Options) (*Report, error) {
	c := &checker{dir: dir, opt: opt}
	data, err := os.ReadFile(filepath.Join(dir, "master.m3u8"))
	if err != nil {
		c.add(ErrMaster, "", -1, "", "%v", err)
		return nil, errors.Join(c.problems...)
	}
	master, err := hls.ParseMaster(data)
	if err != nil {
		c.addErr(ErrMaster, "", -1, "", err)
		return nil, errors.Join(c.problems...)
	}
	if c.opt.DurationTolerance <= 0 {
		fps := 0.0
		for _, v := range master.Variants {
			if v.FrameRate > 0 && (fps == 0 || v.FrameRate < fps) {
				fps = v.FrameRate
			}
		}
		if fps == 0 {
			fps = 30
		}
		c.opt.DurationTolerance = 1/fps + 1024.0/48000
	}
	if c.tmp, err = os.MkdirTemp("", "hlscheck-"); err != nil {
		return nil, fmt.Errorf("hlscheck: %w", err)
	}
	defer os.RemoveAll(c.tmp)

	c.checkMaster(master)
	var rends []*rendition
	for i := range master.Variants {
		v := &master.Variants[i]
		r := &rendition{uri: v.URI, variant: v, isVideo: c.opt.ExpectVideo || v.Width > 0 || videoCodec(v.Codecs) != ""}
		c.loadPlaylist(r)
		rends = append(rends, r)
	}
	groups := map[string][]*rendition{} // audio group id -> renditions
	for _, m := range master.Media {
		if m.URI == "" {
			continue
		}
		r := &rendition{uri: m.URI}
		c.loadPlaylist(r)
		rends = append(rends, r)
		if m.Type == "AUDIO" {
			groups[m.GroupID] = append(groups[m.GroupID], r)
		}
	}

	c.probe(rends)

	report := &Report{Master: master}
	var ref *rendition // the first video rendition: the alignment reference
	for _, r := range rends {
		if r.variant == nil {
			c.checkWhole(r)
			continue
		}
		out := c.checkVariant(r, groups[r.variant.Audio])
		report.Renditions = append(report.Renditions, out)
		if r.isVideo && r.pl != nil {
			if ref == nil {
				ref = r
			} else {
				c.checkAlignment(ref, r)
			}
		}
	}
	return report, errors.Join(c.problems...)
}

// videoCodec returns the first video entry of CODECS, "" if none.
func videoCodec(codecs []string) string {
	for _, c := range codecs {
		switch strings.SplitN(c, ".", 2)[0] {
		case "avc1", "avc3", "hvc1", "hev1", "av01", "vp09":
			return c
		}
	}
	return ""
}

// audioCodec returns the first audio entry of CODECS, "" if none.
func audioCodec(codecs []string) string {
	for _, c := range codecs {
		switch strings.SplitN(c, ".", 2)[0] {
		case "mp4a", "ac-3", "ec-3", "opus", "fLaC":
			return c
		}
	}
	return ""
}

func (c *checker) checkMaster(m *hls.Master) {
	if !m.IndependentSegments {
		c.add(ErrMaster, "", -1, "", "no EXT-X-INDEPENDENT-SEGMENTS")
	}
	if len(m.Variants) == 0 {
		c.add(ErrMaster, "", -1, "", "no variants (EXT-X-STREAM-INF)")
	}
	for _, v := range m.Variants {
		if v.Bandwidth <= 0 {
			c.add(ErrMaster, v.URI, -1, "", "no BANDWIDTH")
		}
		if v.AverageBandwidth <= 0 {
			c.add(ErrMaster, v.URI, -1, "", "no AVERAGE-BANDWIDTH")
		}
		if len(v.Codecs) == 0 {
			c.add(ErrMaster, v.URI, -1, "", "no CODECS")
		}
		if c.opt.ExpectVideo || videoCodec(v.Codecs) != "" {
			if v.Width <= 0 || v.Height <= 0 {
				c.add(ErrMaster, v.URI, -1, "", "no RESOLUTION")
			}
			if v.FrameRate <= 0 {
				c.add(ErrMaster, v.URI, -1, "", "no FRAME-RATE")
			}
		}
	}
}

// local maps a relative URI under base to a file path; it refuses absolute
// URLs and paths that leave the output directory.
func (c *checker) local(base, uri string) (string, error) {
	if strings.Contains(uri, "://") || strings.HasPrefix(uri, "/") {
		return "", fmt.Errorf("URI %q is not relative", uri)
	}
	p := path.Clean(path.Join(base, uri))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("URI %q leaves the output directory", uri)
	}
	return filepath.Join(c.dir, filepath.FromSlash(p)), nil
}

// loadPlaylist reads and checks r's media playlist and stats its files.
func (c *checker) loadPlaylist(r *rendition) {
	file, err := c.local(".", r.uri)
	if err != nil {
		c.add(ErrPlaylist, r.uri, -1, "", "%v", err)
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		c.add(ErrPlaylist, r.uri, -1, "", "%v", err)
		return
	}
	pl, err := hls.ParseMedia(data)
	if err != nil {
		c.addErr(ErrPlaylist, r.uri, -1, "", err)
		return
	}
	r.pl = pl
	if pl.Type != hls.VOD {
		c.add(ErrPlaylist, r.uri, -1, "", "EXT-X-PLAYLIST-TYPE is %q, want VOD", string(pl.Type))
	}
	if !pl.EndList {
		c.add(ErrPlaylist, r.uri, -1, "", "no EXT-X-ENDLIST")
	}
	if len(pl.Segments) == 0 {
		c.add(ErrPlaylist, r.uri, -1, "", "no segments")
	}
	base := path.Dir(r.uri)
	if pl.MapURI != "" {
		if r.init, err = c.local(base, pl.MapURI); err != nil {
			c.add(ErrPlaylist, r.uri, -1, "", "EXT-X-MAP: %v", err)
			r.missing = true
		} else if fi, err := os.Stat(r.init); err != nil {
			c.add(ErrMissingSegment, r.uri, -1, "", "initialization section %s: %v", pl.MapURI, statError(err))
			r.init, r.missing = "", true
		} else {
			r.initLen = fi.Size()
		}
	}
	for i, s := range pl.Segments {
		if rounded := int(math.Round(s.Duration)); rounded > pl.TargetDuration {
			c.add(ErrTargetDuration, r.uri, i, s.URI, "EXTINF %.3f rounds to %d, above EXT-X-TARGETDURATION %d", s.Duration, rounded, pl.TargetDuration)
		}
		p, err := c.local(base, s.URI)
		var size int64
		if err == nil {
			var fi os.FileInfo
			if fi, err = os.Stat(p); err == nil {
				size = fi.Size()
			}
		}
		if err != nil {
			c.add(ErrMissingSegment, r.uri, i, s.URI, "%v", statError(err))
			r.missing = true
			p = ""
		}
		r.paths = append(r.paths, p)
		r.sizes = append(r.sizes, size)
	}
}

// statError shortens the common "no such file" error of os.Stat.
func statError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such file")
	}
	return err
}

// workers is the size of the ffprobe pool.
func workers() int { return min(max(runtime.NumCPU(), 2), 4) }

// probe runs ffprobe on every segment of the video renditions and on each
// whole rendition, in a small pool.
func (c *checker) probe(rends []*rendition) {
	var wholeJobs, segJobs []func()
	for ri, r := range rends {
		if r.pl == nil {
			continue
		}
		if !r.missing {
			wholeJobs = append(wholeJobs, func() {
				in := filepath.Join(c.tmp, fmt.Sprintf("r%d-all%s", ri, c.ext(r)))
				files := r.paths
				if r.init != "" {
					files = append([]string{r.init}, files...)
				}
				if err := Concat(in, files...); err != nil {
					r.wholeErr = err
					return
				}
				defer os.Remove(in)
				r.whole, r.wholeErr = probeWhole(in)
			})
		}
		if !r.isVideo {
			continue
		}
		r.probes = make([]*segmentProbe, len(r.paths))
		r.probeErrs = make([]error, len(r.paths))
		for si, p := range r.paths {
			if p == "" || (r.pl.MapURI != "" && r.init == "") {
				continue
			}
			segJobs = append(segJobs, func() {
				in := p
				if r.init != "" {
					in = filepath.Join(c.tmp, fmt.Sprintf("r%d-s%d.mp4", ri, si))
					if err := Concat(in, r.init, p); err != nil {
						r.probeErrs[si] = err
						return
					}
					defer os.Remove(in)
				}
				r.probes[si], r.probeErrs[si] = probeSegment(in)
			})
		}
	}
	jobs := make(chan func())
	var wg sync.WaitGroup
	for range workers() {
		wg.Go(func() {
			for j := range jobs {
				j()
			}
		})
	}
	for _, j := range append(wholeJobs, segJobs...) {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
}

// ext is the file extension the concatenated rendition gets.
func (c *checker) ext(r *rendition) string {
	if r.init != "" {
		return ".mp4"
	}
	return ".ts"
}

// finding collects the segments that share one problem, so that a problem
// of every segment is reported once per rendition.
type finding struct {
	kind   error
	detail string
	segs   []int
}

type findings struct {
	list []*finding
	byID map[string]*finding
}

func (f *findings) add(kind error, seg int, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	id := kind.Error() + "\x00" + detail
	if f.byID == nil {
		f.byID = map[string]*finding{}
	}
	x := f.byID[id]
	if x == nil {
		x = &finding{kind: kind, detail: detail}
		f.byID[id] = x
		f.list = append(f.list, x)
	}
	x.segs = append(x.segs, seg)
}

func (c *checker) flush(r *rendition, f *findings) {
	for _, x := range f.list {
		detail := x.detail
		if n := len(x.segs) - 1; n > 0 {
			detail += fmt.Sprintf(" (and %d more segments)", n)
		}
		c.add(x.kind, r.uri, x.segs[0], r.pl.Segments[x.segs[0]].URI, "%s", detail)
	}
}

// checkVariant checks one variant's segments and streams against the master.
func (c *checker) checkVariant(r *rendition, audioGroup []*rendition) Rendition {
	v := r.variant
	out := Rendition{URI: r.uri, Width: v.Width, Height: v.Height, Codecs: v.Codecs}
	if r.pl == nil {
		return out
	}
	out.Segments = len(r.pl.Segments)
	for _, s := range r.pl.Segments {
		out.Duration += s.Duration
	}
	if c.opt.SourceDuration > 0 && math.Abs(out.Duration-c.opt.SourceDuration) > c.opt.DurationTolerance {
		c.add(ErrDuration, r.uri, -1, "", "EXTINF total %.3f s, source %.3f s (tolerance %.3f s)", out.Duration, c.opt.SourceDuration, c.opt.DurationTolerance)
	}

	var f findings
	upscaleChecked := false
	for i, sp := range r.probes {
		if err := r.probeErrs[i]; err != nil {
			f.add(ErrProbe, i, "%v", err)
			continue
		}
		if sp == nil {
			continue
		}
		if sp.video == nil {
			f.add(ErrVideo, i, "no video stream")
			continue
		}
		vs := sp.video
		if i == 0 || out.Width == 0 {
			out.Width, out.Height = vs.Width, vs.Height
		}
		switch {
		case sp.hasFrame && (!sp.keyFrame || sp.pictType != "I"):
			c.add(ErrKeyframe, r.uri, i, r.pl.Segments[i].URI, "first video frame (pts %.3f s) has key_frame=%d pict_type=%s", sp.pts, b2i(sp.keyFrame), sp.pictType)
		case !sp.hasFrame && sp.havePacket:
			c.add(ErrKeyframe, r.uri, i, r.pl.Segments[i].URI, "first video packet (pts %.3f s, flags %s) decodes to no picture on its own", sp.pts, sp.packetFlags)
		case !sp.hasFrame:
			c.add(ErrKeyframe, r.uri, i, r.pl.Segments[i].URI, "no video packet")
		}
		if v.Width > 0 && (vs.Width != v.Width || vs.Height != v.Height) {
			f.add(ErrResolution, i, "video is %dx%d, RESOLUTION says %dx%d", vs.Width, vs.Height, v.Width, v.Height)
		}
		switch vs.SampleAspectRatio {
		case "", "1:1", "0:1", "N/A":
		default:
			f.add(ErrAspect, i, "sample_aspect_ratio %s, want 1:1", vs.SampleAspectRatio)
		}
		if msg := matchVideoCodec(videoCodec(v.Codecs), vs); msg != "" {
			f.add(ErrCodecs, i, "%s", msg)
		}
		if !upscaleChecked && c.opt.SourceWidth > 0 && c.opt.SourceHeight > 0 {
			upscaleChecked = true
			short, long := min(vs.Width, vs.Height), max(vs.Width, vs.Height)
			sShort, sLong := min(c.opt.SourceWidth, c.opt.SourceHeight), max(c.opt.SourceWidth, c.opt.SourceHeight)
			if short > sShort || long > sLong {
				c.add(ErrUpscale, r.uri, -1, "", "video is %dx%d, source is %dx%d", vs.Width, vs.Height, c.opt.SourceWidth, c.opt.SourceHeight)
			}
		}
	}
	c.flush(r, &f)
	c.checkWhole(r)
	c.checkBandwidth(r, audioGroup, &out)
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// avcProfiles maps profile_idc to ffprobe's profile name.
var avcProfiles = map[int]string{66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2", 244: "High 4:4:4 Predictive"}

// hevcProfiles maps general_profile_idc to ffprobe's profile name.
var hevcProfiles = map[int]string{1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Rext"}

// matchVideoCodec compares a CODECS video entry with the probed stream and
// says what differs ("" when they agree).
func matchVideoCodec(codec string, vs *stream) string {
	if codec == "" {
		return fmt.Sprintf("video stream %s but no video codec in CODECS", vs.CodecName)
	}
	kind, rest, _ := strings.Cut(codec, ".")
	switch kind {
	case "avc1", "avc3":
		if vs.CodecName != "h264" {
			return fmt.Sprintf("CODECS says %s, stream is %s", codec, vs.CodecName)
		}
		b, err := strconv.ParseUint(rest, 16, 32)
		if len(rest) != 6 || err != nil {
			return fmt.Sprintf("malformed %s (want avc1.PPCCLL)", codec)
		}
		pidc, cons, lidc := int(b>>16), int(b>>8&0xff), int(b&0xff)
		want := avcProfiles[pidc]
		if pidc == 66 && cons&0x40 != 0 {
			want = "Constrained Baseline"
		}
		if want == "" {
			want = fmt.Sprintf("profile_idc %d", pidc)
		}
		if vs.Profile != want || vs.Level != lidc {
			return fmt.Sprintf("CODECS %s means %s level %d, stream is %s level %d", codec, want, lidc, vs.Profile, vs.Level)
		}
	case "hvc1", "hev1":
		if vs.CodecName != "hevc" {
			return fmt.Sprintf("CODECS says %s, stream is %s", codec, vs.CodecName)
		}
		parts := strings.Split(rest, ".")
		if len(parts) < 3 || len(parts[2]) < 2 {
			return fmt.Sprintf("malformed %s", codec)
		}
		pidc, err1 := strconv.Atoi(strings.TrimLeft(parts[0], "ABC"))
		lidc, err2 := strconv.Atoi(parts[2][1:])
		if err1 != nil || err2 != nil || (parts[2][0] != 'L' && parts[2][0] != 'H') {
			return fmt.Sprintf("malformed %s", codec)
		}
		want := hevcProfiles[pidc]
		if vs.Profile != want || vs.Level != lidc {
			return fmt.Sprintf("CODECS %s means %s level %d, stream is %s level %d", codec, want, lidc, vs.Profile, vs.Level)
		}
	default:
		return "" // other codecs: not checked
	}
	return ""
}

// aacCodecs maps ffprobe's AAC profile to its CODECS entry.
var aacCodecs = map[string]string{"LC": hls.AACLC, "HE-AAC": "mp4a.40.5", "HE-AACv2": "mp4a.40.29"}

// checkWhole checks what the probe of the whole rendition found: which
// streams there are, audio format, frame rate and decoded duration.
func (c *checker) checkWhole(r *rendition) {
	if r.wholeErr != nil {
		c.add(ErrProbe, r.uri, -1, "", "whole rendition: %v", r.wholeErr)
	}
	w := r.whole
	if w == nil {
		return
	}
	var video, audio *stream
	for i := range w.streams {
		s := &w.streams[i]
		switch {
		case s.CodecType == "video" && video == nil:
			video = s
		case s.CodecType == "audio" && audio == nil:
			audio = s
		}
	}
	isVariant := r.variant != nil
	expectAny := c.opt.ExpectAudio || c.opt.ExpectVideo
	if isVariant && expectAny {
		switch {
		case c.opt.ExpectVideo && video == nil:
			c.add(ErrVideo, r.uri, -1, "", "no video stream, one expected")
		case !c.opt.ExpectVideo && video != nil:
			c.add(ErrVideo, r.uri, -1, "", "video stream %s, none expected", video.CodecName)
		}
		groupAudio := r.variant.Audio != ""
		switch {
		case c.opt.ExpectAudio && audio == nil && !groupAudio:
			c.add(ErrAudio, r.uri, -1, "", "no audio stream, one expected")
		case !c.opt.ExpectAudio && audio != nil:
			c.add(ErrAudio, r.uri, -1, "", "audio stream %s, none expected", audio.CodecName)
		}
	}
	if audio != nil {
		if audio.CodecName != "aac" || audio.SampleRate != "48000" || audio.Channels != 2 {
			c.add(ErrAudio, r.uri, -1, "", "audio is %s %s Hz %d ch, want aac 48000 Hz 2 ch", audio.CodecName, audio.SampleRate, audio.Channels)
		}
	}
	if isVariant {
		declared := audioCodec(r.variant.Codecs)
		switch {
		case audio != nil && declared == "":
			c.add(ErrCodecs, r.uri, -1, "", "audio stream %s but no audio codec in CODECS", audio.CodecName)
		case audio != nil && audio.CodecName == "aac" && aacCodecs[audio.Profile] != "" && declared != aacCodecs[audio.Profile]:
			c.add(ErrCodecs, r.uri, -1, "", "CODECS says %s, audio is AAC %s (%s)", declared, audio.Profile, aacCodecs[audio.Profile])
		case audio == nil && declared != "" && r.variant.Audio == "":
			c.add(ErrCodecs, r.uri, -1, "", "CODECS has %s but there is no audio stream", declared)
		}
		if video != nil && r.variant.FrameRate > 0 {
			fps := ladders.RateFloat(video.RFrameRate)
			if fps == 0 {
				fps = ladders.RateFloat(video.AvgFrameRate)
			}
			if fps > 0 && math.Abs(fps-r.variant.FrameRate) > 0.01 {
				c.add(ErrFrameRate, r.uri, -1, "", "video is %.3f fps, FRAME-RATE says %.3f", fps, r.variant.FrameRate)
			}
		}
	}
	if c.opt.SourceDuration > 0 {
		for _, s := range []*stream{video, audio} {
			if s == nil {
				continue
			}
			if d := w.span[s.Index]; math.Abs(d-c.opt.SourceDuration) > c.opt.DurationTolerance {
				c.add(ErrDuration, r.uri, -1, "", "%s stream lasts %.3f s, source %.3f s (tolerance %.3f s)", s.CodecType, d, c.opt.SourceDuration, c.opt.DurationTolerance)
			}
		}
	}
}

// rates returns r's peak segment bit rate as RFC 8216 defines it (and the
// first segment of the peak run) and its average bit rate, counting an
// initialization section once in the average.
func rates(r *rendition) (peak float64, peakSeg int, avg float64) {
	peak, peakSeg = hls.PeakBitrate(r.pl.Segments, r.sizes)
	var bytes, dur float64 = float64(r.initLen), 0
	for i, s := range r.pl.Segments {
		bytes += float64(r.sizes[i])
		dur += s.Duration
	}
	if dur > 0 {
		avg = bytes * 8 / dur
	}
	return peak, peakSeg, avg
}

// checkBandwidth compares BANDWIDTH and AVERAGE-BANDWIDTH with the measured
// rates: BANDWIDTH must cover the peak and exceed it by at most 10%;
// AVERAGE-BANDWIDTH must be within 10% of the average. The largest
// alternative audio rendition of the variant's group is added.
func (c *checker) checkBandwidth(r *rendition, audioGroup []*rendition, out *Rendition) {
	if r.pl == nil || r.missing || len(r.pl.Segments) == 0 {
		return
	}
	peak, peakSeg, avg := rates(r)
	var aPeak, aAvg float64
	for _, a := range audioGroup {
		if a.pl == nil || a.missing {
			return
		}
		p, _, av := rates(a)
		aPeak, aAvg = max(aPeak, p), max(aAvg, av)
	}
	peak += aPeak
	avg += aAvg
	out.Bandwidth, out.AverageBandwidth = int64(math.Ceil(peak)), int64(math.Round(avg))
	v := r.variant
	seg := r.pl.Segments[peakSeg].URI
	switch {
	case float64(v.Bandwidth) < math.Floor(peak):
		c.add(ErrBandwidth, r.uri, -1, "", "BANDWIDTH %d is below the measured peak segment bit rate %.0f (segment %d, %s)", v.Bandwidth, peak, peakSeg, seg)
	case float64(v.Bandwidth) > 1.1*peak:
		c.add(ErrBandwidth, r.uri, -1, "", "BANDWIDTH %d is more than 10%% above the measured peak segment bit rate %.0f (segment %d, %s)", v.Bandwidth, peak, peakSeg, seg)
	}
	if v.AverageBandwidth > 0 && math.Abs(float64(v.AverageBandwidth)-avg) > 0.1*avg {
		c.add(ErrBandwidth, r.uri, -1, "", "AVERAGE-BANDWIDTH %d is not within 10%% of the measured average %.0f", v.AverageBandwidth, avg)
	}
}

// checkAlignment compares the first video frame time of every segment of r
// with that of the reference rendition.
func (c *checker) checkAlignment(ref, r *rendition) {
	if len(ref.pl.Segments) != len(r.pl.Segments) {
		c.add(ErrAlignment, r.uri, -1, "", "%d segments, rendition %s has %d", len(r.pl.Segments), ref.uri, len(ref.pl.Segments))
	}
	var bad []int
	for i := range min(len(ref.probes), len(r.probes)) {
		a, b := ref.probes[i], r.probes[i]
		if a == nil || b == nil || !a.havePacket || !b.havePacket {
			continue
		}
		if math.Abs(a.pts-b.pts) > 0.001 {
			bad = append(bad, i)
		}
	}
	sort.Ints(bad)
	for _, i := range bad {
		c.add(ErrAlignment, r.uri, i, r.pl.Segments[i].URI, "first video frame at %.3f s, in rendition %s at %.3f s", r.probes[i].pts, ref.uri, ref.probes[i].pts)
	}
}
