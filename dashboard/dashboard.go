// Package dashboard is hlsfleet's web dashboard: plain HTML, CSS and
// JavaScript embedded in the binary, fed by one server-sent-events stream
// per page. It shows the jobs (state, progress, failures with their reasons),
// the dead-letter list with a retry button, the live streams with their
// latency and a player for every published output, and takes uploads that
// become jobs.
//
// The dashboard learns about jobs from two places: the worker's events
// (Server implements job.EventSink, so `hlsfleet local` feeds it at once)
// and a periodic scan of the job.json status documents under the output root
// (the only source for a remote fleet, `hlsfleet serve --queue --output`).
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

//go:embed static
var staticFS embed.FS

// HLSJSPath is where the dashboard serves hls.js from when the build
// embedded it (scripts/setup.sh copies it from dashboard/web/node_modules).
const HLSJSPath = "static/vendor/hls.min.js"

// DefaultMaxUpload is the largest upload Config.MaxUpload allows by default.
const DefaultMaxUpload = 8 << 30

// Errors callers test with errors.Is.
var (
	// ErrConfig: the Config is unusable (no output root, bad URL).
	ErrConfig = errors.New("dashboard: bad configuration")
)

// Config configures New. Output is required.
type Config struct {
	// Output is the root URL under which jobs publish (file:///dir or
	// s3://bucket/prefix): job.json documents, players and live streams are
	// found below it, and uploads publish to Output/<name>.
	Output string
	// Queue receives the jobs made from uploads and reports its size; nil:
	// no uploads, no queue figures.
	Queue queue.Queue
	// DeadLetters is the dead-letter store whose letters are shown and
	// retried (the queue's own: the local driver's file, or an SQS queue's
	// dead-letter queue); nil: none is shown.
	DeadLetters queue.DeadLetterStore
	// MaxDeadLetters is the most dead letters listed; 0 means all.
	MaxDeadLetters int
	// DeadLetterCache is how long a listing of DeadLetters is reused; 0
	// lists again at every scan. Set it where listing costs: an SQS
	// dead-letter queue is listed by receiving every message in it.
	DeadLetterCache time.Duration
	// Sources is the URL prefix where uploads are stored before their job is
	// sent (file:///data/sources, s3://bucket/uploads); "" turns uploads off.
	Sources string
	// Ladder is the ladder preset of jobs made from uploads ("" = default).
	Ladder string
	// MaxUpload is the largest upload in bytes; 0 means DefaultMaxUpload.
	MaxUpload int64
	// ScanInterval is how often job.json documents, live streams, queue
	// figures and dead letters are read again; 0 means 2 s.
	ScanInterval time.Duration
	// AllowedHosts are host names (besides IP literals and localhost) that
	// requests may name in their Host header. Any other name is refused,
	// which defeats DNS rebinding against a dashboard on 127.0.0.1.
	AllowedHosts []string
	Logger       *zap.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server is one dashboard. Create it with New, serve Handler, run Run.
type Server struct {
	cfg     Config
	out     *storage.Bucket
	src     *storage.Bucket
	outRoot string // cfg.Output without a trailing slash
	rootDir string // the output root's real path, for a file:// root
	log     *zap.Logger
	hub     *hub
	dead    *deadLetters // nil: no dead-letter list
	hlsjs   bool
	mux     *http.ServeMux
	scanMu  sync.Mutex
	docs    map[string]docCache // job.json key → last parsed version
}

// New opens the output (and sources) storage and builds the handlers.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Output == "" {
		return nil, fmt.Errorf("%w: no output root", ErrConfig)
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, outRoot: strings.TrimSuffix(cfg.Output, "/"), docs: map[string]docCache{}}
	var err error
	if s.out, err = storage.Open(ctx, cfg.Output); err != nil {
		return nil, fmt.Errorf("%w: output %s: %v", ErrConfig, cfg.Output, err)
	}
	if u, err := url.Parse(s.outRoot); err == nil && u.Scheme == "file" {
		if real, err := filepath.EvalSymlinks(filepath.FromSlash(u.Path)); err == nil {
			s.rootDir = real
		}
	}
	if cfg.Sources != "" {
		if s.src, err = storage.Open(ctx, cfg.Sources); err != nil {
			s.out.Close()
			return nil, fmt.Errorf("%w: sources %s: %v", ErrConfig, cfg.Sources, err)
		}
	}
	if _, err := fs.Stat(staticFS, HLSJSPath); err == nil {
		s.hlsjs = true
	}
	if cfg.DeadLetters != nil {
		s.dead = &deadLetters{store: cfg.DeadLetters, max: cfg.MaxDeadLetters, cacheFor: cfg.DeadLetterCache}
	}
	s.hub = newHub(cfg.Now)
	s.hub.setInfo(Info{
		Uploads:   s.src != nil && cfg.Queue != nil,
		MaxUpload: cfg.MaxUpload,
		HLSJS:     s.hlsjs,
		Queue:     cfg.Queue != nil,
		DLQ:       cfg.DeadLetters != nil,
		Output:    s.outRoot,
	})
	s.routes()
	return s, nil
}

