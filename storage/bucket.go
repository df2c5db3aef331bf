package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// DefaultReadAhead is how many bytes a seeker from Bucket.OpenSeeker fetches
// per request: small reads (libav asks for 32 KiB at a time) are served from
// this buffer instead of each making a request.
const DefaultReadAhead = 4 << 20

// Bucket is the portable storage type every caller uses. It validates keys,
// fills in content types, wraps errors with the operation and key, and builds
// whole-object reads and writes, seekable readers and downloads on top of a
// Driver. A Bucket is safe for concurrent use.
type Bucket struct {
	drv       Driver
	desc      string // for error messages: the URL or driver name
	readAhead int
}

// NewBucket returns a Bucket over drv. Most callers use Open instead.
func NewBucket(drv Driver) *Bucket {
	return &Bucket{drv: drv, desc: fmt.Sprintf("%T", drv), readAhead: DefaultReadAhead}
}

// Open opens the bucket named by rawURL:
//
//   - "file:///abs/dir" (or a plain absolute or relative path): the file
//     driver rooted at that directory, which is created if missing.
//   - "s3://bucket" or "s3://bucket/some/prefix": the s3 driver; the prefix,
//     when given, is joined to every key (and stripped from listed keys).
//     Region, credentials and endpoint come from the standard AWS
//     configuration (AWS_REGION, default us-east-1; AWS_ENDPOINT_URL_S3 for
//     an S3-compatible service); HLSFLEET_S3_PATH_STYLE=true selects
//     path-style addressing.
//
// Any other scheme is an error.
func Open(ctx context.Context, rawURL string) (*Bucket, error) {
	if !strings.Contains(rawURL, "://") {
		if rawURL == "" {
			return nil, errors.New("storage: empty location")
		}
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return nil, fmt.Errorf("storage: %q: %w", rawURL, err)
		}
		return openFile(abs, rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("storage: %q: query and fragment are not supported", rawURL)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("storage: %q: a file URL names a local directory (file:///abs/dir)", rawURL)
		}
		if !path.IsAbs(u.Path) {
			return nil, fmt.Errorf("storage: %q: the directory must be absolute (file:///abs/dir)", rawURL)
		}
		return openFile(filepath.FromSlash(u.Path), rawURL)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("storage: %q: no bucket name (s3://bucket/prefix)", rawURL)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			if err := ValidateKey(prefix); err != nil {
				return nil, fmt.Errorf("storage: %q: bad prefix: %w", rawURL, err)
			}
		}
		drv, err := newS3Driver(ctx, u.Host, prefix)
		if err != nil {
			return nil, fmt.Errorf("storage: %q: %w", rawURL, err)
		}
		b := NewBucket(drv)
		b.desc = rawURL
		return b, nil
	default:
		return nil, fmt.Errorf("storage: %q: unknown scheme %q (want file:// or s3://)", rawURL, u.Scheme)
	}
}

func openFile(dir, desc string) (*Bucket, error) {
	drv, err := NewFileDriver(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %q: %w", desc, err)
	}
	b := NewBucket(drv)
	b.desc = desc
	return b, nil
}

// String returns the location the bucket was opened from.
func (b *Bucket) String() string { return b.desc }

// ValidateKey reports whether key is a well-formed object key; the error
// wraps ErrInvalidKey and says why. See the package documentation for the
// rules.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w %q: ends with /", ErrInvalidKey, key)
	}
	return validatePrefix(key)
}

// validatePrefix checks a list prefix: like a key, but it may be empty and
// may end with "/".
func validatePrefix(p string) error {
	if len(p) > 1024 {
		return fmt.Errorf("%w: longer than 1024 bytes", ErrInvalidKey)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidKey, p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, p)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w %q: starts with /", ErrInvalidKey, p)
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch s {
		case "":
			if i == len(segs)-1 && i > 0 { // trailing "/" of a prefix
				continue
			}
			if p == "" {
				return nil
			}
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, p)
		case ".", "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, p, s)
		}
	}
	return nil
}

// ContentType returns the MIME type hlsfleet stores for key, chosen by its
// extension: playlists, MPEG-TS and fMP4 segments, MP4, JPEG, JSON, WebVTT;
// "application/octet-stream" for anything else.
func ContentType(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4", ".m4v":
		return "video/mp4"
	case ".m4a":
		return "audio/mp4"
	case ".aac":
		return "audio/aac"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".json":
		return "application/json"
	case ".vtt":
		return "text/vtt"
	default:
		return "application/octet-stream"
	}
}

// keyError wraps err with the operation and key. errors.Is and errors.As see
// through it.
func (b *Bucket) keyError(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storage: %s %q in %s: %w", op, key, b.desc, err)
}

