package pipeline

// The finish of a chunked VOD job: once every chunk is transcoded
// (chunk.go), publish what a single pass (publish.go) would have published
// over the chunks' segments, which stay where the chunks wrote them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// FinishChunks publishes a chunked presentation once every chunk is
// written: media playlists over the chunks' segments, bandwidths from all
// of them, the extras, the poster, and master.m3u8 last, as Transcode's
// publish does.
//
// The segments, init sections, poster and storyboard strips stay where the
// chunks stored them: each media playlist, stored under opt.ObjectName's
// name, refers to them by URIs relative to its own folder; an fMP4 chunk
// whose init.mp4 differs from the one before it gets an EXT-X-MAP of its
// own. Quality figures are merged over the chunks (mergeQuality) and gated
// as a single pass gates them; the storyboard's sheets are packed from the
// chunks' strips and the MP4 remuxed from the rung's segments. opt.Open
// reads back what that takes (fMP4 init sections, strips, the MP4 rung's
// segments); the rungs the gate drops have their chunks' files deleted
// after the master, when sink is a Remover. Result.Elapsed is the finish's
// time plus every chunk's.
func FinishChunks(ctx context.Context, opt FinishOptions, sink Sink) (*Result, error) {
	began := time.Now()
	f, err := newFinish(opt, sink)
	if err != nil {
		return nil, err
	}
	res, err := f.publish(ctx)
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(began).Seconds()
	for _, c := range opt.Chunks {
		res.Elapsed += c.Elapsed
	}
	if res.Elapsed > 0 {
		res.Speed = res.Duration / res.Elapsed
	}
	return res, nil
}

// finish is the state of one FinishChunks.
type finish struct {
	opt  FinishOptions
	raw  Sink // the sink given, which stores names as they are
	sink Sink // raw with Options.ObjectName
	log  *zap.Logger
	gate float64 // the quality gate's minimum SSIM gain; 0: none

	video, audio []*finishRung
	dropped      []*finishRung
	inits        map[string][]byte // init sections read back, by stored name
}

// finishRung is one rendition (a video rung or an audio-only playlist)
// across the chunks, and its playlist once built.
type finishRung struct {
	name  string
	parts []ChunkRendition // one per chunk, in order

	pl        *hls.MediaPlaylist
	sizes     []int64
	initBytes int64
	runs      []segmentRun
}

// segmentRun is a stretch of a rendition's segments (stored names) under
// one initialization section (init, "" for MPEG-TS): what one demuxer
// reads back in order.
type segmentRun struct {
	init     string
	segments []string
}

