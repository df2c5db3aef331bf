package pipeline

/*
#cgo pkg-config: libavutil
#include <stdlib.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>

static const char *hf_frame_meta(void *f, const char *key) {
	AVDictionaryEntry *e = av_dict_get(((AVFrame *)f)->metadata, key, NULL, 0);
	return e ? e->value : NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
)

// DefaultQualityFrames is how many frames per rendition are compared with
// the source when QualityOptions.Frames is 0.
const DefaultQualityFrames = 12

// psnrCap stands in for the infinite PSNR of a frame identical to its
// reference (JSON has no infinity).
const psnrCap = 100.0

// QualityOptions configure the quality report. The zero value measures
// DefaultQualityFrames frames and gates nothing.
type QualityOptions struct {
	Disabled bool
	Frames   int // sampled frames, spread evenly over the duration
	// MinSSIMGain, when > 0, drops every rung whose SSIM is less than this
	// much above the next lower rung kept (the quality gate).
	MinSSIMGain float64
}

// Quality is one rendition's figures against the source (job.Quality,
// the shared vocabulary; see there how they are measured).
type Quality = job.Quality

// qualityRefs holds the source frames sampled for the quality report, scaled
// to the reference size. capture runs on the demux goroutine; the rendition
// workers look frames up concurrently.
type qualityRefs struct {
	w, h     int
	instants []float64 // planned sample times, seconds
	gop      float64

	// demux goroutine only
	next int
	g    *graph
	out  *astiav.Frame

	// cmpMu lets one comparison run at a time: each builds a filter graph
	// at the reference size, and four at once cost ~80 MB of peak memory.
	cmpMu sync.Mutex

	mu   sync.Mutex
	refs []qualityRef
	// users is the number of probes; a reference is freed once every probe
	// has measured or passed it (released[instant] == users).
	users    int
	released map[int]int
}

type qualityRef struct {
	instant int     // index into instants
	t       float64 // the source frame's time
	f       *astiav.Frame
}

// newQualityRefs plans n samples over duration seconds (unknown: one every
// 5 s), snapped to the frame grid of fps (the lowest rung frame rate) so
// every rung has a frame at each sample.
//
// With a known GOP the samples sit a few frames after a GOP start (0 to
// qualityMaxOffset frames, cycling, so I, P and B pictures are all
// measured): a probe then decodes only those few frames of each sampled GOP
// instead of up to half a GOP, which made the report cost a fifth of the
// whole transcode on a 1080p ladder.
func newQualityRefs(n, w, h int, duration, gop float64, fps astiav.Rational) *qualityRefs {
	q := &qualityRefs{w: w, h: h, gop: gop, released: map[int]int{}}
	r := 0.0
	if fps.Num() > 0 && fps.Den() > 0 {
		r = fps.Float64()
	}
	gops := 0
	if duration > 0 && gop > 0 && r > 0 {
		gops = int(math.Ceil(duration/gop - eps))
	}
	for k := 0; k < n; k++ {
		var t float64
		switch {
		case gops > 0:
			g := (2*k + 1) * gops / (2 * n) // the GOP holding the k-th of n evenly spread instants
			t = float64(g)*gop + float64(k%(qualityMaxOffset+1))/r
			if t > duration-1/r {
				t = duration - 1/r
			}
		case duration > 0:
			t = (float64(k) + 0.5) * duration / float64(n)
		default:
			t = float64(k)*5 + 0.5
		}
		if r > 0 {
			t = math.Floor(t*r+eps) / r
		}
		if len(q.instants) > 0 && t <= q.instants[len(q.instants)-1]+eps {
			continue
		}
		q.instants = append(q.instants, t)
	}
	return q
}

// keepWithin drops the planned instants outside sp (a chunk's span).
func (q *qualityRefs) keepWithin(sp *span) {
	kept := q.instants[:0]
	for _, t := range q.instants {
		if sp.has(t) {
			kept = append(kept, t)
		}
	}
	q.instants = kept
}

// qualityMaxOffset is how many frames after a GOP start a sample may sit.
const qualityMaxOffset = 5

func (q *qualityRefs) free() {
	if q.g != nil {
		q.g.free()
	}
	if q.out != nil {
		q.out.Free()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range q.refs {
		r.f.Free()
	}
	q.refs = nil
}

// due reports whether a frame at sec would be captured.
func (q *qualityRefs) due(sec float64) bool {
	return q.next < len(q.instants) && sec >= q.instants[q.next]-eps
}

// capture keeps f (time sec) as the reference of every planned instant it
// is the first frame at or after.
func (q *qualityRefs) capture(f *astiav.Frame, tb astiav.Rational, sec float64) error {
	if q.next >= len(q.instants) || sec < q.instants[q.next]-eps {
		return nil
	}
	first := q.next
	for q.next < len(q.instants) && q.instants[q.next] <= sec+eps {
		q.next++
	}
	if sec-q.instants[q.next-1] > q.gop {
		return nil // a gap in the video: no frame near these instants
	}
	if q.g == nil {
		g, err := newVideoGraph(fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p", q.w, q.h), videoSrc{
			width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat(), timeBase: tb, sar: f.SampleAspectRatio(),
		}, 1)
		if err != nil {
			return fmt.Errorf("quality reference filter: %w", err)
		}
		q.g, q.out = g, astiav.AllocFrame()
	}
	in := astiav.AllocFrame()
	defer in.Free()
	if err := in.Ref(f); err != nil {
		return fmt.Errorf("quality reference: %w", err)
	}
	if err := q.g.push(in); err != nil {
		return fmt.Errorf("quality reference: %w", err)
	}
	return q.g.drain(q.out, func(o *astiav.Frame) error {
		q.mu.Lock()
		defer q.mu.Unlock()
		for i := first; i < q.next; i++ {
			nf := astiav.AllocFrame()
			if err := nf.Ref(o); err != nil {
				nf.Free()
				return fmt.Errorf("quality reference: %w", err)
			}
			q.refs = append(q.refs, qualityRef{instant: i, t: sec, f: nf})
		}
		return nil
	})
}

// lookup returns a new reference to the sampled source frame within tol
// seconds of t that done has not seen, or nil.
func (q *qualityRefs) lookup(t, tol float64, done map[int]bool) (int, *astiav.Frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range q.refs {
		if done[r.instant] || math.Abs(r.t-t) > tol {
			continue
		}
		nf := astiav.AllocFrame()
		if err := nf.Ref(r.f); err != nil {
			nf.Free()
			return 0, nil
		}
		return r.instant, nf
	}
	return 0, nil
}

// release records that one probe is done with instant i (measured, passed
// or given up) and frees the reference when no probe needs it any more.
func (q *qualityRefs) release(i int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.released[i]++
	if q.users <= 0 || q.released[i] < q.users {
		return
	}
	kept := q.refs[:0]
	for _, r := range q.refs {
		if r.instant == i {
			r.f.Free()
			continue
		}
		kept = append(kept, r)
	}
	q.refs = kept
}

// passed lists the captured instants not in done whose reference lies
// before t: a probe whose stream has reached a key packet at t can no
// longer produce a frame for them.
func (q *qualityRefs) passed(t float64, done map[int]bool) []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []int
	for _, r := range q.refs {
		if !done[r.instant] && r.t < t {
			out = append(out, r.instant)
		}
	}
	return out
}

// wants reports whether an instant not in done lies in [lo, hi].
func (q *qualityRefs) wants(lo, hi float64, done map[int]bool) bool {
	for i, t := range q.instants {
		if !done[i] && t >= lo && t <= hi {
			return true
		}
	}
	return false
}

// qualityProbe decodes one rung's encoded packets around the sample
// instants (only the GOPs that hold one: every GOP starts with an IDR, so
// decoding can start at any key packet) and compares the frames at the
// instants with the references.
type qualityProbe struct {
	refs  *qualityRefs
	name  string
	cp    *astiav.CodecParameters
	tb    astiav.Rational
	tol   float64 // half a rendition frame
	idle  bool    // dec is open but fed no more until the next sampled GOP
	log   *zap.Logger
	dec   *astiav.CodecContext
	frame *astiav.Frame
	done  map[int]bool
	key   float64 // time of the last key packet

	ssimSum, mseSum float64
	n               int
	failed          bool
}

func newQualityProbe(refs *qualityRefs, name string, cp *astiav.CodecParameters, tb astiav.Rational, fps float64, log *zap.Logger) (*qualityProbe, error) {
	c := astiav.AllocCodecParameters()
	if err := cp.Copy(c); err != nil {
		c.Free()
		return nil, fmt.Errorf("rendition %s: codec parameters: %w", name, err)
	}
	tol := 0.02
	if fps > 0 {
		tol = 0.5 / fps
	}
	return &qualityProbe{refs: refs, name: name, cp: c, tb: tb, tol: tol, log: log, done: map[int]bool{}}, nil
}

func (p *qualityProbe) free() {
	p.closeDecoder()
	if p.cp != nil {
		p.cp.Free()
		p.cp = nil
	}
	if p.frame != nil {
		p.frame.Free()
		p.frame = nil
	}
}

func (p *qualityProbe) closeDecoder() {
	if p.dec != nil {
		p.dec.Free()
		p.dec = nil
	}
}

// fail stops measuring this rung: the report is best effort and never fails
// the transcode.
func (p *qualityProbe) fail(err error) {
	p.log.Warn("quality measurement failed", zap.String("rendition", p.name), zap.Error(err))
	p.failed = true
	p.closeDecoder()
	p.releaseAll()
}

// markDone records instant i as finished for this probe.
func (p *qualityProbe) markDone(i int) {
	if !p.done[i] {
		p.done[i] = true
		p.refs.release(i)
	}
}

// releaseAll gives up every instant not yet finished.
func (p *qualityProbe) releaseAll() {
	for i := range p.refs.instants {
		p.markDone(i)
	}
}

// packet offers one encoded packet (not consumed) in decode order.
func (p *qualityProbe) packet(pk *astiav.Packet) {
	if p.failed {
		return
	}
	if pk.Flags().Has(astiav.PacketFlagKey) {
		t := float64(pk.Pts()) * p.tb.Float64()
		p.key = t
		for _, i := range p.refs.passed(t-p.tol, p.done) {
			p.markDone(i)
		}
		if !p.inGOP(t) {
			if p.dec != nil && !p.idle {
				p.drain(nil) // the last GOP's remaining frames
				p.idle = true
			}
			return
		}
		switch {
		case p.dec == nil:
			if err := p.openDecoder(); err != nil {
				p.fail(err)
				return
			}
		case p.idle:
			flushDecoder(p.dec)
			p.idle = false
		}
	}
	if p.dec != nil && !p.idle {
		p.drain(pk)
	}
}

// inGOP reports whether an instant not yet measured lies in the GOP that
// starts at key (GOPs are at most the ladder's GOP long: an IDR is forced
// at every GOP boundary). Instants of later GOPs wait for their own key
// packet, so a probe decodes only the first frames of each sampled GOP; an
// instant a longer GOP hides is given up at the next key packet.
func (p *qualityProbe) inGOP(key float64) bool {
	hi := key + p.refs.gop - p.tol
	if p.refs.gop <= 0 {
		hi = key + 5 // unknown GOP: the legacy window
	}
	return p.refs.wants(key-p.tol, hi, p.done)
}

// finish decodes what the decoder still holds.
func (p *qualityProbe) finish() {
	if p.dec != nil && !p.failed && !p.idle {
		p.drain(nil)
	}
	p.closeDecoder()
	p.releaseAll()
}

func (p *qualityProbe) openDecoder() error {
	codec, cc, err := allocDecoder(p.cp, p.tb)
	if err != nil {
		return err
	}
	cc.SetThreadCount(1)
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return fmt.Errorf("opening the %s decoder: %w", codec.Name(), err)
	}
	p.dec = cc
	if p.frame == nil {
		p.frame = astiav.AllocFrame()
	}
	return nil
}

// drain sends pk (nil flushes) and compares every frame out that matches a
// sample instant.
func (p *qualityProbe) drain(pk *astiav.Packet) {
	if err := p.dec.SendPacket(pk); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		p.fail(fmt.Errorf("decoding: %w", err))
		return
	}
	for {
		err := p.dec.ReceiveFrame(p.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return
		}
		if err != nil {
			p.fail(fmt.Errorf("decoding: %w", err))
			return
		}
		ts := frameBestEffortTS(p.frame.UnsafePointer())
		if ts != noPTS {
			if i, ref := p.refs.lookup(float64(ts)*p.tb.Float64(), p.tol, p.done); ref != nil {
				p.markDone(i)
				err = p.compare(p.frame, ref)
				ref.Free()
				if err == nil && pk != nil && !p.inGOP(p.key) {
					// Nothing more to measure in this GOP: skip the rest of it
					// (the next sampled GOP flushes the decoder and reuses it).
					p.frame.Unref()
					p.idle = true
					return
				}
			}
		}
		p.frame.Unref()
		if err != nil {
			p.fail(err)
			return
		}
	}
}

// compare runs one decoded frame and its reference through libavfilter's
// psnr and ssim; it takes dist's data but not the frame.
func (p *qualityProbe) compare(dist, ref *astiav.Frame) error {
	p.refs.cmpMu.Lock()
	defer p.refs.cmpMu.Unlock()
	tb := astiav.NewRational(1, 25)
	spec := fmt.Sprintf("[dist]scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p[d];[ref]setsar=1,format=yuv420p,split[r1][r2];[d][r1]psnr[p];[p][r2]ssim[out]", p.refs.w, p.refs.h)
	g, err := newCompareGraph(spec,
		videoSrc{width: dist.Width(), height: dist.Height(), pixFmt: dist.PixelFormat(), timeBase: tb, sar: dist.SampleAspectRatio()},
		videoSrc{width: ref.Width(), height: ref.Height(), pixFmt: ref.PixelFormat(), timeBase: tb, sar: ref.SampleAspectRatio()})
	if err != nil {
		return fmt.Errorf("quality filter: %w", err)
	}
	defer g.free()
	d := astiav.AllocFrame()
	defer d.Free()
	if err := d.Ref(dist); err != nil {
		return err
	}
	d.SetPts(0)
	ref.SetPts(0)
	for _, step := range []struct {
		src *astiav.FilterContext
		f   *astiav.Frame
	}{{g.dist, d}, {g.ref, ref}, {g.dist, nil}, {g.ref, nil}} {
		if err := step.src.BuffersrcAddFrame(step.f, 0); err != nil {
			return fmt.Errorf("quality filter input: %w", err)
		}
	}
	out := astiav.AllocFrame()
	defer out.Free()
	got := false
	err = g.drain(out, func(o *astiav.Frame) error {
		if got {
			return nil
		}
		ssim, ok1 := frameMetaFloat(o, "lavfi.ssim.All")
		mse, ok2 := frameMetaFloat(o, "lavfi.psnr.mse_avg")
		if !ok1 || !ok2 {
			return errors.New("the ssim/psnr filters reported no figures")
		}
		got = true
		p.ssimSum += ssim
		p.mseSum += mse
		p.n++
		return nil
	})
	if err == nil && !got {
		err = errors.New("the quality filter produced no frame")
	}
	return err
}

// result is the rung's figures; Frames is 0 when nothing could be measured.
func (p *qualityProbe) result() (ssim, psnr float64, frames int) {
	if p.n == 0 {
		return 0, 0, 0
	}
	ssim = p.ssimSum / float64(p.n)
	mse := p.mseSum / float64(p.n)
	psnr = psnrCap
	if mse > 0 {
		psnr = math.Min(psnrCap, 10*math.Log10(255*255/mse))
	}
	return math.Round(ssim*1e5) / 1e5, math.Round(psnr*100) / 100, p.n
}

func frameMetaFloat(f *astiav.Frame, key string) (float64, bool) {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	v := C.hf_frame_meta(f.UnsafePointer(), k)
	if v == nil {
		return 0, false
	}
	x, err := strconv.ParseFloat(C.GoString(v), 64)
	if err != nil {
		return 0, false
	}
	return x, true
}

// compareGraph is a two-input graph: the distorted and the reference frame.
type compareGraph struct {
	graph
	dist, ref *astiav.FilterContext
}

func newCompareGraph(spec string, dist, ref videoSrc) (_ *compareGraph, err error) {
	g := &compareGraph{graph: graph{g: astiav.AllocFilterGraph()}}
	if g.g == nil {
		return nil, errors.New("allocating filter graph failed")
	}
	defer func() {
		if err != nil {
			g.free()
		}
	}()
	g.g.SetThreadCount(1)
	args := func(in videoSrc) astiav.FilterArgs {
		sar := in.sar
		if sar.Num() <= 0 || sar.Den() <= 0 {
			sar = astiav.NewRational(1, 1)
		}
		return astiav.FilterArgs{
			"video_size": fmt.Sprintf("%dx%d", in.width, in.height), "pix_fmt": strconv.Itoa(int(in.pixFmt)),
			"time_base": in.timeBase.String(), "pixel_aspect": sar.String(),
		}
	}
	buffer := astiav.FindFilterByName("buffer")
	if g.dist, err = g.g.NewFilterContext(buffer, "dist", args(dist)); err != nil {
		return nil, fmt.Errorf("filter source: %w", err)
	}
	if g.ref, err = g.g.NewFilterContext(buffer, "ref", args(ref)); err != nil {
		return nil, fmt.Errorf("filter source: %w", err)
	}
	if g.sink, err = g.g.NewFilterContext(astiav.FindFilterByName("buffersink"), "out", nil); err != nil {
		return nil, fmt.Errorf("filter sink: %w", err)
	}
	outDist := astiav.AllocFilterInOut()
	defer outDist.Free() // frees the whole list
	outRef := astiav.AllocFilterInOut()
	outDist.SetName("dist")
	outDist.SetFilterContext(g.dist)
	outDist.SetPadIdx(0)
	outDist.SetNext(outRef)
	outRef.SetName("ref")
	outRef.SetFilterContext(g.ref)
	outRef.SetPadIdx(0)
	outRef.SetNext(nil)
	inputs := astiav.AllocFilterInOut()
	defer inputs.Free()
	inputs.SetName("out")
	inputs.SetFilterContext(g.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err = g.g.Parse(spec, inputs, outDist); err != nil {
		return nil, fmt.Errorf("filter %q: %w", spec, err)
	}
	if err = g.g.Configure(); err != nil {
		return nil, fmt.Errorf("configuring filter %q: %w", spec, err)
	}
	return g, nil
}

// heldReferences is the number of sampled source frames still kept.
func (q *qualityRefs) heldReferences() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.refs)
}
