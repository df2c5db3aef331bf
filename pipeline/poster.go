package pipeline

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// posterQuality is the JPEG quantiser scale (2 best .. 31 worst).
const posterQuality = 3

// encodePoster turns the frame kept at 10% of the duration into a JPEG the
// size of the top rendition, with square pixels.
func (t *transcode) encodePoster() error {
	if t.poster == nil || len(t.outs) == 0 {
		return nil
	}
	if err := t.posterToSystem(); err != nil {
		return err
	}
	o := t.outs[0]
	g, err := newVideoGraph(fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuvj420p", o.Width, o.Height), videoSrc{
		width: t.poster.Width(), height: t.poster.Height(), pixFmt: t.poster.PixelFormat(),
		timeBase: t.posterTB, sar: t.poster.SampleAspectRatio(),
	}, 1)
	if err != nil {
		return fmt.Errorf("poster filter: %w", err)
	}
	defer g.free()
	codec := astiav.FindEncoderByName("mjpeg")
	if codec == nil {
		return fmt.Errorf("%w: mjpeg", ErrNoEncoder)
	}
	enc := astiav.AllocCodecContext(codec)
	defer enc.Free()
	enc.SetWidth(o.Width)
	enc.SetHeight(o.Height)
	enc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	enc.SetTimeBase(astiav.NewRational(1, 25))
	enc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	enc.SetFlags(enc.Flags().Add(astiav.CodecContextFlagQscale))
	if err := enc.Open(codec, nil); err != nil {
		return fmt.Errorf("opening the mjpeg encoder: %w", err)
	}
	if err := g.push(t.poster); err != nil {
		return err
	}
	if err := g.push(nil); err != nil {
		return err
	}
	out := astiav.AllocFrame()
	defer out.Free()
	err = g.drain(out, func(f *astiav.Frame) error {
		if t.posterBytes != nil {
			return nil
		}
		f.SetPts(0)
		frameSetQuality(f.UnsafePointer(), posterQuality*118) // FF_QP2LAMBDA
		if err := enc.SendFrame(f); err != nil {
			return fmt.Errorf("encoding poster: %w", err)
		}
		if err := enc.SendFrame(nil); err != nil {
			return fmt.Errorf("encoding poster: %w", err)
		}
		p := astiav.AllocPacket()
		defer p.Free()
		if err := enc.ReceivePacket(p); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("encoding poster: %w", err)
		}
		t.posterBytes = append([]byte(nil), p.Data()...)
		return nil
	})
	return err
}