func newFinish(opt FinishOptions, sink Sink) (*finish, error) {
	if len(opt.Chunks) == 0 {
		return nil, errors.New("finishing a chunked presentation: no chunks")
	}
	if opt.Ladder == nil {
		return nil, errors.New("no ladder given")
	}
	if err := opt.Ladder.Validate(); err != nil {
		return nil, err
	}
	if opt.SegmentType == "" {
		opt.SegmentType = SegmentTS
	}
	if opt.SegmentType != SegmentTS && opt.SegmentType != SegmentFMP4 {
		return nil, fmt.Errorf("segment type %q: want ts or fmp4", opt.SegmentType)
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if len(opt.Plan.Chunks) > 0 && len(opt.Plan.Chunks) != len(opt.Chunks) {
		return nil, fmt.Errorf("finishing a chunked presentation: %d chunk results for a plan of %d", len(opt.Chunks), len(opt.Plan.Chunks))
	}
	for i, c := range opt.Chunks {
		if c.Index != i {
			return nil, fmt.Errorf("finishing a chunked presentation: result %d is chunk %d's (want plan order)", i, c.Index)
		}
	}
	f := &finish{opt: opt, raw: sink, sink: renamingSink(sink, opt.ObjectName), log: opt.Logger, inits: map[string][]byte{}}
	f.gate = opt.Quality.MinSSIMGain
	if g := opt.Ladder.QualityGate; g != nil && f.gate == 0 {
		f.gate = g.MinSSIMGain
	}
	var err error
	if f.video, err = gatherRungs(opt.Chunks, func(c ChunkResult) []ChunkRendition { return c.Renditions }); err != nil {
		return nil, err
	}
	if f.audio, err = gatherRungs(opt.Chunks, func(c ChunkResult) []ChunkRendition { return c.Audio }); err != nil {
		return nil, err
	}
	return f, nil
}

// gatherRungs collects each rendition's parts across the chunks: every
// chunk must have the renditions of chunk 0, in its order, with the same
// codecs and size.
func gatherRungs(chunks []ChunkResult, of func(ChunkResult) []ChunkRendition) ([]*finishRung, error) {
	first := of(chunks[0])
	rungs := make([]*finishRung, len(first))
	for i, r := range first {
		rungs[i] = &finishRung{name: r.Name}
	}
	for ci, c := range chunks {
		got := of(c)
		if len(got) != len(rungs) {
			return nil, fmt.Errorf("chunk %d has %d renditions, chunk 0 %d", ci, len(got), len(rungs))
		}
		for i, r := range got {
			p0 := first[i]
			if r.Name != p0.Name || !slices.Equal(r.Codecs, p0.Codecs) || r.Width != p0.Width || r.Height != p0.Height {
				return nil, fmt.Errorf("chunk %d rendition %d is %s %dx%d %v, chunk 0's %s %dx%d %v", ci, i,
					r.Name, r.Width, r.Height, r.Codecs, p0.Name, p0.Width, p0.Height, p0.Codecs)
			}
			rungs[i].parts = append(rungs[i].parts, r)
		}
	}
	return rungs, nil
}

// publish is publish.go's order over the chunks: audio playlists, the
// quality gate, the video playlists, the extras, then the master, last.
func (f *finish) publish(ctx context.Context) (*Result, error) {
	chunks := f.opt.Chunks
	res := &Result{
		Master: MasterName, SegmentType: f.opt.SegmentType, SegmentSeconds: f.opt.Ladder.SegmentSeconds,
		Input: chunks[0].Input, Duration: chunks[len(chunks)-1].End,
	}
	media, err := f.publishAudio(res)
	if err != nil {
		return nil, err
	}
	kept := f.qualityGate(res)
	for _, r := range kept {
		rr, err := f.publishRung(r)
		if err != nil {
			return nil, err
		}
		p := r.parts[0]
		rr.Width, rr.Height, rr.FrameRate = p.Width, p.Height, p.FrameRate
		res.Renditions = append(res.Renditions, rr)
	}
	master, err := masterPlaylist(f.opt.SegmentType, res, media)
	if err != nil {
		return nil, err
	}
	if err := f.finishExtras(ctx, res); err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if c.Poster != "" {
			res.Poster = c.Poster
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCanceled, err)
	}
	if err := writeFile(f.sink, MasterName, master.Encode()); err != nil {
		return nil, err
	}
	f.removeDropped()
	return res, nil
}

// publishAudio writes the audio-only playlists into res.Audio and, when
// there are several, returns their EXT-X-MEDIA entries, as a single pass.
func (f *finish) publishAudio(res *Result) ([]hls.Media, error) {
	var media []hls.Media
	for i, r := range f.audio {
		rr, err := f.publishRung(r)
		if err != nil {
			return nil, err
		}
		res.Audio = append(res.Audio, rr)
		if len(f.audio) > 1 {
			lang := r.parts[0].Language
			if in := res.Input; lang == "" && in != nil && i < len(in.Audio) {
				lang = in.Audio[i].Language
			}
			media = append(media, audioMedia(i, lang, f.opt.Ladder.Audio.Channels, rr.Playlist))
		}
	}
	return media, nil
}

// publishRung writes r's media playlist over every chunk's segments.
func (f *finish) publishRung(r *finishRung) (RenditionResult, error) {
	if err := f.playlist(r); err != nil {
		return RenditionResult{}, err
	}
	codecs := r.parts[0].Codecs
	if len(codecs) == 0 {
		return RenditionResult{}, fmt.Errorf("rendition %s: the chunks name no codecs", r.name)
	}
	return publishPlaylist(f.sink, r.name, r.pl, r.sizes, r.initBytes, codecs)
}