// Close releases the storage handles; Run must have returned.
func (s *Server) Close() error {
	s.hub.close()
	if s.src != nil {
		s.src.Close()
	}
	return s.out.Close()
}

// Handler is the dashboard's HTTP handler.
func (s *Server) Handler() http.Handler { return s.guard(s.mux) }

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	index, _ := fs.ReadFile(static, "index.html")
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.securityHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
	m.Handle("GET /static/", http.StripPrefix("/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})))
	m.HandleFunc("GET /api/events", s.handleEvents)
	m.HandleFunc("GET /api/state", s.handleState)
	m.HandleFunc("POST /api/upload", s.handleUpload)
	m.HandleFunc("POST /api/dlq/retry", s.handleRetry)
	m.HandleFunc("GET /media/{key...}", s.handleMedia)
	m.HandleFunc("HEAD /media/{key...}", s.handleMedia)
	s.mux = m
}

func (s *Server) securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
}

// guard refuses requests whose Host header names a host other than an IP
// literal, localhost or Config.AllowedHosts (DNS rebinding), and state-changing
// requests that come from another origin (CSRF).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			httpError(w, http.StatusMisdirectedRequest, "host %q is not served here (open the dashboard by its IP address or localhost)", r.Host)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := sameOrigin(r); err != nil {
				httpError(w, http.StatusForbidden, "%v", err)
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(hostport string) bool { return hostAllowed(hostport, s.cfg.AllowedHosts) }

// hostAllowed reports whether a request's Host is an IP literal, localhost
// or one of allowed (DNS rebinding: a page of another site resolving its
// own name to 127.0.0.1 sends that name).
func hostAllowed(hostport string, allowed []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil {
		return true
	}
	for _, a := range allowed {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// errCrossOrigin: a state-changing request from another origin.
var errCrossOrigin = errors.New("cross-origin request refused")

// sameOrigin accepts a request whose Origin (when sent) is this server's own
// origin and whose Sec-Fetch-Site (when sent) is same-origin or none.
// Browsers send Origin on every POST from a page, so a cross-site form or
// fetch is refused; command-line clients send neither and are accepted.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%w (Sec-Fetch-Site: %s)", errCrossOrigin, site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		if o == "null" || (o != "http://"+r.Host && o != "https://"+r.Host) {
			return fmt.Errorf("%w (Origin %s, served as %s)", errCrossOrigin, o, r.Host)
		}
	}
	return nil
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	msg := fmt.Sprintf(format, args...)
	_, _ = w.Write(mustJSON(map[string]string{"error": msg}))
	_, _ = w.Write([]byte("\n"))
}

// Run scans the output root, the queue and the dead letters every
// ScanInterval until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		s.Scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
