package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/hlsfleet/hlsfleet/storage"
)

// errBadPath: a media path that could leave the output root or names a
// hidden (staging) object.
var errBadPath = errors.New("bad media path")

// validKey accepts a storage key with no "." or ".." segments, no hidden
// segment, no backslash and no empty segment.
func validKey(k string) error {
	if strings.ContainsAny(k, "\\\x00") {
		return fmt.Errorf("%w: %q", errBadPath, k)
	}
	if err := storage.ValidateKey(k); err != nil {
		return fmt.Errorf("%w: %v", errBadPath, err)
	}
	if hiddenKey(k) {
		return fmt.Errorf("%w: %q names a hidden object", errBadPath, k)
	}
	return nil
}

// handleMedia serves one object below the output root, with ranges, the
// content type hlsfleet stores and no caching of playlists (live ones change).
func (s *Server) handleMedia(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := validKey(key); err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := s.insideRoot(key); err != nil {
		httpError(w, http.StatusForbidden, "%v", err)
		return
	}
	a, err := s.out.Stat(r.Context(), key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			httpError(w, http.StatusNotFound, "%s: not found", key)
			return
		}
		httpError(w, http.StatusBadGateway, "%v", err)
		return
	}
	rs, _, err := s.out.OpenSeeker(r.Context(), key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			httpError(w, http.StatusNotFound, "%s: not found", key)
			return
		}
		httpError(w, http.StatusBadGateway, "%v", err)
		return
	}
	defer rs.Close()
	h := w.Header()
	h.Set("Content-Type", storage.ContentType(key))
	if strings.HasSuffix(key, ".m3u8") || path.Base(key) == "job.json" {
		h.Set("Cache-Control", "no-cache")
	}
	if a.ETag != "" {
		h.Set("ETag", `"`+strings.Trim(a.ETag, `"`)+`"`)
	}
	http.ServeContent(w, r, path.Base(key), a.ModTime, rs)
}

// insideRoot refuses, for a file:// output root, a key whose real path
// (symbolic links resolved) lies outside the root's real path. A missing
// file passes (the storage then answers not found).
func (s *Server) insideRoot(key string) error {
	if s.rootDir == "" {
		return nil
	}
	real, err := filepath.EvalSymlinks(filepath.Join(s.rootDir, filepath.FromSlash(key)))
	if err != nil {
		return nil
	}
	rel, err := filepath.Rel(s.rootDir, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%w: %q leads outside the output root", errBadPath, key)
	}
	return nil
}
