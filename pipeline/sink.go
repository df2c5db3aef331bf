package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hlsfleet/hlsfleet/job"
)

// Sink receives the files of one HLS presentation as they are produced.
// Names are slash-separated and relative ("720p/seg_00003.ts"). A file is
// visible under its name once Close returns nil. The pipeline writes
// master.m3u8 last; its presence means the presentation is whole.
type Sink interface {
	Create(name string) (io.WriteCloser, error)
}

// MasterName is the publish point of every presentation.
const MasterName = job.MasterName

// renamingSink is sink with every name but the master's mapped by name
// (Options.ObjectName); it removes through sink when sink is a Remover.
func renamingSink(sink Sink, name func(string) string) Sink {
	if name == nil {
		return sink
	}
	rs := renamed{sink: sink, name: name}
	if r, ok := sink.(Remover); ok {
		return renamedRemover{rs, r}
	}
	return rs
}

type renamed struct {
	sink Sink
	name func(string) string
}

func (r renamed) Create(name string) (io.WriteCloser, error) {
	return r.sink.Create(r.objectName(name))
}

// objectName is the name file name is stored under; the master keeps its
// own, the one publish point.
func (r renamed) objectName(name string) string {
	if name == MasterName {
		return name
	}
	return r.name(name)
}

type renamedRemover struct {
	renamed
	r Remover
}

func (r renamedRemover) Remove(name string) error { return r.r.Remove(r.objectName(name)) }

// objectName is the name the transcode's sink stores file name under.
func (t *transcode) objectName(name string) string { return storedName(t.sink, name) }

// storedName is the name sink (renamingSink's) stores file name under.
func storedName(sink Sink, name string) string {
	if r, ok := sink.(interface{ objectName(string) string }); ok {
		return r.objectName(name)
	}
	return name
}

// DirSink writes a presentation into a local directory without ever showing
// a half-written one: files go to a staging directory beside the target and
// Commit moves them into place, master.m3u8 last. Abort removes the staging
// directory.
type DirSink struct {
	dir     string
	staging string
	names   []string
}

// NewDirSink prepares dir (created if missing) for a presentation.
func NewDirSink(dir string) (*DirSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	staging, err := os.MkdirTemp(dir, ".hlsfleet-staging-")
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	return &DirSink{dir: dir, staging: staging}, nil
}

// NewDirSinkIn is NewDirSink with a staging directory the caller made
// (inside dir, so the final renames stay on one file system).
func NewDirSinkIn(dir, staging string) (*DirSink, error) {
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	return &DirSink{dir: dir, staging: staging}, nil
}

// ErrBadName rejects names that would leave the output directory.
var ErrBadName = errors.New("output name escapes the output directory")

func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || filepath.IsAbs(name) {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." || part == "" {
			return "", fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return filepath.FromSlash(name), nil
}

// Create opens a staged file.
func (d *DirSink) Create(name string) (io.WriteCloser, error) {
	rel, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(d.staging, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	d.names = append(d.names, rel)
	return f, nil
}

// Commit moves every staged file into the directory, replacing older files
// of the same name, with master.m3u8 last.
func (d *DirSink) Commit() error {
	// An older presentation stops being published before its files change.
	if err := os.Remove(filepath.Join(d.dir, MasterName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpublishing the old master: %w", err)
	}
	var master bool
	for _, rel := range d.names {
		if rel == MasterName {
			master = true
			continue
		}
		if err := d.move(rel); err != nil {
			return err
		}
	}
	if master {
		if err := d.move(MasterName); err != nil {
			return err
		}
	}
	return os.RemoveAll(d.staging)
}

func (d *DirSink) move(rel string) error {
	dst := filepath.Join(d.dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("publishing %s: %w", rel, err)
	}
	if err := os.Rename(filepath.Join(d.staging, rel), dst); err != nil {
		return fmt.Errorf("publishing %s: %w", rel, err)
	}
	return nil
}

// Abort discards everything staged.
func (d *DirSink) Abort() error { return os.RemoveAll(d.staging) }
