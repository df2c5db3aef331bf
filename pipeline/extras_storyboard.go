package pipeline

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"strings"

	"github.com/asticode/go-astiav"
)

// StoryboardName is the WebVTT index of the scrub-preview thumbnails.
const StoryboardName = "storyboard.vtt"

// Storyboard defaults: a thumbnail every 2 s, 160 px wide, 10x10 per sprite,
// and never more than maxStoryboardThumbs thumbnails (a long video gets a
// longer interval instead of an unbounded number of sprites).
const (
	DefaultStoryboardInterval = 2.0
	DefaultStoryboardWidth    = 160
	DefaultStoryboardColumns  = 10
	DefaultStoryboardRows     = 10
	maxStoryboardThumbs       = 600
	storyboardJPEGQuality     = 75
)

// StoryboardOptions configure the scrub-preview sprites. The zero value
// means the defaults above.
type StoryboardOptions struct {
	Disabled bool
	Interval float64 // seconds between thumbnails (a minimum: long inputs get more)
	Width    int     // thumbnail width in pixels; the height follows the top rung's aspect
	Columns  int     // tiles per sprite row
	Rows     int     // tile rows per sprite
}

// StoryboardResult describes the storyboard files of a presentation.
type StoryboardResult struct {
	VTT        string   `json:"vtt"`
	Sprites    []string `json:"sprites"`
	Interval   float64  `json:"interval_seconds"`
	TileWidth  int      `json:"tile_width"`
	TileHeight int      `json:"tile_height"`
	Columns    int      `json:"columns"`
	Rows       int      `json:"rows"`
	Thumbnails int      `json:"thumbnails"`
}

// storyboard taps the shared decoded frames (after pre-processing, like the
// poster): at each interval it scales one frame to a tile and packs it into
// the sprite sheets.
type storyboard struct {
	spriteSheets
	g    *graph
	out  *astiav.Frame
	tile *image.YCbCr
	buf  []byte
	next float64

	// A chunk's share (window): thumbnails first to stop-1, left to right
	// in one strip (spriteSheets.strip).
	first, stop int
}

// storyboardDefaults fills the zero fields of opt with the defaults.
func storyboardDefaults(opt StoryboardOptions) StoryboardOptions {
	if opt.Interval <= 0 {
		opt.Interval = DefaultStoryboardInterval
	}
	if opt.Width <= 0 {
		opt.Width = DefaultStoryboardWidth
	}
	if opt.Columns <= 0 {
		opt.Columns = DefaultStoryboardColumns
	}
	if opt.Rows <= 0 {
		opt.Rows = DefaultStoryboardRows
	}
	return opt
}

// newStoryboard plans a storyboard for a top rung of w x h (square pixels)
// and an input of duration seconds (0 = unknown).
func newStoryboard(opt StoryboardOptions, sink Sink, w, h int, duration float64) *storyboard {
	opt = storyboardDefaults(opt)
	if duration > 0 && duration/opt.Interval > maxStoryboardThumbs {
		opt.Interval = math.Ceil(duration / maxStoryboardThumbs)
	}
	tw := min(opt.Width, w) &^ 1
	th := int(math.Round(float64(tw)*float64(h)/float64(w))) &^ 1
	return &storyboard{spriteSheets: spriteSheets{opt: opt, sink: sink, tileW: max(tw, 2), tileH: max(th, 2)}}
}

// window limits the storyboard to the thumbnails whose instants fall in
// [from, to) (a chunk, chunk.go): they go left to right into one strip,
// written as PNG under name once the last is placed (or by writeSheet).
func (s *storyboard) window(from, to float64, name string) {
	s.first = int(math.Ceil(from/s.opt.Interval - eps))
	s.stop = max(int(math.Ceil(to/s.opt.Interval-eps)), s.first)
	s.n, s.next, s.strip = s.first, float64(s.first)*s.opt.Interval, name
	s.opt.Columns, s.opt.Rows = max(s.stop-s.first, 1), 1
	if s.stop == s.first {
		s.next = math.Inf(1) // no instant in the window
	}
}

