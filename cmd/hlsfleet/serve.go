package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/dashboard"
	"github.com/hlsfleet/hlsfleet/internal/rungroup"
	"github.com/hlsfleet/hlsfleet/queue"
)

const serveSynopsis = "serve DIR [--addr 127.0.0.1:8080] [--cors ORIGIN] [--allowed-host NAME] | serve --output URL [--queue URL] [--dlq URL] [--sources URL] [--addr 127.0.0.1:8080]"

func runServe(args []string) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fset.String("addr", "127.0.0.1:8080", "listen address (loopback by default)")
	output := fset.String("output", "", "dashboard: root of the fleet's outputs (s3://bucket/prefix or a directory)")
	qflag := fset.String("queue", "", "dashboard: the fleet's queue (SQS URL or local:///dir): figures, uploads")
	dlq := fset.String("dlq", "", "dashboard: the SQS dead-letter queue to list and retry from")
	sources := fset.String("sources", "", "dashboard: where uploads are stored (s3://bucket/prefix or a directory; empty = no uploads)")
	ladder := fset.String("ladder", "", "dashboard: ladder preset of jobs made from uploads")
	maxUpload := fset.Int64("max-upload", dashboard.DefaultMaxUpload>>20, "dashboard: largest upload in MiB")
	logLevel := fset.String("log-level", "info", "debug, info, warn or error")
	cors := fset.String("cors", "", "serve DIR: the origin allowed to read the files from its own pages (Access-Control-Allow-Origin; default none)")
	var allowedHosts stringList
	fset.Var(&allowedHosts, "allowed-host", "serve DIR: a host name to answer besides IP addresses and localhost (e.g. a reverse proxy's; repeatable)")
	want := 1
	for _, a := range args {
		if a == "--output" || a == "-output" || strings.HasPrefix(a, "--output=") || strings.HasPrefix(a, "-output=") {
			want = 0
		}
	}
	pos, err := parseCommand(fset, args, serveSynopsis, want)
	if err != nil {
		return err
	}
	log := newLogger(*logLevel)
	defer log.Sync() //nolint:errcheck
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g := rungroup.New(log)
	defer g.Release()
	g.AddSignals(ctx)
	web := rungroup.HTTPActor{Name: "http", Grace: 5 * time.Second}
	var what string
	if want == 1 {
		if *qflag != "" || *dlq != "" || *sources != "" {
			return usageErr("--queue, --dlq and --sources need --output (the dashboard form): hlsfleet %s", serveSynopsis)
		}
		dir, err := localPath(pos[0])
		if err != nil {
			return err
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return usageErr("%s is not a directory", dir)
		}
		h, err := dashboard.NewPlayerHandler(dir, dashboard.PlayerOptions{CORS: *cors, AllowedHosts: allowedHosts})
		if err != nil {
			return err
		}
		web.Server, what = &http.Server{Handler: h}, dir
	} else {
		dash, closeAll, err := openServeDashboard(ctx, *output, *qflag, *dlq, *sources, *ladder, *maxUpload<<20, log)
		if err != nil {
			return err
		}
		defer closeAll()
		g.AddContext("dashboard scanner", func(ctx context.Context) error { dash.Run(ctx); return nil })
		web.Server, what = &http.Server{Handler: dash.Handler()}, "the dashboard of "+*output
		web.BeforeStop = dash.EndStreams
	}
	web.Server.ReadHeaderTimeout = 10 * time.Second
	if web.Listener, err = net.Listen("tcp", *addr); err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	g.AddHTTP(web)
	fmt.Printf("serving %s at http://%s/ (Ctrl-C to stop)\n", what, web.Listener.Addr())
	return g.Run()
}

// openServeDashboard opens the queues and storage of a remote (or local)
// fleet for `serve --output`.
func openServeDashboard(ctx context.Context, output, qflag, dlq, sources, ladder string, maxUpload int64, log *zap.Logger) (*dashboard.Server, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	out, err := toURL(output)
	if err != nil {
		return nil, nil, err
	}
	cfg := dashboard.Config{Output: out, Ladder: ladder, MaxUpload: maxUpload, Logger: log}
	if sources != "" {
		if cfg.Sources, err = toURL(sources); err != nil {
			return nil, nil, err
		}
	}
	if qflag != "" {
		qurl, err := queueURL(qflag)
		if err != nil {
			return nil, nil, err
		}
		q, err := queue.Open(ctx, qurl, queue.Options{DLQ: dlq})
		if err != nil {
			return nil, nil, fmt.Errorf("opening queue %s: %w", qurl, err)
		}
		closers = append(closers, func() { q.Close() })
		cfg.Queue = q
		// The local queue's dead letters are in its file; an SQS queue's
		// are listed, by receiving them, when --dlq names its DLQ.
		local := strings.HasPrefix(qurl, "local://")
		if dl, ok := q.(queue.DeadLetterStore); ok && (local || dlq != "") {
			cfg.DeadLetters = dl
			if !local {
				cfg.MaxDeadLetters, cfg.DeadLetterCache = 100, 10*time.Second
			}
		}
	}
	if dlq != "" {
		if cfg.Queue == nil {
			closeAll()
			return nil, nil, usageErr("--dlq needs --queue (a retried dead letter goes back to that queue)")
		}
		if !strings.HasPrefix(dlq, "https://") && !strings.HasPrefix(dlq, "http://") {
			closeAll()
			return nil, nil, usageErr("--dlq %s: want the URL of the SQS dead-letter queue", dlq)
		}
	}
	if cfg.Sources != "" && cfg.Queue == nil {
		closeAll()
		return nil, nil, usageErr("--sources needs --queue (an upload becomes a job on that queue)")
	}
	dash, err := dashboard.New(ctx, cfg)
	if err != nil {
		closeAll()
		return nil, nil, usageErr("%v", err)
	}
	closers = append(closers, func() { dash.Close() })
	return dash, closeAll, nil
}
