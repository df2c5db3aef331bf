package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/dashboard"
	"github.com/hlsfleet/hlsfleet/inbox"
	"github.com/hlsfleet/hlsfleet/internal/rungroup"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

const localSynopsis = "local [--data DIR] [--inbox DIR] [--out DIR] [--workers N] [--http 127.0.0.1:8080] [--live-window N] [--live-event] [--metrics-addr ADDR]"

// runLocal is the whole fleet on one machine: an embedded durable queue,
// file storage, a worker with N job slots (each job in its own process) and
// an inbox folder whose new files become jobs.
func runLocal(args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	var f workerFlags
	data := fs.String("data", "hlsfleet-data", "state directory: queue/, sources/")
	inboxFlag := fs.String("inbox", "", "folder watched for new files (default DATA/inbox)")
	out := fs.String("out", "", "where outputs are published (default DATA/out)")
	ladder := fs.String("ladder", "", "ladder preset for inbox files (default: default)")
	liveWindow := fs.Int("live-window", 0, "live playlists' sliding window in segments (default 6)")
	liveEvent := fs.Bool("live-event", false, "live playlists of type EVENT, keeping every segment")
	fs.IntVar(&f.concurrency, "workers", 0, "jobs at once (default: half the cores, at least 1)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "dashboard address (loopback by default; empty = off)")
	maxUpload := fs.Int64("max-upload", dashboard.DefaultMaxUpload>>20, "largest dashboard upload in MiB")
	f.register(fs)
	if _, err := parseCommand(fs, args, localSynopsis, 0); err != nil {
		return err
	}
	httpSet := false
	fs.Visit(func(fl *flag.Flag) { httpSet = httpSet || fl.Name == "http" })
	dataDir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if *inboxFlag == "" {
		*inboxFlag = filepath.Join(dataDir, "inbox")
	}
	if *out == "" {
		*out = filepath.Join(dataDir, "out")
	}
	inboxDir, _ := filepath.Abs(*inboxFlag)
	outDir, _ := filepath.Abs(*out)
	for _, d := range []string{dataDir, inboxDir, outDir, filepath.Join(dataDir, "sources")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	f.queue = "local://" + filepath.Join(dataDir, "queue")
	if f.events.spool == "" {
		f.events.spool = filepath.Join(dataDir, "events")
	}
	fmt.Fprintf(os.Stderr, "hlsfleet local: drop media files into %s; outputs appear in %s/<name>/master.m3u8\n", inboxDir, outDir)
	fmt.Fprintf(os.Stderr, "hlsfleet local: queue %s (submit with: hlsfleet submit --queue %s INPUT OUTPUT)\n", f.queue, f.queue)
	fmt.Fprintf(os.Stderr, "hlsfleet local: live segments into %s/live/<stream>/<seq>.ts (and END); playlists at %s/live/<stream>/master.m3u8\n", inboxDir, outDir)
	ev, err := f.openEvents()
	if err != nil {
		return err
	}
	defer ev.Close(eventsDrain)
	f.jobEvents = ev
	w := inbox.New(inbox.Config{Dir: inboxDir, Sources: filepath.Join(dataDir, "sources"), Out: outDir, Ladder: *ladder,
		LiveWindow: *liveWindow, LiveEvent: *liveEvent})
	w.Notify(ev.Queued)
	if *httpAddr != "" {
		d := localDashboard{addr: *httpAddr, explicit: httpSet, maxUpload: *maxUpload << 20, inbox: w, cfg: dashboard.Config{
			Output:  "file://" + filepath.ToSlash(outDir),
			Sources: "file://" + filepath.ToSlash(filepath.Join(dataDir, "sources")),
			Ladder:  *ladder,
		}}
		f.setup = d.start
	}
	return serveWorker(f, w.Run)
}

// localDashboard adds the dashboard of `hlsfleet local` to the run group
// once the queue is open; it receives the worker's events and the inbox's
// submissions.
type localDashboard struct {
	addr      string
	explicit  bool // --http was given: failing to listen is an error
	maxUpload int64
	inbox     *inbox.Watcher
	cfg       dashboard.Config
}

func (d localDashboard) start(ctx context.Context, q queue.Queue, log *zap.Logger, g *rungroup.Group) (job.EventSink, error) {
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		if d.explicit {
			return nil, fmt.Errorf("dashboard: listening on %s: %w", d.addr, err)
		}
		log.Warn("dashboard not started (pass --http ADDR for another address, or --http '' to turn it off)", zap.String("addr", d.addr), zap.Error(err))
		fmt.Fprintf(os.Stderr, "hlsfleet local: dashboard not started: %v\n", err)
		return nil, nil
	}
	cfg := d.cfg
	cfg.Queue, cfg.MaxUpload, cfg.Logger = q, d.maxUpload, log
	if dl, ok := q.(queue.DeadLetterStore); ok {
		cfg.DeadLetters = dl
	}
	dash, err := dashboard.New(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d.inbox.Notify(dash.Queued)
	srv := &http.Server{Handler: dash.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g.AddHTTP(rungroup.HTTPActor{Name: "dashboard", Listener: ln, Server: srv, Grace: 2 * time.Second, BeforeStop: dash.EndStreams})
	g.AddContext("dashboard scanner", func(ctx context.Context) error { dash.Run(ctx); return nil })
	fmt.Fprintf(os.Stderr, "hlsfleet local: dashboard at http://%s/\n", ln.Addr())
	return dash, nil
}
