package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// reservedPrefix starts the names of the file driver's own files (temporary
// files of writers in progress, the lock directory). Keys with a segment
// starting with it are rejected, and List never shows such files.
const reservedPrefix = ".hlsfleet-"

const lockDirName = reservedPrefix + "locks"

// fileDriver stores each object as a regular file root/<key>.
//
// Publishing: a writer writes a temporary file in the key's directory and
// publishes it by rename(2) (unconditional, IfMatch) or link(2) (IfNoneMatch,
// which fails with EEXIST when the key exists, so exactly one of racing
// creators wins, across processes too). Every publish and delete holds an
// exclusive flock(2) on one of 256 lock files under root/.hlsfleet-locks
// (chosen by a hash of the key), so an IfMatch compare and its rename are
// atomic with respect to every other writer of that key, in any process.
//
// ETags are "<inode>-<size>-<mtime ns>" in hex. Each publish is a fresh file
// (a new inode while the old one still exists) whose mtime the writer sets
// to the current time in nanoseconds, so every write changes the ETag, even
// one that writes the same bytes.
type fileDriver struct {
	root string
}

// NewFileDriver returns the file driver rooted at dir, creating dir if
// needed. Keys map to files under dir; see Open for the URL form.
func NewFileDriver(dir string) (Driver, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file storage root %q is not absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file storage root %q is not a directory", dir)
	}
	return &fileDriver{root: filepath.Clean(dir)}, nil
}

func (d *fileDriver) path(key string) (string, error) {
	for _, seg := range strings.Split(key, "/") {
		if strings.HasPrefix(seg, reservedPrefix) {
			return "", fmt.Errorf("%w %q: segments starting with %q are reserved by the file driver", ErrInvalidKey, key, reservedPrefix)
		}
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

func (d *fileDriver) attrs(key string, fi fs.FileInfo) Attrs {
	return Attrs{Key: key, Size: fi.Size(), ETag: fileETag(fi), ModTime: fi.ModTime()}
}

// statFile stats a key's file; directories and missing files are
// ErrNotExist.
func statFile(p string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotExist
	}
	return fi, nil
}

func (d *fileDriver) NewRangeReader(ctx context.Context, key string, offset, length int64) (Reader, error) {
	if offset < 0 || length < -1 {
		return nil, fmt.Errorf("bad range: offset %d, length %d", offset, length)
	}
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	// Stat the open file: the attributes are those of exactly the version
	// this reader reads, even if the key is replaced meanwhile.
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotExist
	}
	size := fi.Size()
	if offset > size {
		offset = size
	}
	n := size - offset
	if length >= 0 && length < n {
		n = length
	}
	return &fileReader{
		Reader: io.NewSectionReader(f, offset, n),
		f:      f,
		attrs:  d.attrs(key, fi),
	}, nil
}

type fileReader struct {
	io.Reader
	f     *os.File
	attrs Attrs
}

func (r *fileReader) Close() error { return r.f.Close() }
func (r *fileReader) Attrs() Attrs { return r.attrs }

func (d *fileDriver) Stat(ctx context.Context, key string) (Attrs, error) {
	p, err := d.path(key)
	if err != nil {
		return Attrs{}, err
	}
	fi, err := statFile(p)
	if err != nil {
		return Attrs{}, err
	}
	return d.attrs(key, fi), nil
}

func (d *fileDriver) NewWriter(ctx context.Context, key string, opts WriterOptions) (Writer, error) {
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return nil, errors.New("IfNoneMatch and IfMatch cannot be combined")
	}
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(p)
	var f *os.File
	// A concurrent Delete may remove the (empty) directory between MkdirAll
	// and CreateTemp; try again then.
	for i := 0; ; i++ {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.CreateTemp(dir, reservedPrefix+"tmp-*")
		}
		if err == nil || i == 5 || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("a parent of the key is an object: %w", err)
		}
		return nil, err
	}
	return &fileWriter{ctx: ctx, d: d, key: key, path: p, f: f, opts: opts}, nil
}

type fileWriter struct {
	ctx  context.Context
	d    *fileDriver
	key  string
	path string
	f    *os.File
	opts WriterOptions
	done bool
	err  error // first write error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func (w *fileWriter) Abort() error {
	if w.done {
		return ErrClosed
	}
	w.done = true
	w.f.Close()
	return ignoreNotExist(os.Remove(w.f.Name()))
}

func (w *fileWriter) Close() (err error) {
	if w.done {
		return ErrClosed
	}
	w.done = true
	tmp := w.f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if w.err != nil {
		w.f.Close()
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(tmp, now, now); err != nil {
		return err
	}
	unlock, err := w.d.lock(w.key)
	if err != nil {
		return err
	}
	defer unlock()
	switch {
	case w.opts.IfNoneMatch:
		if err := os.Link(tmp, w.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return ErrExists
			}
			return err
		}
		os.Remove(tmp)
	case w.opts.IfMatch != "":
		fi, err := statFile(w.path)
		if errors.Is(err, ErrNotExist) {
			return fmt.Errorf("%w (%w)", ErrPrecondition, ErrNotExist)
		}
		if err != nil {
			return err
		}
		if fileETag(fi) != w.opts.IfMatch {
			return ErrPrecondition
		}
		if err := os.Rename(tmp, w.path); err != nil {
			return err
		}
	default:
		if err := os.Rename(tmp, w.path); err != nil {
			if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
				return fmt.Errorf("key is a prefix of other keys: %w", err)
			}
			return err
		}
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

func (d *fileDriver) List(ctx context.Context, prefix string) ([]Attrs, error) {
	// Walk only the deepest directory the prefix names fully.
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	var out []Attrs
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) { // removed while walking
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == d.root {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(e.Name(), reservedPrefix) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			dk := key + "/"
			if !strings.HasPrefix(dk, prefix) && !strings.HasPrefix(prefix, dk) {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, d.attrs(key, fi))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (d *fileDriver) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	unlock, err := d.lock(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err == nil && fi.IsDir() {
		unlock()
		return nil // a "directory" is not an object
	}
	err = os.Remove(p)
	unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return err
	}
	// Tidy up: remove directories the delete left empty (best effort; a
	// writer that loses its directory this way makes it again).
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func (d *fileDriver) Close() error { return nil }

// lock takes the exclusive publish lock for key: one of 256 lock files,
// chosen by a hash of the key, flock'ed so that processes sharing the
// directory exclude each other too. Lock files are never removed (removing
// an flock'ed file races with a waiter locking the removed inode).
func (d *fileDriver) lock(key string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(d.root, lockDirName)
	name := filepath.Join(dir, fmt.Sprintf("%02x", sum[0]))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// Threads of this process also exclude each other through the flock
	// (each open file description locks separately); the mutex keeps them
	// from piling onto the kernel lock.
	mu := &lockStripes[sum[0]]
	mu.Lock()
	if err := flock(f); err != nil {
		mu.Unlock()
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() { f.Close(); mu.Unlock() }, nil
}

var lockStripes [256]sync.Mutex

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
