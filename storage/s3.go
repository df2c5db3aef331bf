package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
)

// S3PartSize is the part size of multipart uploads: objects up to this size
// are sent with one PutObject, larger ones as parts of this size.
const S3PartSize = 8 << 20

// s3Driver stores objects in one S3 bucket, under an optional key prefix.
//
// Writers stream through an io.Pipe into the SDK's upload manager, which
// sends objects up to S3PartSize with one PutObject and larger ones as a
// multipart upload; the conditional headers (If-None-Match: *, If-Match)
// travel on the PutObject or on CompleteMultipartUpload, which is where S3
// publishes the object. Abort fails the pipe, so the manager sends nothing
// (or aborts the multipart upload) and no object appears.
type s3Driver struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends with "/"
}

// s3Clients holds the process's S3 clients, one per addressing style, so
// that every Open of an s3:// URL shares one client: its connection pool,
// and the credentials cache of the one AWS configuration (awsconf).
var s3Clients struct {
	mu sync.Mutex
	c  [2]*s3.Client // [0] virtual-hosted, [1] path-style
}

// newS3Client returns the process's S3 client, built on first use from the
// process's AWS configuration (environment, shared config files, instance
// role). The SDK itself reads AWS_ENDPOINT_URL_S3 (and AWS_ENDPOINT_URL) for
// the endpoint; the region defaults to us-east-1; HLSFLEET_S3_PATH_STYLE=true
// selects path-style requests, which S3-compatible services on a plain
// host:port need. HLSFLEET_S3_PATH_STYLE is read on every call, so each
// style gets its own client.
func newS3Client(ctx context.Context) (*s3.Client, error) {
	pathStyle := false
	if v := os.Getenv("HLSFLEET_S3_PATH_STYLE"); v != "" {
		var err error
		pathStyle, err = strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("HLSFLEET_S3_PATH_STYLE=%q: want true or false", v)
		}
	}
	i := 0
	if pathStyle {
		i = 1
	}
	s3Clients.mu.Lock()
	defer s3Clients.mu.Unlock()
	if c := s3Clients.c[i]; c != nil {
		return c, nil
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	s3Clients.c[i] = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		// Ranged GETs carry no whole-object checksum; that is expected, not
		// worth a log line per read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return s3Clients.c[i], nil
}

func newS3Driver(ctx context.Context, bucket, prefix string) (*s3Driver, error) {
	client, err := newS3Client(ctx)
	if err != nil {
		return nil, err
	}
	return newS3DriverWithClient(client, bucket, prefix), nil
}

func newS3DriverWithClient(client *s3.Client, bucket, prefix string) *s3Driver {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	up := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = S3PartSize
		u.Concurrency = 4
	})
	return &s3Driver{client: client, uploader: up, bucket: bucket, prefix: prefix}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// httpStatus returns the HTTP status of an SDK error, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// errorCode returns the S3 error code ("NoSuchKey", ...) of an SDK error.
func errorCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotExist(err error) bool {
	if errorCode(err) == "NoSuchBucket" {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf) || errorCode(err) == "NoSuchKey" || httpStatus(err) == 404
}

// mapErr turns "missing" SDK errors into ErrNotExist (keeping the SDK error
// in the chain), "not implemented" into ErrNotSupported, and an unreachable,
// throttling or failing service into ErrUnavailable.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case isNotExist(err):
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	case httpStatus(err) == 501 || errorCode(err) == "NotImplemented":
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return unavailable(err)
}

// unavailable wraps err with ErrUnavailable when it says the service could
// not serve the request now (awsconf.Unavailable).
func unavailable(err error) error {
	if awsconf.Unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (d *s3Driver) NewRangeReader(ctx context.Context, key string, offset, length int64) (Reader, error) {
	if offset < 0 || length < -1 {
		return nil, fmt.Errorf("bad range: offset %d, length %d", offset, length)
	}
	if length == 0 {
		// S3 has no empty range ("bytes=5-4" would return the whole object).
		a, err := d.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		return &s3Reader{ReadCloser: io.NopCloser(strings.NewReader("")), attrs: a}, nil
	}
	in := &s3.GetObjectInput{Bucket: &d.bucket, Key: ptr(d.prefix + key)}
	if offset > 0 || length > 0 {
		r := fmt.Sprintf("bytes=%d-", offset)
		if length > 0 {
			r += strconv.FormatInt(offset+length-1, 10)
		}
		in.Range = &r
	}
	out, err := d.client.GetObject(ctx, in)
	if err != nil {
		if httpStatus(err) == 416 || errorCode(err) == "InvalidRange" {
			// The offset is at or past the end: an empty read of an existing
			// object.
			a, serr := d.Stat(ctx, key)
			if serr != nil {
				return nil, serr
			}
			return &s3Reader{ReadCloser: io.NopCloser(strings.NewReader("")), attrs: a}, nil
		}
		return nil, mapErr(err)
	}
	a := Attrs{
		Key:     key,
		Size:    deref(out.ContentLength),
		ETag:    deref(out.ETag),
		ModTime: deref(out.LastModified),
	}
	if in.Range != nil {
		// "bytes 0-9/100": the object's size follows the slash.
		cr := deref(out.ContentRange)
		i := strings.LastIndexByte(cr, '/')
		total, perr := strconv.ParseInt(cr[i+1:], 10, 64)
		if i < 0 || perr != nil {
			out.Body.Close()
			return nil, fmt.Errorf("range read: unexpected Content-Range %q", cr)
		}
		a.Size = total
	}
	return &s3Reader{ReadCloser: out.Body, attrs: a}, nil
}

type s3Reader struct {
	io.ReadCloser
	attrs Attrs
}

// Read reads the response body; a connection cut while reading it is
// ErrUnavailable.
func (r *s3Reader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = unavailable(err)
	}
	return n, err
}