// playlist builds r's VOD media playlist: every chunk's segments in order,
// each URI relative to the folder the playlist is stored in; with fMP4 the
// first chunk's init.mp4 is the playlist's EXT-X-MAP, and a chunk whose
// init.mp4 differs in its bytes from the one before gets a new one.
func (f *finish) playlist(r *finishRung) error {
	base := path.Dir(storedName(f.sink, r.name+"/index.m3u8"))
	pl := &hls.MediaPlaylist{Type: hls.VOD, IndependentSegments: true, EndList: true}
	fmp4 := f.opt.SegmentType == SegmentFMP4
	var cur []byte // the current init section's bytes
	mapNext := ""  // a new EXT-X-MAP for the next segment
	for ci, p := range r.parts {
		switch {
		case fmp4:
			b, err := f.readInit(p.Init)
			if err != nil {
				return fmt.Errorf("rendition %s of chunk %d: %w", r.name, ci, err)
			}
			if ci > 0 && bytes.Equal(b, cur) {
				break
			}
			uri, err := relURI(base, p.Init)
			if err != nil {
				return err
			}
			if ci == 0 {
				pl.MapURI = uri
			} else {
				mapNext = uri
			}
			cur = b
			r.initBytes += int64(len(b))
			r.runs = append(r.runs, segmentRun{init: p.Init})
		case ci == 0:
			r.runs = append(r.runs, segmentRun{})
		}
		run := &r.runs[len(r.runs)-1]
		for _, s := range p.Segments {
			uri, err := relURI(base, s.Name)
			if err != nil {
				return err
			}
			pl.Segments = append(pl.Segments, hls.Segment{URI: uri, Duration: s.Duration, MapURI: mapNext})
			mapNext = ""
			r.sizes = append(r.sizes, s.Bytes)
			run.segments = append(run.segments, s.Name)
		}
	}
	r.pl = pl
	return nil
}

// relURI is the URI of the stored object name relative to the folder base.
func relURI(base, name string) (string, error) {
	rel, err := filepath.Rel(filepath.FromSlash(base), filepath.FromSlash(name))
	if err != nil {
		return "", fmt.Errorf("%s relative to %s: %w", name, base, err)
	}
	return filepath.ToSlash(rel), nil
}

// maxInitBytes bounds an init section read back.
const maxInitBytes = 16 << 20

// readInit reads the init section stored as name (once).
func (f *finish) readInit(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("no init.mp4 named for fMP4 segments")
	}
	if b, ok := f.inits[name]; ok {
		return b, nil
	}
	b, err := f.readAll(name, maxInitBytes)
	if err != nil {
		return nil, err
	}
	f.inits[name] = b
	return b, nil
}

// readAll reads the stored object name through Open, up to limit bytes.
func (f *finish) readAll(name string, limit int64) ([]byte, error) {
	if f.opt.Open == nil {
		return nil, fmt.Errorf("reading %s: FinishOptions.Open is not set", name)
	}
	r, _, err := f.opt.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("reading %s: more than %d bytes", name, limit)
	}
	return b, nil
}

// removeDropped deletes the files of the rungs the quality gate dropped,
// through the sink given when it can (Remover), after the master is
// written, as a single pass does. The chunks' names are stored names, so
// they are not mapped again. A failure is only logged.
func (f *finish) removeDropped() {
	rm, ok := f.raw.(Remover)
	if !ok {
		return
	}
	for _, r := range f.dropped {
		var names []string
		for _, p := range r.parts {
			if p.Init != "" && !slices.Contains(names, p.Init) {
				names = append(names, p.Init)
			}
			for _, s := range p.Segments {
				names = append(names, s.Name)
			}
		}
		for _, n := range names {
			if err := rm.Remove(n); err != nil {
				f.log.Warn("removing a dropped rendition's file", zap.String("file", n), zap.Error(err))
			}
		}
	}
}
