package dashboard

import (
	"compress/gzip"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hlsfleet/hlsfleet/job"
)

func init() {
	// Go's table lacks or misnames these; players are strict about them.
	_ = mime.AddExtensionType(".m3u8", "application/vnd.apple.mpegurl")
	_ = mime.AddExtensionType(".ts", "video/mp2t")
	_ = mime.AddExtensionType(".m4s", "video/iso.segment")
	_ = mime.AddExtensionType(".mp4", "video/mp4")
}

var playerPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hlsfleet</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:960px}video{width:100%;background:#000}li{margin:.3rem 0}code{background:#eee;padding:0 .3em}</style>
</head><body>
<h1>hlsfleet</h1>
{{if .Current}}<p>Playing <code>{{.Current}}</code></p>
<video id="player" controls autoplay muted playsinline src="/{{.Current}}"{{if .Poster}} poster="/{{.Poster}}"{{end}}></video>
<p id="note"></p>
<script>
const v = document.getElementById('player');
if (!v.canPlayType('application/vnd.apple.mpegurl')) {
  document.getElementById('note').textContent = 'This browser does not play HLS natively; open the master in Safari, Chromium or a player such as hls.js.';
}
</script>{{else}}<p>No presentation (master.m3u8) found yet.</p>{{end}}
<h2>Presentations</h2><ul>{{range .Masters}}<li><a href="/?play={{.}}">{{.}}</a></li>{{end}}</ul>
</body></html>`))

type playerPageData struct {
	Current, Poster string
	Masters         []string
}

// PlayerOptions configure NewPlayerHandler.
type PlayerOptions struct {
	// CORS is the Access-Control-Allow-Origin sent with files ("" sends
	// none: only the player page itself, same origin, reads them).
	CORS string
	// AllowedHosts are the Host names answered besides IP literals and
	// localhost (as the dashboard's Config.AllowedHosts).
	AllowedHosts []string
}

// NewPlayerHandler is the static player of `hlsfleet serve DIR`: "/" is a
// page listing every published master.m3u8 below dir and playing one
// (?play=REL, default the first), and every other path is a file of dir:
// read through an os.Root, so no symlink leads out of dir; no dot-file or
// dot-folder, no folder listing; playlists not cached and gzipped for
// clients that accept it; CORS only as opt.CORS says; a foreign Host gets
// 421 (issue N).
func NewPlayerHandler(dir string, opt PlayerOptions) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !hostAllowed(r.Host, opt.AllowedHosts) {
			httpError(w, http.StatusMisdirectedRequest, "host %q is not served here (open it by its IP address or localhost)", r.Host)
			return
		}
		if r.URL.Path != "/" {
			serveFile(w, r, root, opt.CORS)
			return
		}
		masters := findMasters(dir)
		d := playerPageData{Masters: masters}
		if p := r.URL.Query().Get("play"); p != "" {
			for _, m := range masters {
				if m == p {
					d.Current = m
				}
			}
		} else if len(masters) > 0 {
			d.Current = masters[0]
		}
		if d.Current != "" {
			d.Poster = posterOf(dir, d.Current)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = playerPage.Execute(w, d)
	}), nil
}

// serveFile answers GET or HEAD of one regular file of root.
func serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, cors string) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httpError(w, http.StatusMethodNotAllowed, "%s is not allowed", r.Method)
		return
	}
	if name == "" || hiddenKey(name) {
		http.NotFound(w, r)
		return
	}
	f, err := root.Open(name) // refuses a symlink out of the root
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r) // no listings
		return
	}
	if cors != "" {
		w.Header().Set("Access-Control-Allow-Origin", cors)
	}
	if !strings.HasSuffix(name, ".m3u8") {
		http.ServeContent(w, r, name, fi.ModTime(), f)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") || fi.Size() > maxGzipPlaylist {
		http.ServeContent(w, r, name, fi.ModTime(), f)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(".m3u8"))
	w.Header().Set("Content-Encoding", "gzip")
	if r.Method == http.MethodHead {
		return
	}
	gz := gzip.NewWriter(w)
	_, _ = io.Copy(gz, f)
	_ = gz.Close()
}

// maxGzipPlaylist is the largest playlist gzipped on the fly.
const maxGzipPlaylist = 8 << 20

// posterOf is the poster of the presentation whose master is master
// (slash-separated, relative to dir), or "": the one the job.json beside the
// master names (a fleet output keeps it in the publishing attempt's
// folder), else poster.jpg beside the master; the file must exist inside
// the presentation's folder.
func posterOf(dir, master string) string {
	base := path.Dir(master)
	var names []string
	if data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Join(base, job.StatusName)))); err == nil {
		var st job.Status
		if json.Unmarshal(data, &st) == nil && st.Poster != "" {
			names = append(names, st.Poster)
		}
	}
	for _, n := range append(names, job.PosterName) {
		p := path.Join(base, n)
		if path.IsAbs(n) || base != "." && !strings.HasPrefix(p, base+"/") || p == ".." || strings.HasPrefix(p, "../") || hiddenKey(p) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// findMasters lists every published master.m3u8 below dir, slash-separated.
func findMasters(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != dir {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == job.MasterName {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
