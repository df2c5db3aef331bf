// Package attempt keeps a published VOD output immutable when several
// attempts of one job run at once (duplicate submissions, a lost lease, an
// S3 event plus a manual submit): each attempt writes under names of its own
// and master.m3u8, created only if absent, is the one publish point.
//
// An attempt's folder is the innermost folder of every name it writes, the
// master's excepted:
//
//	720p/seg_00001.ts -> 720p/<id>/seg_00001.ts
//	720p/index.m3u8   -> 720p/<id>/index.m3u8
//	poster.jpg        -> <id>/poster.jpg   (storyboard.vtt, sprite-N.jpg, 720p.mp4 alike)
//
// so the output keeps master.m3u8 and one folder per rendition, media
// playlists and the storyboard keep their relative URIs, and the master
// reaches only the bytes of the attempt that created it. The attempt that
// loses the master's create deletes what it wrote; after a publish (and
// whenever a run finds the output published) Clean deletes what other
// attempts left in attempt folders the published master does not reach.
// A chunked job's master (issue H) is its finishing attempt's, and its
// media playlists name the segments of every chunk's attempt, each in a
// folder of its own: those folders are reached too (Reached).
//
// Pure Go: the worker may call Clean without linking libav.
package attempt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/storage"
)

// idLen is the length of an attempt id: 10 characters of lowercase base32,
// 50 random bits.
const idLen = 10

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewID returns a fresh random attempt id.
func NewID() string {
	var b [idLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("attempt: reading random bytes: %v", err)) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// IsID reports whether s has the form of an attempt id.
func IsID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// ObjectName is the pipeline's Options.ObjectName for attempt id: name
// with id inserted as its innermost folder; the master keeps its name.
func ObjectName(id string) func(string) string {
	return func(name string) string {
		if name == job.MasterName {
			return name
		}
		dir, base := path.Split(name)
		return dir + id + "/" + base
	}
}

// Of is the attempt id of an object key below an output ("720p/<id>/x" or
// "<id>/x"), or "" when the key is not in an attempt folder.
func Of(key string) string {
	parts := strings.Split(key, "/")
	n := len(parts)
	if n != 2 && n != 3 || parts[n-1] == "" || parts[0] == "" {
		return ""
	}
	if id := parts[n-2]; IsID(id) {
		return id
	}
	return ""
}

// Published returns the folders that hold the playlists master names: the
// innermost folder of every variant and rendition URI ("<id>" for an
// attempt-scoped output, "720p" for one written with fixed names).
func Published(master []byte) (map[string]bool, error) {
	m, err := hls.ParseMaster(master)
	if err != nil {
		return nil, err
	}
	uris := make([]string, 0, len(m.Variants)+len(m.Media))
	for _, v := range m.Variants {
		uris = append(uris, v.URI)
	}
	for _, md := range m.Media {
		if md.URI != "" {
			uris = append(uris, md.URI)
		}
	}
	if len(uris) == 0 {
		return nil, errors.New("the master names no playlist")
	}
	folders := map[string]bool{}
	for _, u := range uris {
		if strings.Contains(u, "://") || strings.HasPrefix(u, "/") {
			return nil, fmt.Errorf("the master names %q, not a relative URI", u)
		}
		folders[path.Base(path.Dir(u))] = true
	}
	return folders, nil
}

// PublishedBy is the attempt whose playlists master names, or "" when it
// names none or several (an output written with fixed names).
func PublishedBy(master []byte) string {
	folders, err := Published(master)
	if err != nil || len(folders) != 1 {
		return ""
	}
	for f := range folders {
		if IsID(f) {
			return f
		}
	}
	return ""
}

// Reached returns the folders a published master reaches: the folders
// of its playlists (Published) and the attempt folder of every object its
// media playlists name (segments and EXT-X-MAP initialization sections,
// resolved against the playlist's folder). A VOD attempt's playlists name
// only its own folder; a chunked job's (issue H) are the finishing
// attempt's, and name segments in every chunk attempt's folder, all of
// which the master then reaches. read returns a stored object (the
// output's media playlists); a playlist that does not exist reaches
// nothing, any other read error is returned.
func Reached(master []byte, read func(key string) ([]byte, error)) (map[string]bool, error) {
	reached, err := Published(master)
	if err != nil {
		return nil, err
	}
	m, _ := hls.ParseMaster(master) // Published parsed it
	var lists []string
	for _, v := range m.Variants {
		lists = append(lists, v.URI)
	}
	for _, md := range m.Media {
		if md.URI != "" {
			lists = append(lists, md.URI)
		}
	}
	for _, pl := range lists {
		key := path.Clean(pl)
		data, err := read(key)
		if errors.Is(err, storage.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the media playlist %s: %w", key, err)
		}
		for _, u := range mediaURIs(data) {
			if strings.Contains(u, "://") || strings.HasPrefix(u, "/") {
				continue // not an object of this output
			}
			if id := Of(path.Join(path.Dir(key), u)); id != "" {
				reached[id] = true
			}
		}
	}
	return reached, nil
}

// mediaURIs returns the URIs a media playlist names: every URI line and
// every URI="..." attribute (EXT-X-MAP, wherever it stands).
func mediaURIs(data []byte) []string {
	var uris []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			uris = append(uris, line)
		default:
			if _, rest, ok := strings.Cut(line, `URI="`); ok {
				if u, _, ok := strings.Cut(rest, `"`); ok && u != "" {
					uris = append(uris, u)
				}
			}
		}
	}
	return uris
}