// NewRangeReader opens key for reading length bytes from offset (length -1:
// to the end); see Driver.NewRangeReader for the contract. The caller must
// Close the reader.
func (b *Bucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (Reader, error) {
	if err := ValidateKey(key); err != nil {
		return nil, b.keyError("read", key, err)
	}
	if offset < 0 || length < -1 {
		return nil, b.keyError("read", key, fmt.Errorf("bad range: offset %d, length %d", offset, length))
	}
	r, err := b.drv.NewRangeReader(ctx, key, offset, length)
	if err != nil {
		return nil, b.keyError("read", key, err)
	}
	return &wrapReader{Reader: r, b: b, key: key}, nil
}

type wrapReader struct {
	Reader
	b   *Bucket
	key string
}

func (r *wrapReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.keyError("read", r.key, err)
	}
	return n, err
}

// NewReader opens the whole object for reading. The caller must Close it.
func (b *Bucket) NewReader(ctx context.Context, key string) (Reader, error) {
	return b.NewRangeReader(ctx, key, 0, -1)
}

// ReadAll returns the object's contents.
func (b *Bucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	data, _, err := b.ReadAllAttrs(ctx, key)
	return data, err
}

// ReadAllAttrs returns the object's contents together with the attributes of
// exactly the version read; its ETag is the one to pass to IfMatch for a
// read-modify-write.
func (b *Bucket) ReadAllAttrs(ctx context.Context, key string) ([]byte, Attrs, error) {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, Attrs{}, err
	}
	defer r.Close()
	a := r.Attrs()
	var buf bytes.Buffer
	if a.Size > 0 && a.Size < 1<<30 {
		buf.Grow(int(a.Size))
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, Attrs{}, err
	}
	return buf.Bytes(), a, nil
}

// Stat returns the object's attributes; a missing key gives ErrNotExist.
func (b *Bucket) Stat(ctx context.Context, key string) (Attrs, error) {
	if err := ValidateKey(key); err != nil {
		return Attrs{}, b.keyError("stat", key, err)
	}
	a, err := b.drv.Stat(ctx, key)
	return a, b.keyError("stat", key, err)
}

// Exists reports whether key has an object.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	_, err := b.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// NewWriter starts writing key; see Writer for how publishing works. An empty
// opts.ContentType is filled in with ContentType(key).
func (b *Bucket) NewWriter(ctx context.Context, key string, opts WriterOptions) (Writer, error) {
	if err := ValidateKey(key); err != nil {
		return nil, b.keyError("write", key, err)
	}
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return nil, b.keyError("write", key, errors.New("IfNoneMatch and IfMatch cannot be combined"))
	}
	if opts.ContentType == "" {
		opts.ContentType = ContentType(key)
	}
	w, err := b.drv.NewWriter(ctx, key, opts)
	if err != nil {
		return nil, b.keyError("write", key, err)
	}
	return &wrapWriter{w: w, b: b, key: key}, nil
}

type wrapWriter struct {
	w   Writer
	b   *Bucket
	key string
}

func (w *wrapWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	return n, w.b.keyError("write", w.key, err)
}

func (w *wrapWriter) Close() error { return w.b.keyError("write", w.key, w.w.Close()) }
func (w *wrapWriter) Abort() error { return w.b.keyError("abort write", w.key, w.w.Abort()) }

// WriteAll writes data as the object key, with the conditional options of
// opts; it returns ErrExists or ErrPrecondition when a conditional write
// loses.
func (b *Bucket) WriteAll(ctx context.Context, key string, data []byte, opts WriterOptions) error {
	w, err := b.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Abort()
		return err
	}
	return w.Close()
}

// List returns every object whose key starts with prefix ("" for all),
// sorted by key. The prefix follows the key rules except that it may be
// empty or end with "/".
func (b *Bucket) List(ctx context.Context, prefix string) ([]Attrs, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, b.keyError("list", prefix, err)
	}
	as, err := b.drv.List(ctx, prefix)
	return as, b.keyError("list", prefix, err)
}

// Delete removes key; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return b.keyError("delete", key, err)
	}
	return b.keyError("delete", key, b.drv.Delete(ctx, key))
}

// Close releases the bucket's driver.
func (b *Bucket) Close() error { return b.drv.Close() }

