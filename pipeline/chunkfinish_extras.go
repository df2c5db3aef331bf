package pipeline

// The extras of a chunked presentation at its finish (chunkfinish.go): the
// quality figures merged over the chunks and gated, the storyboard packed
// from the chunks' strips, and the progressive MP4 remuxed from one rung's
// segments.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"

	"github.com/hlsfleet/hlsfleet/ladders"
)

// qualityGate fills res.Quality with each video rung's figures merged over
// the chunks and returns the rungs to publish, as a single pass's gate
// (gateQuality) decides. With the report off (and no gate) every rung is
// kept and there is no report, as in a single pass.
func (f *finish) qualityGate(res *Result) []*finishRung {
	if len(f.video) == 0 || (f.opt.Quality.Disabled && f.gate == 0) {
		return f.video
	}
	qs := make([]Quality, len(f.video))
	for i, r := range f.video {
		var parts []Quality
		for _, c := range f.opt.Chunks {
			for _, q := range c.Quality {
				if q.Rendition == r.name {
					parts = append(parts, q)
				}
			}
		}
		p := r.parts[0]
		qs[i] = mergeQuality(Quality{Rendition: r.name, Width: p.Width, Height: p.Height}, parts)
	}
	keep := gateQuality(qs, f.gate)
	res.Quality = qs
	var kept []*finishRung
	for i, r := range f.video {
		if keep[i] {
			kept = append(kept, r)
			continue
		}
		logDropped(f.log, qs[i], f.gate)
		f.dropped = append(f.dropped, r)
	}
	return kept
}

// mergeQuality is q (a rung's name and size) with the figures of parts,
// the chunks' measurements of that rung, merged as if one pass had
// measured every frame they compared: SSIM the mean over the frames (each
// chunk's weighted by its Frames), PSNR from the mean MSE over them (each
// chunk's MSE recovered from its PSNR), capped at 100 dB, both rounded as
// a single pass rounds them. Parts without frames count for nothing.
func mergeQuality(q Quality, parts []Quality) Quality {
	var ssim, mse float64
	for _, p := range parts {
		if p.Frames <= 0 {
			continue
		}
		n := float64(p.Frames)
		ssim += p.SSIM * n
		mse += 255 * 255 / math.Pow(10, p.PSNR/10) * n
		q.Frames += p.Frames
	}
	if q.Frames == 0 {
		return q
	}
	n := float64(q.Frames)
	ssim, mse = ssim/n, mse/n
	psnr := psnrCap
	if mse > 0 {
		psnr = math.Min(psnrCap, 10*math.Log10(255*255/mse))
	}
	q.SSIM, q.PSNR = math.Round(ssim*1e5)/1e5, math.Round(psnr*100)/100
	return q
}

// finishExtras writes the storyboard and the MP4, as a single pass's
// finishExtras does.
func (f *finish) finishExtras(ctx context.Context, res *Result) error {
	sb, err := f.storyboard(res.Duration)
	if err != nil {
		return err
	}
	res.Storyboard = sb
	rung, err := f.mp4Rung()
	if err != nil || rung == nil {
		return err
	}
	res.MP4, err = f.remuxMP4(ctx, rung)
	return err
}

// storyboard packs the chunks' strips into sprite sheets laid out as a
// single pass lays them out (spriteSheets), with the WebVTT index.
func (f *finish) storyboard(duration float64) (*StoryboardResult, error) {
	if f.opt.Storyboard.Disabled {
		return nil, nil
	}
	var strips []*ChunkStoryboard
	for _, c := range f.opt.Chunks {
		if c.Storyboard != nil && c.Storyboard.Tiles > 0 {
			strips = append(strips, c.Storyboard)
		}
	}
	if len(strips) == 0 {
		return nil, nil
	}
	first := strips[0]
	opt := storyboardDefaults(f.opt.Storyboard)
	opt.Interval = first.Interval
	sheets := &spriteSheets{opt: opt, sink: f.sink, tileW: first.TileWidth, tileH: first.TileHeight}
	if sheets.tileW < 2 || sheets.tileH < 2 || sheets.tileW%2 != 0 || sheets.tileH%2 != 0 || opt.Interval <= 0 {
		return nil, fmt.Errorf("storyboard strip %s: %dx%d tiles every %v s", first.Image, first.TileWidth, first.TileHeight, first.Interval)
	}
	for _, st := range strips {
		if st.TileWidth != first.TileWidth || st.TileHeight != first.TileHeight || st.Interval != first.Interval {
			return nil, fmt.Errorf("storyboard strip %s has %dx%d tiles every %v s, %s %dx%d every %v s", st.Image,
				st.TileWidth, st.TileHeight, st.Interval, first.Image, first.TileWidth, first.TileHeight, first.Interval)
		}
		if err := f.placeStrip(sheets, st); err != nil {
			return nil, err
		}
	}
	sb, err := sheets.finish(duration)
	if err != nil || sb == nil {
		return sb, err
	}
	sb.VTT = storedName(f.sink, sb.VTT)
	for i, n := range sb.Sprites {
		sb.Sprites[i] = storedName(f.sink, n)
	}
	return sb, nil
}

