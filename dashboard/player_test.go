package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlayerHandler: the page lists the published masters (dot folders such
// as staging skipped) and plays the first or ?play=, with the poster when
// there is one; files come with their HLS types, CORS and no-cache playlists.
func TestPlayerHandler(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"b/master.m3u8":                     "#EXTM3U\n",
		"b/poster.jpg":                      "jpeg",
		"c/master.m3u8":                     "#EXTM3U\n",
		"c/job.json":                        `{"job_id": "j", "poster": "k3x7q2abcd/poster.jpg"}`,
		"c/k3x7q2abcd/poster.jpg":           "jpeg",
		"d/master.m3u8":                     "#EXTM3U\n",
		"d/job.json":                        `{"job_id": "j", "poster": "../b/poster.jpg"}`,
		"a/master.m3u8":                     "#EXTM3U\n",
		"a/720p/seg_0.ts":                   "ts",
		".hlsfleet-staging-x/c/master.m3u8": "#EXTM3U\n",
		"unfinished/720p/index.m3u8":        "#EXTM3U\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(findMasters(dir), ","); got != "a/master.m3u8,b/master.m3u8,c/master.m3u8,d/master.m3u8" {
		t.Fatalf("findMasters = %s, want a, b, c and d", got)
	}
	h := NewPlayerHandler(dir)
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}

	for _, tc := range []struct {
		target, playing, poster string
	}{
		{"/", "a/master.m3u8", ""},
		{"/?play=b/master.m3u8", "b/master.m3u8", `poster="/b/poster.jpg"`},
		// a fleet output: job.json names the poster in the attempt's folder
		{"/?play=c/master.m3u8", "c/master.m3u8", `poster="/c/k3x7q2abcd/poster.jpg"`},
		// a name that leaves the presentation's folder is not followed
		{"/?play=d/master.m3u8", "d/master.m3u8", ""},
		{"/?play=../etc/master.m3u8", "", ""},
	} {
		rec := get(tc.target)
		page := rec.Body.String()
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: %d %q", tc.target, rec.Code, rec.Header().Get("Content-Type"))
		}
		if !strings.Contains(page, `<a href="/?play=a%2fmaster.m3u8">a/master.m3u8</a>`) || !strings.Contains(page, `<a href="/?play=b%2fmaster.m3u8">b/master.m3u8</a>`) {
			t.Errorf("GET %s does not list both masters:\n%s", tc.target, page)
		}
		if strings.Contains(page, "staging") {
			t.Errorf("GET %s lists a staged master:\n%s", tc.target, page)
		}
		if tc.playing == "" {
			if strings.Contains(page, "<video") {
				t.Errorf("GET %s plays something:\n%s", tc.target, page)
			}
			continue
		}
		if !strings.Contains(page, `src="/`+tc.playing+`"`) {
			t.Errorf("GET %s does not play %s:\n%s", tc.target, tc.playing, page)
		}
		if tc.poster == "" && strings.Contains(page, "poster=") || tc.poster != "" && !strings.Contains(page, tc.poster) {
			t.Errorf("GET %s: want poster %q:\n%s", tc.target, tc.poster, page)
		}
	}

	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/a/master.m3u8", "application/vnd.apple.mpegurl", "no-cache"},
		{"/a/720p/seg_0.ts", "video/mp2t", ""},
		{"/b/poster.jpg", "image/jpeg", ""},
	} {
		rec := get(tc.path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", tc.path, rec.Code)
		}
		hd := rec.Header()
		if hd.Get("Content-Type") != tc.ctype || hd.Get("Cache-Control") != tc.cache || hd.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: Content-Type %q Cache-Control %q CORS %q; want %q %q *", tc.path,
				hd.Get("Content-Type"), hd.Get("Cache-Control"), hd.Get("Access-Control-Allow-Origin"), tc.ctype, tc.cache)
		}
		if body, _ := io.ReadAll(rec.Body); len(body) == 0 {
			t.Errorf("GET %s: empty body", tc.path)
		}
	}
	if rec := get("/nothing.ts"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nothing.ts: %d, want 404", rec.Code)
	}
	empty := NewPlayerHandler(t.TempDir())
	rec := httptest.NewRecorder()
	empty.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(rec.Body.String(), "No presentation (master.m3u8) found yet.") {
		t.Errorf("empty dir page:\n%s", rec.Body.String())
	}
}
