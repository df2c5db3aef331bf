package pipeline

// Opening an input: a local file or a seekable reader behind a custom
// AVIOContext, checked against the Limits and described (Info) before any
// decoder opens.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/asticode/go-astiav"
)

// Source is where an input comes from: a local file, or any seekable
// reader (storage range reads, so a source is not downloaded first).
type Source struct {
	Path   string        // local file, used when Reader is nil
	Reader io.ReadSeeker // read through a custom AVIOContext
	Size   int64         // bytes behind Reader
	Name   string        // how messages name the input (a URL); default Path
}

func (s Source) name() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Path
}

// input is an opened, validated demuxer.
type input struct {
	fc     *astiav.FormatContext
	ioc    *astiav.IOContext // custom IO over a Source.Reader, else nil
	ioErr  error             // the reader's last error: a storage fault, not the input's
	info   *Info
	video  *astiav.Stream
	audios []*astiav.Stream
	start  int64 // container start time in AV_TIME_BASE units (0 when unknown)
}

func (in *input) close() {
	if in.fc != nil {
		in.fc.CloseInput()
		in.fc.Free()
		in.fc = nil
	}
	if in.ioc != nil {
		in.ioc.Free()
		in.ioc = nil
	}
}

// readFunc feeds libavformat from r. A read error is kept so that it is
// reported as the storage fault it is, not as a corrupt input.
func (in *input) readFunc(r io.Reader) astiav.IOContextReadFunc {
	return func(b []byte) (int, error) {
		n, err := r.Read(b)
		if n > 0 {
			return n, nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			return 0, astiav.ErrEof
		}
		in.ioErr = err
		return 0, astiav.ErrEio
	}
}

func (in *input) seekFunc(r io.Seeker, size int64) astiav.IOContextSeekFunc {
	return func(offset int64, whence int) (int64, error) {
		if whence&avseekSize != 0 {
			return size, nil
		}
		n, err := r.Seek(offset, whence&^avseekForce)
		if err != nil {
			in.ioErr = err
			return 0, astiav.ErrEio
		}
		return n, nil
	}
}

// avseekSize and avseekForce are libavformat's seek "whence" extensions.
const (
	avseekSize  = 0x10000
	avseekForce = 0x20000
)

func openSource(src Source, lim Limits) (*input, error) {
	name := src.name()
	size := src.Size
	if src.Reader == nil {
		st, err := os.Stat(src.Path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				return nil, inputErr(ErrNotMedia, "cannot read %s: %v", name, unwrapPathErr(err))
			}
			return nil, fmt.Errorf("stat input: %w", err)
		}
		if st.IsDir() {
			return nil, inputErr(ErrNotMedia, "%s is a directory", name)
		}
		size = st.Size()
	}
	if size == 0 {
		return nil, inputErr(ErrEmpty, "%s has 0 bytes", name)
	}
	if lim.MaxInputBytes > 0 && size > lim.MaxInputBytes {
		return nil, inputErr(ErrTooLarge, "%s is %d bytes, over the %d byte limit", name, size, lim.MaxInputBytes)
	}

	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, errors.New("allocating format context failed")
	}
	in := &input{}
	url := src.Path
	if src.Reader != nil {
		ioc, err := astiav.AllocIOContext(256<<10, false, in.readFunc(src.Reader), in.seekFunc(src.Reader, size), nil)
		if err != nil {
			fc.Free()
			return nil, fmt.Errorf("input io: %w", err)
		}
		in.ioc = ioc
		fc.SetPb(ioc)
		url = ""
	}
	if err := fc.OpenInput(url, nil, nil); err != nil {
		// avformat_open_input frees the context on failure.
		in.close()
		if in.ioErr != nil {
			return nil, fmt.Errorf("reading %s: %w", name, in.ioErr)
		}
		return nil, inputErr(ErrNotMedia, "cannot open %s as media: %v", name, err)
	}
	in.fc = fc
	ok := false
	defer func() {
		if !ok {
			in.close()
		}
	}()
	if err := fc.FindStreamInfo(nil); err != nil {
		if in.ioErr != nil {
			return nil, fmt.Errorf("reading %s: %w", name, in.ioErr)
		}
		return nil, inputErr(ErrCorrupt, "cannot read stream information: %v", err)
	}

	info := &Info{Size: size, BitRate: fc.BitRate()}
	if f := fc.InputFormat(); f != nil {
		info.Container = f.Name()
	}
	if d := fc.Duration(); d > 0 {
		info.Duration = float64(d) / 1e6
	}
	if s := fc.StartTime(); s != noPTS {
		in.start = s
	}
	var videoCandidates []*astiav.Stream
	for _, s := range fc.Streams() {
		cp := s.CodecParameters()
		info.Streams = append(info.Streams, StreamInfo{Index: s.Index(), Type: cp.MediaType().String(), Codec: cp.CodecID().Name()})
		switch cp.MediaType() {
		case astiav.MediaTypeVideo:
			if astiav.FindDecoder(cp.CodecID()) != nil {
				videoCandidates = append(videoCandidates, s)
			}
		case astiav.MediaTypeAudio:
			if astiav.FindDecoder(cp.CodecID()) != nil && cp.SampleRate() > 0 {
				in.audios = append(in.audios, s)
			}
		}
	}
	in.video = pickVideo(videoCandidates, len(in.audios) > 0)
	if in.video == nil && len(in.audios) == 0 {
		if len(fc.Streams()) == 0 {
			return nil, inputErr(ErrNotMedia, "%s contains no audio or video streams", name)
		}
		return nil, inputErr(ErrNoStream, "none of the %d streams in %s can be decoded", len(fc.Streams()), name)
	}
	if in.video != nil {
		vi, err := describeVideo(in.video, fc, lim)
		if err != nil {
			return nil, err
		}
		info.Video = vi
		info.Streams[vi.Index].Used = true
	}
	for i, a := range in.audios {
		cp := a.CodecParameters()
		ai := AudioInfo{Index: a.Index(), Codec: cp.CodecID().Name(), SampleRate: cp.SampleRate(), Channels: cp.ChannelLayout().NbChannels()}
		if ai.Channels == 0 {
			ai.Channels = cp.Channels()
		}
		if cp.ChannelLayout().Valid() {
			ai.Layout = cp.ChannelLayout().String()
		}
		if md := a.Metadata(); md != nil {
			if e := md.Get("language", nil, 0); e != nil {
				ai.Language = e.Value()
			}
		}
		if ai.Channels <= 0 {
			return nil, inputErr(ErrCorrupt, "audio stream %d declares no channels", a.Index())
		}
		info.Audio = append(info.Audio, ai)
		if i == 0 || lim.AllAudioTracks {
			info.Streams[a.Index()].Used = true
		}
	}
	if info.Duration <= 0 {
		info.Duration = longestStreamDuration(fc)
	}
	if info.Duration > lim.maxDur() {
		return nil, inputErr(ErrTooLong, "duration %.1f s is over the %.0f s limit", info.Duration, lim.maxDur())
	}
	in.info = info
	ok = true
	return in, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