// maxStripBytes bounds a storyboard strip read back.
const maxStripBytes = 64 << 20

// placeStrip places the tiles of one chunk's strip: tile First+j is the
// strip's j-th from the left. A tile already placed (chunks overlapping) is
// skipped; missing tile numbers before one (an instant no chunk took) get
// that tile, as a single pass gives every instant the first frame at or
// after it.
func (f *finish) placeStrip(sheets *spriteSheets, st *ChunkStoryboard) error {
	b, err := f.readAll(st.Image, maxStripBytes)
	if err != nil {
		return fmt.Errorf("storyboard strip: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("storyboard strip %s: %w", st.Image, err)
	}
	r := img.Bounds()
	if r.Dx() < st.Tiles*st.TileWidth || r.Dy() < st.TileHeight {
		return fmt.Errorf("storyboard strip %s is %dx%d, too small for %d tiles of %dx%d", st.Image, r.Dx(), r.Dy(), st.Tiles, st.TileWidth, st.TileHeight)
	}
	tile := image.NewYCbCr(image.Rect(0, 0, st.TileWidth, st.TileHeight), image.YCbCrSubsampleRatio420)
	for j := range st.Tiles {
		num := st.First + j
		if num < sheets.n {
			continue
		}
		toYCbCr420(tile, img, image.Pt(r.Min.X+j*st.TileWidth, r.Min.Y))
		for sheets.n <= num {
			if err := sheets.place(tile); err != nil {
				return err
			}
		}
	}
	return nil
}

// toYCbCr420 converts the part of src at at the size of dst into dst
// (even sides): luma per pixel, chroma from each 2x2 block's mean colour.
func toYCbCr420(dst *image.YCbCr, src image.Image, at image.Point) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	rgb := func(x, y int) (r, g, b uint32) {
		r, g, b, _ = src.At(at.X+x, at.Y+y).RGBA()
		return r >> 8, g >> 8, b >> 8
	}
	for y := range h {
		for x := range w {
			r, g, b := rgb(x, y)
			dst.Y[y*dst.YStride+x], _, _ = color.RGBToYCbCr(uint8(r), uint8(g), uint8(b))
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			var rs, gs, bs uint32
			for _, d := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, b := rgb(2*x+d[0], 2*y+d[1])
				rs, gs, bs = rs+r, gs+g, bs+b
			}
			_, cb, cr := color.RGBToYCbCr(uint8((rs+2)/4), uint8((gs+2)/4), uint8((bs+2)/4))
			dst.Cb[y*dst.CStride+x], dst.Cr[y*dst.CStride+x] = cb, cr
		}
	}
}

// mp4Rung is the video rung the MP4 is remuxed from: the one a chunk names
// (ChunkResult.MP4), else Options.MP4 or the ladder's, chosen among the
// rungs as a single pass chooses (pickMP4Rung); nil for none.
func (f *finish) mp4Rung() (*finishRung, error) {
	choice := ""
	for _, c := range f.opt.Chunks {
		if c.MP4 != "" {
			choice = c.MP4
			break
		}
	}
	if choice == "" {
		choice = f.opt.MP4
	}
	if choice == "" {
		choice = f.opt.Ladder.MP4Rendition
	}
	if choice == "" || len(f.video) == 0 {
		return nil, nil
	}
	outs := make([]ladders.Output, len(f.video))
	for i, r := range f.video {
		outs[i] = ladders.Output{Name: r.name, Width: r.parts[0].Width, Height: r.parts[0].Height}
	}
	i, err := pickMP4Rung(choice, f.opt.Ladder, outs)
	if err != nil {
		return nil, err
	}
	return f.video[i], nil
}
