package pipeline

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"
)

// Remover is implemented by sinks that can delete a file they created; the
// quality gate uses it to delete the segments of a rung it dropped, once the
// master (which does not name the rung) is written: a worker that lost a
// publish race deletes nothing, so it can never remove files of the master
// that won. With a sink that cannot delete, the segments stay, unreferenced.
type Remover interface {
	Remove(name string) error
}

// Remove implements Remover: the staged file is deleted and not committed.
func (d *DirSink) Remove(name string) error {
	rel, err := cleanName(name)
	if err != nil {
		return err
	}
	for i, n := range d.names {
		if n == rel {
			d.names = append(d.names[:i], d.names[i+1:]...)
			break
		}
	}
	if err := os.Remove(filepath.Join(d.staging, rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", name, err)
	}
	return nil
}

// planExtras sets up the taps on the decoded frames (storyboard, quality
// references) once the renditions are known.
func (t *transcode) planExtras() error {
	if len(t.outs) == 0 {
		return nil
	}
	top := t.outs[0]
	if t.opt.MP4 == "" {
		t.opt.MP4 = t.opt.Ladder.MP4Rendition
	}
	if g := t.opt.Ladder.QualityGate; g != nil && t.opt.Quality.MinSSIMGain == 0 {
		t.opt.Quality.MinSSIMGain = g.MinSSIMGain
	}
	if t.opt.MP4 != "" {
		i, err := pickMP4Rung(t.opt.MP4, t.opt.Ladder, t.outs)
		if err != nil {
			return err
		}
		if t.win != nil {
			t.win.mp4 = t.outs[i].Name // a chunk names the rung; the finish remuxes it
		} else {
			if t.mp4, err = newMP4Writer(t.outs[i].Name); err != nil {
				return err
			}
			t.videos[i].seg.tap = t.mp4.write
		}
	}
	if !t.opt.Storyboard.Disabled {
		t.sb = newStoryboard(t.opt.Storyboard, t.sink, top.Width, top.Height, t.duration())
		if t.win != nil {
			t.sb.window(t.win.start, t.win.end(t.duration()), fmt.Sprintf(chunkStoryboardName, t.win.index))
		}
	}
	if t.opt.Quality.Disabled && t.opt.Quality.MinSSIMGain == 0 {
		return nil // a gate needs the figures, so it overrides Disabled
	}
	n := t.opt.Quality.Frames
	if n <= 0 {
		n = DefaultQualityFrames
	}
	low := t.outs[0].FPS
	for _, o := range t.outs {
		if o.FPS.Float() < low.Float() {
			low = o.FPS
		}
	}
	t.qrefs = newQualityRefs(n, top.Width, top.Height, t.duration(), t.opt.Ladder.GOPSeconds, astiav.NewRational(low.Num, low.Den))
	if t.win != nil {
		t.qrefs.keepWithin(&t.win.span) // a chunk measures the single pass's instants in its span
	}
	t.qrefs.users = len(t.videos)
	for _, w := range t.videos {
		w.qrefs, w.log = t.qrefs, t.log
	}
	return nil
}

func (t *transcode) freeExtras() {
	if t.sb != nil {
		t.sb.free()
	}
	if t.qrefs != nil {
		t.qrefs.free()
	}
	if t.mp4 != nil {
		t.mp4.free()
	}
}

// tapExtras offers one shared decoded frame (sec seconds) to the taps. A
// hardware surface (a GPU decoder's frame) is copied to system memory first,
// only for the few frames a tap takes.
func (t *transcode) tapExtras(f *astiav.Frame, sec float64) error {
	sbDue := t.sb != nil && sec >= t.sb.next-eps
	qDue := t.qrefs != nil && t.qrefs.due(sec)
	if !sbDue && !qDue {
		return nil
	}
	if pixIsHardware(int(f.PixelFormat())) {
		sw := astiav.AllocFrame()
		defer sw.Free()
		if err := f.TransferHardwareData(sw); err != nil {
			return fmt.Errorf("copying a frame from the device for the storyboard/quality: %w", err)
		}
		sw.SetPts(f.Pts())
		sw.SetSampleAspectRatio(f.SampleAspectRatio())
		f = sw
	}
	if t.sb != nil {
		if err := t.sb.frame(f, t.prepTB, sec); err != nil {
			return err
		}
	}
	if t.qrefs != nil {
		if err := t.qrefs.capture(f, t.prepTB, sec); err != nil {
			return err
		}
	}
	return nil
}

// qualityGate fills res.Quality and returns the rungs to publish, highest
// first (gateQuality decides). A dropped rung's files are deleted when the
// sink can (Remover).
func (t *transcode) qualityGate(res *Result) ([]*renditionWorker, error) {
	if t.qrefs == nil {
		return t.videos, nil
	}
	qs := make([]Quality, len(t.videos))
	for i, w := range t.videos {
		qs[i] = Quality{Rendition: w.out.Name, Width: w.out.Width, Height: w.out.Height}
		if w.q != nil {
			qs[i].SSIM, qs[i].PSNR, qs[i].Frames = w.q.result()
		}
	}
	gate := t.opt.Quality.MinSSIMGain
	keep := gateQuality(qs, gate)
	res.Quality = qs
	var kept []*renditionWorker
	for i, w := range t.videos {
		if keep[i] {
			kept = append(kept, w)
			continue
		}
		logDropped(t.log, qs[i], gate)
		t.dropped = append(t.dropped, w)
	}
	return kept, nil
}

// gateQuality is the quality gate's decision over qs, the rungs' figures
// highest rung first: it walks up from the lowest rung, sets each rung's
// SSIMGain over the next lower rung kept and, with a gate above 0, drops
// (Dropped, keep false) every rung whose gain is less than gate. The lowest
// rung and rungs without figures are always kept.
func gateQuality(qs []Quality, gate float64) (keep []bool) {
	keep = make([]bool, len(qs))
	lower := -1 // index of the next lower rung kept
	for i := len(qs) - 1; i >= 0; i-- {
		keep[i] = true
		if lower >= 0 && qs[i].Frames > 0 && qs[lower].Frames > 0 {
			g := qs[i].SSIM - qs[lower].SSIM
			g = math.Round(g*1e5) / 1e5
			qs[i].SSIMGain = &g
			if gate > 0 && g < gate {
				keep[i] = false
				qs[i].Dropped = true
			}
		}
		if keep[i] {
			lower = i
		}
	}
	return keep
}

func logDropped(log *zap.Logger, q Quality, gate float64) {
	log.Info("quality gate dropped a rendition", zap.String("rendition", q.Rendition),
		zap.Float64("ssim", q.SSIM), zap.Float64("ssim_gain", *q.SSIMGain), zap.Float64("min_ssim_gain", gate))
}

// removeDropped deletes the segments of the rungs the gate dropped (their
// playlists were never written). Called after the master is written; a
// failure leaves unreferenced files and is only logged.
func (t *transcode) removeDropped() {
	r, ok := t.sink.(Remover)
	if !ok {
		return
	}
	for _, w := range t.dropped {
		for _, n := range w.seg.fileNames() {
			if err := r.Remove(n); err != nil {
				t.log.Warn("removing a dropped rendition's file", zap.String("file", n), zap.Error(err))
			}
		}
	}
}

// fileNames lists the files the segmenter wrote.
func (s *segmenter) fileNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if s.initSize > 0 {
		names = append(names, s.dir+"/init.mp4")
	}
	for _, seg := range s.segments {
		names = append(names, s.dir+"/"+seg.URI)
	}
	return names
}

// finishExtras writes the storyboard's last sprite and index and the MP4.
func (t *transcode) finishExtras(res *Result) error {
	if t.sb != nil {
		sb, err := t.sb.finish(res.Duration)
		if err != nil {
			return err
		}
		if sb != nil {
			sb.VTT = t.objectName(sb.VTT)
			sprites := make([]string, len(sb.Sprites))
			for i, n := range sb.Sprites {
				sprites[i] = t.objectName(n)
			}
			sb.Sprites = sprites
		}
		res.Storyboard = sb
	}
	if t.mp4 != nil {
		m, err := t.mp4.finish(t.sink, t.mp4.rung+".mp4")
		if err != nil {
			return err
		}
		m.Name = t.objectName(m.Name)
		res.MP4 = m
	}
	return nil
}