// Download copies the object to localPath, atomically: the data goes to a
// temporary file in localPath's directory, renamed over localPath only when
// the whole object arrived. On error localPath is left as it was.
func (b *Bucket) Download(ctx context.Context, key, localPath string) (err error) {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	dir := filepath.Dir(localPath)
	f, err := os.CreateTemp(dir, "."+filepath.Base(localPath)+".part-*")
	if err != nil {
		return b.keyError("download", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.CopyBuffer(f, r, make([]byte, 1<<20))
	if err != nil {
		return b.keyError("download", key, err)
	}
	if want := r.Attrs().Size; n != want {
		return b.keyError("download", key, fmt.Errorf("got %d bytes, object has %d", n, want))
	}
	if err = f.Close(); err != nil {
		return b.keyError("download", key, err)
	}
	if err = os.Rename(f.Name(), localPath); err != nil {
		return b.keyError("download", key, err)
	}
	return nil
}

// OpenSeeker opens key for random access without downloading it: reads are
// served from a read-ahead buffer (DefaultReadAhead bytes) filled by range
// reads, so many small sequential reads cost one request per buffer. It
// returns the reader and the object's size. The reader also implements
// io.ReaderAt (each ReadAt is its own range read and is safe to call
// concurrently). If the object is replaced while being read, reads fail with
// an error matching ErrPrecondition rather than mixing two versions.
// The caller must Close it.
func (b *Bucket) OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, b.keyError("open", key, err)
	}
	s := &seeker{ctx: ctx, b: b, key: key, ra: b.readAhead}
	// The first fill tells the size and ETag; it is kept as read-ahead.
	if err := s.fill(0, s.ra); err != nil {
		return nil, 0, err
	}
	return s, s.size, nil
}

type seeker struct {
	ctx    context.Context
	b      *Bucket
	key    string
	ra     int
	size   int64
	etag   string
	pos    int64
	buf    []byte
	bufOff int64 // object offset of buf[0]
	closed bool
}

// rangeRead reads [off, off+n) into p[:n], checking the version.
func (s *seeker) rangeRead(p []byte, off int64) (int, error) {
	r, err := s.b.NewRangeReader(s.ctx, s.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	a := r.Attrs()
	if s.etag == "" {
		s.etag, s.size = a.ETag, a.Size
	} else if a.ETag != s.etag {
		return 0, s.b.keyError("read", s.key, fmt.Errorf("object replaced while being read: %w", ErrPrecondition))
	}
	n, err := io.ReadFull(r, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return n, err
}

func (s *seeker) fill(off int64, n int) error {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	got, err := s.rangeRead(s.buf, off)
	s.buf, s.bufOff = s.buf[:got], off
	return err
}

func (s *seeker) Read(p []byte) (int, error) {
	if s.closed {
		return 0, os.ErrClosed
	}
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.pos < s.bufOff || s.pos >= s.bufOff+int64(len(s.buf)) {
		if len(p) >= s.ra { // large reads bypass the buffer
			rem := s.size - s.pos
			if int64(len(p)) > rem {
				p = p[:rem]
			}
			n, err := s.rangeRead(p, s.pos)
			s.pos += int64(n)
			if err == nil && n == 0 {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		if err := s.fill(s.pos, s.ra); err != nil {
			return 0, err
		}
		if len(s.buf) == 0 { // object shrank under us: cannot happen with a stable ETag
			return 0, io.ErrUnexpectedEOF
		}
	}
	n := copy(p, s.buf[s.pos-s.bufOff:])
	s.pos += int64(n)
	return n, nil
}

func (s *seeker) Seek(offset int64, whence int) (int64, error) {
	if s.closed {
		return 0, os.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.pos + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, fmt.Errorf("storage: seek %q: bad whence %d", s.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("storage: seek %q: negative position %d", s.key, abs)
	}
	s.pos = abs
	return abs, nil
}

// ReadAt implements io.ReaderAt with one range read per call.
func (s *seeker) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("storage: read %q: negative offset %d", s.key, off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := s.size - off; int64(want) > rem {
		want = int(rem)
	}
	r, err := s.b.NewRangeReader(s.ctx, s.key, off, int64(want))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if r.Attrs().ETag != s.etag {
		return 0, s.b.keyError("read", s.key, fmt.Errorf("object replaced while being read: %w", ErrPrecondition))
	}
	n, err := io.ReadFull(r, p[:want])
	if err == nil && want < len(p) {
		err = io.EOF
	}
	return n, err
}

func (s *seeker) Close() error {
	s.closed = true
	s.buf = nil
	return nil
}

// DownloadAll copies every object under prefix into dir, keeping the keys'
// folders (key "720p/a/seg.ts" becomes dir/720p/a/seg.ts), each with
// Download.
func (b *Bucket) DownloadAll(ctx context.Context, prefix, dir string) error {
	objs, err := b.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		dst := filepath.Join(dir, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := b.Download(ctx, o.Key, dst); err != nil {
			return err
		}
	}
	return nil
}
