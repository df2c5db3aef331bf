package pipeline

// The prep graph: the pre-processing done once on the decoded frames before
// the ladder fans out (deinterlacing, rotation, HDR to SDR).

import (
	"context"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"
)

// prepFilter is the shared pre-processing done once before the ladder fans
// out: deinterlacing (only frames flagged interlaced are touched), rotation
// per the display matrix, and HDR to SDR tone mapping.
func prepFilter(vi *VideoInfo) string {
	var parts []string
	switch vi.Rotation {
	case 90:
		parts = append(parts, "transpose=clock")
	case 180:
		parts = append(parts, "hflip,vflip")
	case 270:
		parts = append(parts, "transpose=cclock")
	}
	if vi.HDR {
		parts = append(parts, "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p")
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ",")
}

// openPrep sets up the prep graph on the first decoded frame: the planned
// filters (prepFilter) with bwdif before them when the frame is interlaced.
// With nothing to do there is no graph and frames go to the renditions as
// decoded. Either way the renditions learn the time base of the frames they
// will be sent.
func (t *transcode) openPrep(f *astiav.Frame) error {
	st := t.in.video
	spec := t.prepSpec
	if frameInterlaced(f.UnsafePointer()) {
		deint := "bwdif=mode=send_frame:parity=auto:deint=interlaced"
		if spec == "" {
			spec = deint
		} else {
			spec = deint + "," + spec
		}
	}
	t.prepTB = st.TimeBase()
	if spec != "" {
		g, err := newVideoGraph(spec, videoSrc{
			width: f.Width(), height: f.Height(), pixFmt: f.PixelFormat(),
			timeBase: st.TimeBase(), sar: f.SampleAspectRatio(), frameRate: t.in.info.Video.fps,
		}, 1)
		if err != nil {
			return fmt.Errorf("video pre-processing: %w", err)
		}
		t.prep = g
		t.prepTB = g.timeBase()
		t.log.Debug("video pre-processing", zap.String("filter", spec))
	}
	for _, w := range t.videos {
		if w.parent == nil {
			w.srcTB = t.prepTB
			w.srcRate = t.in.info.Video.fps
			w.pktTB = st.TimeBase()
		}
	}
	return nil
}

// flushPrep drains what the prep graph still holds at the end of the input.
func (t *transcode) flushPrep(ctx context.Context, f *astiav.Frame) error {
	if t.prep == nil {
		return nil
	}
	if err := t.prep.push(nil); err != nil {
		return err
	}
	return t.prep.drain(f, func(o *astiav.Frame) error { return t.fanOut(ctx, o) })
}
