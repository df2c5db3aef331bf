package inbox

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// EndName is the file that ends a live stream in the live inbox.
const EndName = "END"

// Live turns files under INBOX/live/<stream>/ into live-segment jobs:
// <seq>.ts|.m4s|.mp4 in sequence order, then END once no segment of the
// stream is still arriving. A segment waits while one with a lower sequence
// number is still growing. Misnamed files are left alone (and reported once
// per size). Each file moves to SOURCES/live/<stream>/ first, like inbox
// files.
type Live struct {
	cfg  Config
	dir  string      // INBOX/live
	seen stableSizes // file → size at the last scan
	bad  map[string]int64
}

// NewLive returns the live inbox under cfg.Dir.
func NewLive(cfg Config) *Live {
	return &Live{cfg: cfg, dir: filepath.Join(cfg.Dir, "live"), seen: stableSizes{}, bad: map[string]int64{}}
}

// liveSeq parses a live inbox file name: its sequence number, or ok false
// when it is neither <seq>.ts|m4s|mp4 nor END (end true).
func liveSeq(name string) (seq int64, end, ok bool) {
	if name == EndName {
		return 0, true, true
	}
	stem, ext, _ := strings.Cut(name, ".")
	seq, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || seq < 0 || (ext != "ts" && ext != "m4s" && ext != "mp4") {
		return 0, false, false
	}
	return seq, false, true
}

// Scan sends what is ready in every stream folder (a folder whose name is
// not a valid stream name is passed over). No live folder is no work.
func (w *Live) Scan(ctx context.Context, q queue.Queue, log *zap.Logger) {
	streams, err := os.ReadDir(w.dir)
	if err != nil {
		return // no live folder yet
	}
	for _, st := range streams {
		if st.IsDir() && job.CheckStreamName(st.Name()) == "" {
			w.scanStream(ctx, q, log, st.Name())
		}
	}
}

// liveItem is a segment file whose size is stable.
type liveItem struct {
	name string
	seq  int64
}

func (w *Live) scanStream(ctx context.Context, q queue.Queue, log *zap.Logger, stream string) {
	dir := filepath.Join(w.dir, stream)
	files, err := listFiles(dir)
	if err != nil {
		return
	}
	var ready []liveItem
	endReady, unstable := false, false
	firstUnstable := int64(math.MaxInt64) // segments after one still arriving wait for it
	for _, fi := range files {
		name, key := fi.Name(), filepath.Join(dir, fi.Name())
		seq, end, ok := liveSeq(name)
		if !ok {
			if w.bad[key] != fi.Size()+1 {
				w.bad[key] = fi.Size() + 1
				log.Warn("live inbox: not <sequence>.ts|m4s|mp4 or END; left alone", zap.String("file", key))
			}
			continue
		}
		switch {
		case !w.seen.stable(key, fi.Size()):
			unstable = true
			if !end {
				firstUnstable = min(firstUnstable, seq)
			}
		case end:
			endReady = true
		default:
			ready = append(ready, liveItem{name, seq})
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].seq < ready[j].seq })
	for _, it := range ready {
		if it.seq > firstUnstable {
			break
		}
		if err := w.submit(ctx, q, stream, it.name, it.seq, false); err != nil {
			log.Warn("submitting live segment", zap.String("file", it.name), zap.Error(err))
		}
	}
	if endReady && !unstable && len(ready) == 0 {
		if err := w.submit(ctx, q, stream, EndName, 0, true); err != nil {
			log.Warn("submitting live end", zap.String("stream", stream), zap.Error(err))
		}
	}
}

func (w *Live) submit(ctx context.Context, q queue.Queue, stream, name string, seq int64, end bool) error {
	srcDir := filepath.Join(w.cfg.Sources, "live", stream)
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return err
	}
	id := job.NewID()
	src := filepath.Join(srcDir, id+"-"+name)
	from := filepath.Join(w.dir, stream, name)
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if err := os.Rename(from, src); err != nil {
		return err
	}
	delete(w.seen, from)
	// The segment's own time is when it was written: the live latency metric
	// counts from there, the inbox's stability wait included.
	opts := []job.Option{job.WithID(id), job.WithLive(stream, seq, end), job.WithLiveWindow(w.cfg.LiveWindow, w.cfg.LiveEvent),
		job.WithSubmittedAt(fi.ModTime().UTC())}
	if w.cfg.Ladder != "" {
		opts = append(opts, job.WithLadder(w.cfg.Ladder))
	}
	j := job.New(fileURL(src), fileURL(filepath.Join(w.cfg.Out, "live", stream)), opts...)
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		return fmt.Errorf("sending job %s: %w", j.ID, err)
	}
	return nil
}
