// Package storage is hlsfleet's blob storage: a small [Driver] interface that
// each backend implements, and a portable [Bucket] type that every caller
// uses.
//
// The split follows go-cloud's blob package: a driver is thin and has a
// handful of methods, each with its contract below; the Bucket validates
// keys, picks content types, wraps errors with the key and builds the
// conveniences (whole-object reads and writes, a seekable reader over range
// reads, downloads) on top of the driver. Two drivers exist: "file" (a
// directory tree) and "s3" (Amazon S3 or any S3-compatible service). Both
// pass the same conformance suite, storage/storagetest.
//
// Keys are slash-separated, like S3 object keys: "vod/abc/720p/seg_00001.ts".
// A key must not be empty, start with "/", end with "/", contain an empty
// segment ("a//b"), a "." or ".." segment, a NUL byte or invalid UTF-8.
//
// Publishing. A Writer's data becomes visible only when Close returns nil,
// and then all of it at once: a reader never sees a partial object. Two
// conditional forms make that publish step safe under concurrency:
// [WriterOptions.IfNoneMatch] creates an object only if the key is absent
// (the HLS master playlist is written this way: its presence means the
// presentation is whole, and of two racing workers exactly one publishes), and
// [WriterOptions.IfMatch] replaces an object only if it still has the ETag the
// caller read (compare-and-swap, used for live playlists).
package storage

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
)

// Errors reported by drivers and by Bucket. Test for them with errors.Is:
// the errors returned carry the operation and key around them.
var (
	// ErrNotExist means the key has no object.
	ErrNotExist = errors.New("object does not exist")
	// ErrExists means a conditional create (WriterOptions.IfNoneMatch) lost:
	// the key already had an object, which is left unchanged.
	ErrExists = errors.New("object already exists")
	// ErrPrecondition means a compare-and-swap (WriterOptions.IfMatch) lost:
	// the object's ETag was not the one given (or the object was gone), and
	// the object is left unchanged. Re-read and try again.
	ErrPrecondition = errors.New("precondition failed: object changed")
	// ErrInvalidKey means a key (or list prefix) is malformed; see the
	// package documentation for the rules.
	ErrInvalidKey = errors.New("invalid key")
	// ErrNotSupported means the backend does not implement a requested
	// feature (for example a conditional write on an S3 service that lacks
	// it). The error text says what is missing.
	ErrNotSupported = errors.New("not supported by this storage backend")
	// ErrClosed means a Writer was used after Close or Abort.
	ErrClosed = errors.New("writer already closed")
	// ErrUnavailable means the backend could not serve the request now: it
	// was unreachable, throttled the request, failed on its side (5xx) or
	// timed out. It is of class fault.Infra: retrying later can succeed,
	// and the job is not at fault. The backend's own error stays in the
	// chain.
	ErrUnavailable = fault.New(fault.Infra, "storage unavailable")
)

// Attrs describes one stored object.
type Attrs struct {
	// Key is the object's key, relative to the bucket (and to the bucket's
	// prefix, for an s3 URL with a path).
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag identifies the object's current version: it changes on every
	// write, also when the same bytes are written again (file driver) or when
	// the content changes (s3). It is opaque; pass it unchanged to
	// WriterOptions.IfMatch.
	ETag string
	// ModTime is when the current version was published.
	ModTime time.Time
}

// Reader reads one object, or a range of it.
type Reader interface {
	io.ReadCloser
	// Attrs describes the object version being read: Size is the whole
	// object's size (not the range's) and ETag that version's ETag, so a
	// read-modify-write can use the ETag of exactly the bytes it read.
	Attrs() Attrs
}

// Writer writes one object. Exactly one of Close or Abort must be called.
type Writer interface {
	// Write buffers or streams p into the object being written. Nothing is
	// visible to Stat, List or readers before Close returns nil.
	io.Writer
	// Close publishes the object: it becomes visible, in whole, only when
	// Close returns nil. With WriterOptions.IfNoneMatch a lost race returns
	// ErrExists, with IfMatch a lost race returns ErrPrecondition; on any
	// error nothing was published and the previous object, if any, is
	// unchanged. Calling Close or Abort again returns ErrClosed.
	Close() error
	// Abort discards what was written: nothing becomes visible and the
	// previous object, if any, is unchanged. It releases the writer's
	// resources. Abort after Close returns ErrClosed.
	Abort() error
}

// WriterOptions control a write.
type WriterOptions struct {
	// ContentType is stored with the object where the backend keeps one
	// (s3). Bucket fills it in from the key's extension when empty.
	ContentType string
	// IfNoneMatch creates the object only if the key has none: of any number
	// of racing creators exactly one succeeds, the others get ErrExists.
	IfNoneMatch bool
	// IfMatch, when not empty, replaces the object only if its current ETag
	// equals IfMatch; otherwise Close returns ErrPrecondition (also when the
	// object does not exist; that error also matches ErrNotExist). It cannot
	// be combined with IfNoneMatch.
	IfMatch string
}

// Driver is what a storage backend implements. Keys reaching a driver have
// been validated by Bucket; errors need not mention the key (Bucket adds it)
// but must wrap the sentinel errors of this package where the contracts name
// them. All methods are safe for concurrent use.
type Driver interface {
	// NewRangeReader opens key for reading length bytes from offset. A
	// length of -1 reads to the end. A range reaching past the end is cut
	// short at the end; an offset at or past the end yields an empty reader
	// (not an error) as long as the object exists. A negative offset, or a
	// length below -1, is an error. A missing key returns ErrNotExist. The
	// reader sees one version of the object even if it is replaced while
	// being read (as far as the backend guarantees it: file does, s3 reads a
	// range in one request).
	NewRangeReader(ctx context.Context, key string, offset, length int64) (Reader, error)

	// Stat returns the object's attributes, or ErrNotExist.
	Stat(ctx context.Context, key string) (Attrs, error)

	// NewWriter starts writing key. The object appears only when the
	// Writer's Close returns nil; see Writer and WriterOptions for the
	// conditional forms. ctx bounds the whole write, through Close.
	NewWriter(ctx context.Context, key string, opts WriterOptions) (Writer, error)

	// List returns the attributes of every object whose key starts with
	// prefix (a plain string prefix, "" for all), sorted by key. Objects
	// being written (Writer not yet closed) are not listed.
	List(ctx context.Context, prefix string) ([]Attrs, error)

	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Close releases the driver's resources. The driver must not be used
	// afterwards.
	Close() error
}