func (s *storyboard) free() {
	if s.g != nil {
		s.g.free()
		s.g = nil
	}
	if s.out != nil {
		s.out.Free()
		s.out = nil
	}
}

// frame offers one decoded frame at sec seconds; it becomes the thumbnail of
// every interval instant it is the first frame at or after.
func (s *storyboard) frame(f *astiav.Frame, tb astiav.Rational, sec float64) error {
	if sec < s.next-eps {
		return nil
	}
	if s.g == nil {
		g, err := newVideoGraph(fmt.Sprintf("scale=w=%d:h=%d:flags=bilinear,setsar=1,format=yuv420p", s.tileW, s.tileH), videoSrc{
			width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat(), timeBase: tb, sar: f.SampleAspectRatio(),
		}, 1)
		if err != nil {
			return fmt.Errorf("storyboard filter: %w", err)
		}
		s.g = g
		s.out = astiav.AllocFrame()
		s.tile = image.NewYCbCr(image.Rect(0, 0, s.tileW, s.tileH), image.YCbCrSubsampleRatio420)
	}
	ref := astiav.AllocFrame()
	defer ref.Free()
	if err := ref.Ref(f); err != nil {
		return fmt.Errorf("storyboard frame: %w", err)
	}
	if err := s.g.push(ref); err != nil {
		return fmt.Errorf("storyboard: %w", err)
	}
	got := false
	err := s.g.drain(s.out, func(o *astiav.Frame) error {
		// Packed planes (align 1): Y, then Cb and Cr at half size. (go-astiav's
		// FrameData.ToImage reads chroma planes at full height: past the end.)
		n, err := o.ImageBufferSize(1)
		if err != nil || n != len(s.tile.Y)+len(s.tile.Cb)+len(s.tile.Cr) {
			return fmt.Errorf("storyboard tile: %d bytes for a %dx%d 4:2:0 picture: %v", n, s.tileW, s.tileH, err)
		}
		if cap(s.buf) < n {
			s.buf = make([]byte, n)
		}
		if _, err := o.ImageCopyToBuffer(s.buf[:n], 1); err != nil {
			return fmt.Errorf("storyboard tile: %w", err)
		}
		b := s.buf[:n]
		b = b[copy(s.tile.Y, b):]
		b = b[copy(s.tile.Cb, b):]
		copy(s.tile.Cr, b)
		got = true
		return nil
	})
	if err != nil || !got {
		return err
	}
	for sec >= s.next-eps {
		if err := s.place(s.tile); err != nil {
			return err
		}
		s.next = float64(s.n) * s.opt.Interval
		if s.strip != "" && s.n >= s.stop {
			s.next = math.Inf(1)
		}
	}
	return nil
}

// spriteSheets packs thumbnails (tileW x tileH, 4:2:0), left to right and
// top to bottom, into sprite sheets of opt.Columns x opt.Rows tiles; each
// sheet is written through the sink as sprite-N.jpg as soon as it is full,
// the last one by finish, which also writes the WebVTT index. The single
// pass's storyboard and FinishChunks (from the chunks' strips) both pack
// through it, so their sheets and cues are laid out alike.
type spriteSheets struct {
	opt          StoryboardOptions // Interval, Columns and Rows used
	sink         Sink
	tileW, tileH int
	sheet        *image.YCbCr
	inSheet      int // tiles placed in the current sheet
	n            int // thumbnails placed
	sprites      []string
	// strip, when set, is a chunk's share (storyboard.window): its one
	// sheet is written under this name as PNG, lossless, so the finish can
	// cut and re-encode its tiles without a second generation of JPEG loss.
	strip string
}

