// Package inbox holds the folder watchers of `hlsfleet local`: files dropped
// into a folder become jobs on a queue.
//
//	INBOX/<name>                    a VOD job: OUT/<stem>/
//	INBOX/live/<stream>/<seq>.ts    a live-segment job (also .m4s, .mp4): OUT/live/<stream>/
//	INBOX/live/<stream>/END         the stream's end, once its segments are sent
//
// A file is taken once its size has stayed the same for one tick (it is no
// longer being written). It moves to SOURCES first (SOURCES/<id>-<name>,
// SOURCES/live/<stream>/<id>-<name>), and its job, whose source is the moved
// file, is sent with queue.SendJob: a crash between the move and the send
// leaves the file where it can be resubmitted from. Pure Go.
package inbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// DefaultInterval is the time between scans.
const DefaultInterval = 500 * time.Millisecond

// Config says which folders a Watcher watches and what its jobs ask for.
type Config struct {
	Dir     string // the inbox; live segments under Dir/live/<stream>/
	Sources string // where taken files move before their job is sent
	Out     string // local output root: OUT/<stem>/, OUT/live/<stream>/
	Ladder  string // ladder preset of the jobs ("": the default)

	LiveWindow int  // live playlists' window in segments (0: the default)
	LiveEvent  bool // live playlists of type EVENT

	Interval time.Duration // between scans (0: DefaultInterval)
}

// Watcher is the file inbox and the live inbox under it, scanned together.
type Watcher struct {
	cfg    Config
	seen   stableSizes
	live   *Live
	queued []func(*job.Job)
}

// New returns a watcher of cfg's folders (which it does not create).
func New(cfg Config) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	return &Watcher{cfg: cfg, seen: stableSizes{}, live: NewLive(cfg)}
}

// Notify adds fn to the functions told of every VOD job sent (job events,
// the dashboard), in the order added. Call it before Run.
func (w *Watcher) Notify(fn func(*job.Job)) { w.queued = append(w.queued, fn) }

// Run scans every Interval (the first scan one Interval after the start)
// until ctx ends. Failures are logged and retried at a later scan.
func (w *Watcher) Run(ctx context.Context, q queue.Queue, log *zap.Logger) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.Scan(ctx, q, log)
	}
}

// Scan is one tick: the live inbox, then each inbox file found at the same
// size as at the previous Scan is moved and its job sent.
func (w *Watcher) Scan(ctx context.Context, q queue.Queue, log *zap.Logger) {
	w.live.Scan(ctx, q, log)
	files, err := listFiles(w.cfg.Dir)
	if err != nil {
		log.Warn("reading inbox", zap.Error(err))
		return
	}
	for _, fi := range files {
		name := fi.Name()
		if !w.seen.stable(name, fi.Size()) {
			continue
		}
		delete(w.seen, name)
		if err := w.submit(ctx, q, name); err != nil {
			log.Warn("submitting inbox file", zap.String("file", name), zap.Error(err))
		}
	}
}

func (w *Watcher) submit(ctx context.Context, q queue.Queue, name string) error {
	id := job.NewID()
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	src := filepath.Join(w.cfg.Sources, id+"-"+name)
	if err := os.Rename(filepath.Join(w.cfg.Dir, name), src); err != nil {
		return err
	}
	opts := []job.Option{job.WithID(id)}
	if w.cfg.Ladder != "" {
		opts = append(opts, job.WithLadder(w.cfg.Ladder))
	}
	j := job.New(fileURL(src), fileURL(filepath.Join(w.cfg.Out, job.SafeName(stem))), opts...)
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		return err
	}
	for _, fn := range w.queued {
		fn(j)
	}
	return nil
}

// fileURL is the file:// URL of an absolute path.
func fileURL(p string) string { return "file://" + filepath.ToSlash(p) }
