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

// openSource opens src, checks it against lim and describes it (in.info);
// the caller closes the input. Errors wrapping ErrInput are the input's
// fault; a failed read of src.Reader is the storage fault it is.
func openSource(src Source, lim Limits) (*input, error) {
	name := src.name()
	size, err := sourceSize(src, name, lim)
	if err != nil {
		return nil, err
	}
	in, err := openFormat(src, name, size)
	if err != nil {
		return nil, err
	}
	if err := in.describe(name, size, lim); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

// sourceSize is the input's size in bytes (a local file's from stat),
// refused when empty or over lim.MaxInputBytes.
func sourceSize(src Source, name string, lim Limits) (int64, error) {
	size := src.Size
	if src.Reader == nil {
		st, err := os.Stat(src.Path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				return 0, inputErr(ErrNotMedia, "cannot read %s: %v", name, unwrapPathErr(err))
			}
			return 0, fmt.Errorf("stat input: %w", err)
		}
		if st.IsDir() {
			return 0, inputErr(ErrNotMedia, "%s is a directory", name)
		}
		size = st.Size()
	}
	if size == 0 {
		return 0, inputErr(ErrEmpty, "%s has 0 bytes", name)
	}
	if lim.MaxInputBytes > 0 && size > lim.MaxInputBytes {
		return 0, inputErr(ErrTooLarge, "%s is %d bytes, over the %d byte limit", name, size, lim.MaxInputBytes)
	}
	return size, nil
}

// openFormat opens the demuxer, through custom IO over src.Reader when it
// is set, and reads the streams' parameters.
func openFormat(src Source, name string, size int64) (*input, error) {
	in := &input{}
	var err error
	if src.Reader != nil {
		err = in.open("", src.Reader, in.seekFunc(src.Reader, size), name)
	} else {
		err = in.open(src.Path, nil, nil, name)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

// open opens the demuxer on url, or through custom IO over r when r is set
// (seek nil: a stream read once, front to back), and reads the streams'
// parameters. On failure everything is freed.
func (in *input) open(url string, r io.Reader, seek astiav.IOContextSeekFunc, name string) error {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return errors.New("allocating format context failed")
	}
	if r != nil {
		ioc, err := astiav.AllocIOContext(256<<10, false, in.readFunc(r), seek, nil)
		if err != nil {
			fc.Free()
			return fmt.Errorf("input io: %w", err)
		}
		in.ioc = ioc
		fc.SetPb(ioc)
		url = ""
	}
	if err := fc.OpenInput(url, nil, nil); err != nil {
		// avformat_open_input frees the context on failure.
		in.close()
		return in.readFault(name, inputErr(ErrNotMedia, "cannot open %s as media: %v", name, err))
	}
	in.fc = fc
	if err := fc.FindStreamInfo(nil); err != nil {
		in.close()
		return in.readFault(name, inputErr(ErrCorrupt, "cannot read stream information: %v", err))
	}
	return nil
}

// readFault is the reader's error when a read failed (a storage fault, not
// the input's), else err.
func (in *input) readFault(name string, err error) error {
	if in.ioErr != nil {
		return fmt.Errorf("reading %s: %w", name, in.ioErr)
	}
	return err
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