// place copies tile (tileW x tileH) into the next free cell.
func (s *spriteSheets) place(tile *image.YCbCr) error {
	per := s.opt.Columns * s.opt.Rows
	if s.sheet == nil {
		s.sheet = image.NewYCbCr(image.Rect(0, 0, s.opt.Columns*s.tileW, s.opt.Rows*s.tileH), image.YCbCrSubsampleRatio420)
		fillBlack(s.sheet)
	}
	x, y := (s.inSheet%s.opt.Columns)*s.tileW, (s.inSheet/s.opt.Columns)*s.tileH
	for r := 0; r < s.tileH; r++ {
		copy(s.sheet.Y[(y+r)*s.sheet.YStride+x:], tile.Y[r*tile.YStride:r*tile.YStride+s.tileW])
	}
	for r := 0; r < s.tileH/2; r++ {
		d := (y/2+r)*s.sheet.CStride + x/2
		o := r * tile.CStride
		copy(s.sheet.Cb[d:], tile.Cb[o:o+s.tileW/2])
		copy(s.sheet.Cr[d:], tile.Cr[o:o+s.tileW/2])
	}
	s.inSheet++
	s.n++
	if s.inSheet == per {
		return s.writeSheet()
	}
	return nil
}

func fillBlack(m *image.YCbCr) {
	for i := range m.Y {
		m.Y[i] = 16
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = 128, 128
	}
}

// writeSheet encodes the current sheet, cropped to the rows in use.
func (s *spriteSheets) writeSheet() error {
	if s.sheet == nil || s.inSheet == 0 {
		return nil
	}
	rows := (s.inSheet + s.opt.Columns - 1) / s.opt.Columns
	img := s.sheet.SubImage(image.Rect(0, 0, s.opt.Columns*s.tileW, rows*s.tileH))
	var buf bytes.Buffer
	name := fmt.Sprintf("sprite-%d.jpg", len(s.sprites))
	var err error
	if s.strip != "" {
		name = s.strip
		err = png.Encode(&buf, s.sheet.SubImage(image.Rect(0, 0, s.inSheet*s.tileW, s.tileH)))
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: storyboardJPEGQuality})
	}
	if err != nil {
		return fmt.Errorf("storyboard sprite: %w", err)
	}
	if err := writeFile(s.sink, name, buf.Bytes()); err != nil {
		return err
	}
	s.sprites = append(s.sprites, name)
	s.sheet, s.inSheet = nil, 0
	return nil
}

// finish writes the last, partly filled sprite and the WebVTT index whose
// cues run back to back from 0 to duration.
func (s *spriteSheets) finish(duration float64) (*StoryboardResult, error) {
	if err := s.writeSheet(); err != nil {
		return nil, err
	}
	if s.n == 0 {
		return nil, nil
	}
	per := s.opt.Columns * s.opt.Rows
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for i := 0; i < s.n; i++ {
		start := float64(i) * s.opt.Interval
		if i > 0 && start >= duration-eps {
			break
		}
		end := math.Min(float64(i+1)*s.opt.Interval, duration)
		if i == s.n-1 {
			end = duration
		}
		end = math.Max(end, start+0.001)
		cell := i % per
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end),
			s.sprites[i/per], (cell%s.opt.Columns)*s.tileW, (cell/s.opt.Columns)*s.tileH, s.tileW, s.tileH)
	}
	if err := writeFile(s.sink, StoryboardName, []byte(b.String())); err != nil {
		return nil, err
	}
	return &StoryboardResult{
		VTT: StoryboardName, Sprites: s.sprites, Interval: s.opt.Interval, TileWidth: s.tileW, TileHeight: s.tileH,
		Columns: s.opt.Columns, Rows: s.opt.Rows, Thumbnails: s.n,
	}, nil
}

// vttTime formats seconds as a WebVTT timestamp, hh:mm:ss.ttt.
func vttTime(sec float64) string {
	ms := int64(math.Round(sec * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}
