package dashboard

import (
	"compress/gzip"
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
	h, err := NewPlayerHandler(dir, PlayerOptions{CORS: "*"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "127.0.0.1:8080"
		h.ServeHTTP(rec, req)
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
	empty, err := NewPlayerHandler(t.TempDir(), PlayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "localhost"
	empty.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "No presentation (master.m3u8) found yet.") {
		t.Errorf("empty dir page:\n%s", rec.Body.String())
	}
}

// TestPlayerHardened: what `serve DIR` refused to do after issue N: follow
// a symlink out of the root, serve dot-files or folder listings, send CORS
// unless asked, answer a foreign Host.
func TestPlayerHardened(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	write := func(p, body string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "passwd"), "root:x:0:0")
	write(filepath.Join(dir, "v", "master.m3u8"), "#EXTM3U\n"+strings.Repeat("#EXT-X-VERSION:3\n", 50))
	write(filepath.Join(dir, ".git", "config"), "secret")
	write(filepath.Join(dir, "v", ".env"), "secret")
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(dir, "v", "p.ts")); err != nil {
		t.Fatal(err)
	}
	h, err := NewPlayerHandler(dir, PlayerOptions{AllowedHosts: []string{"media.example"}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target, host string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, target := range []string{"/v/p.ts", "/.git/config", "/v/.env", "/v/", "/v", "/../" + filepath.Base(outside) + "/passwd"} {
		if rec := get(target, "127.0.0.1:8080"); rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "root:x") || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("GET %s: %d %q, want 404", target, rec.Code, rec.Body.String())
		}
	}
	rec := get("/v/master.m3u8", "localhost:8080")
	if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET master: %d, CORS %q; want 200 and no CORS without --cors", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if rec := get("/v/master.m3u8", "evil.example"); rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("GET with a foreign Host: %d, want 421", rec.Code)
	}
	if rec := get("/v/master.m3u8", "media.example"); rec.Code != http.StatusOK {
		t.Errorf("GET with an allowed Host: %d, want 200", rec.Code)
	}
	rec = get("/v/master.m3u8", "127.0.0.1", "Accept-Encoding", "gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("playlist not gzipped: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(zr); !strings.HasPrefix(string(body), "#EXTM3U") {
		t.Errorf("gzipped playlist reads %q", body)
	}
}