func (r *s3Reader) Attrs() Attrs { return r.attrs }

func (d *s3Driver) Stat(ctx context.Context, key string) (Attrs, error) {
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.bucket, Key: ptr(d.prefix + key)})
	if err != nil {
		return Attrs{}, mapErr(err)
	}
	return Attrs{
		Key:     key,
		Size:    deref(out.ContentLength),
		ETag:    deref(out.ETag),
		ModTime: deref(out.LastModified),
	}, nil
}

var errAborted = errors.New("write aborted")

func (d *s3Driver) NewWriter(ctx context.Context, key string, opts WriterOptions) (Writer, error) {
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return nil, errors.New("IfNoneMatch and IfMatch cannot be combined")
	}
	in := &s3.PutObjectInput{Bucket: &d.bucket, Key: ptr(d.prefix + key)}
	if opts.ContentType != "" {
		in.ContentType = ptr(opts.ContentType)
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = ptr("*")
	}
	if opts.IfMatch != "" {
		in.IfMatch = ptr(opts.IfMatch)
	}
	pr, pw := io.Pipe()
	in.Body = pr
	w := &s3Writer{d: d, key: key, opts: opts, pw: pw, done: make(chan struct{})}
	go func() {
		_, err := d.uploader.Upload(ctx, in)
		// Unblock a Write still waiting on the pipe when the upload failed.
		pr.CloseWithError(errUploadEnded(err))
		w.err = err
		close(w.done)
	}()
	return w, nil
}

func errUploadEnded(err error) error {
	if err == nil {
		return io.ErrClosedPipe
	}
	return err
}

type s3Writer struct {
	d      *s3Driver
	key    string
	opts   WriterOptions
	pw     *io.PipeWriter
	done   chan struct{}
	err    error // the upload's result, set before done is closed
	closed bool
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	return w.pw.Write(p)
}

func (w *s3Writer) Abort() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	// The manager's read fails, so it sends no PutObject, or aborts the
	// multipart upload it started.
	w.pw.CloseWithError(errAborted)
	<-w.done
	return nil
}

func (w *s3Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	w.pw.Close()
	<-w.done
	return w.mapWriteErr(w.err)
}

// mapWriteErr turns a failed conditional upload into ErrExists or
// ErrPrecondition.
func (w *s3Writer) mapWriteErr(err error) error {
	if err == nil {
		return nil
	}
	status, code := httpStatus(err), errorCode(err)
	switch {
	case status == 501 || code == "NotImplemented":
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	case w.opts.IfNoneMatch && status == 412:
		return fmt.Errorf("%w: %w", ErrExists, err)
	case w.opts.IfMatch != "" && status == 412:
		return fmt.Errorf("%w: %w", ErrPrecondition, err)
	case w.opts.IfMatch != "" && (status == 404 || code == "NoSuchKey"):
		return fmt.Errorf("%w (%w): %w", ErrPrecondition, ErrNotExist, err)
	case w.opts.IfMatch != "" && (status == 409 || code == "ConditionalRequestConflict"):
		// A concurrent conditional write was in flight; ours did not
		// happen. The caller re-reads and retries as for any lost CAS.
		return fmt.Errorf("%w: %w", ErrPrecondition, err)
	case w.opts.IfNoneMatch && (status == 409 || code == "ConditionalRequestConflict"):
		// Another create was in flight. If it published, we lost; if not,
		// this is an ordinary (retryable) failure.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, serr := w.d.Stat(ctx, w.key); serr == nil {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
	}
	return unavailable(err)
}

func (d *s3Driver) List(ctx context.Context, prefix string) ([]Attrs, error) {
	var out []Attrs
	p := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{
		Bucket: &d.bucket,
		Prefix: ptr(d.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(deref(o.Key), d.prefix)
			out = append(out, Attrs{
				Key:     k,
				Size:    deref(o.Size),
				ETag:    deref(o.ETag),
				ModTime: deref(o.LastModified),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (d *s3Driver) Delete(ctx context.Context, key string) error {
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.bucket, Key: ptr(d.prefix + key)})
	if err != nil && isNotExist(err) {
		return nil
	}
	return mapErr(err)
}

func (d *s3Driver) Close() error { return nil }
