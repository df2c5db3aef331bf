package dashboard

import (
	"encoding/json"
	"html/template"
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

// NewPlayerHandler is the static player of `hlsfleet serve DIR`: "/" is a
// page listing every published master.m3u8 below dir and playing one
// (?play=REL, default the first), and every other path is a file of dir,
// served with CORS open and playlists not cached.
func NewPlayerHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			if strings.HasSuffix(r.URL.Path, ".m3u8") {
				w.Header().Set("Cache-Control", "no-cache")
			}
			files.ServeHTTP(w, r)
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
	})
}

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