// Stale selects, from a listing of an output whose published master
// reaches the folders reached (Reached), the objects of other attempts:
// keys in an attempt folder the master does not reach. It never selects
// the reached attempts' objects (their posters, storyboards and MP4s
// too), master.m3u8 or job.json, nor anything below a folder that is an
// output of its own (one holding a master.m3u8, job.json, chunks.json or
// stream.json: another job's output nested in this one, or a live stream).
func Stale(reached map[string]bool, objs []storage.Attrs) []string {
	outputs := map[string]bool{}
	for _, o := range objs {
		switch dir, base := path.Split(o.Key); base {
		case job.MasterName, job.StatusName, chunksName, "stream.json":
			if dir != "" {
				outputs[strings.TrimSuffix(dir, "/")] = true
			}
		}
	}
	var stale []string
	for _, o := range objs {
		id := Of(o.Key)
		if id == "" || reached[id] || underOutput(o.Key, outputs) {
			continue
		}
		switch path.Base(o.Key) {
		case job.MasterName, job.StatusName:
			continue
		}
		stale = append(stale, o.Key)
	}
	return stale
}

// chunksName is jobexec/chunks.Name (that package imports this one).
const chunksName = "chunks.json"

// underOutput reports whether a folder above key is in outputs.
func underOutput(key string, outputs map[string]bool) bool {
	for dir := path.Dir(key); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if outputs[dir] {
			return true
		}
	}
	return false
}

// Clean deletes what other attempts left in the output b once its master
// is published, and returns the attempt that published it (PublishedBy)
// and how many objects it deleted. It keeps every attempt folder the
// master reaches (Reached: a chunked job's chunk attempts too). Without a
// master it does nothing: the attempts then running may still publish,
// and a chunked job's done chunks wait there for its finish.
func Clean(ctx context.Context, b *storage.Bucket) (by string, deleted int, err error) {
	master, err := b.ReadAll(ctx, job.MasterName)
	if errors.Is(err, storage.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	by = PublishedBy(master)
	reached, err := Reached(master, func(key string) ([]byte, error) { return b.ReadAll(ctx, key) })
	if err != nil {
		return by, 0, fmt.Errorf("reading the published master: %w", err)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		return by, 0, err
	}
	stale := Stale(reached, objs)
	return by, len(stale), Delete(ctx, b, stale)
}

// deleters is how many deletes Delete has in flight.
const deleters = 8

// Delete deletes keys from b, a few at a time; a missing key is not an
// error. The first error is returned once every key was tried.
func Delete(ctx context.Context, b *storage.Bucket, keys []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan string)
	for i := 0; i < min(deleters, len(keys)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := b.Delete(ctx, k); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	return first
}
