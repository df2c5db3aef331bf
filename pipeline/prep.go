package pipeline

// The prep graph: the pre-processing done once on the decoded frames before
// the ladder fans out (deinterlacing, rotation, HDR to SDR).

import (
	"context"
	"strings"

	"github.com/asticode/go-astiav"
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

func (t *transcode) flushPrep(ctx context.Context, f *astiav.Frame) error {
	if t.prep == nil {
		return nil
	}
	if err := t.prep.push(nil); err != nil {
		return err
	}
	return t.prep.drain(f, func(o *astiav.Frame) error { return t.fanOut(ctx, o) })
}
