package testmedia

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// cacheVersion is part of every cache key: bump it when a generator
// changes in a way its ffmpeg arguments do not show.
const cacheVersion = "testmedia-cache-1"

// CacheEnv names the environment variable that overrides CacheDir.
const CacheEnv = "HLSFLEET_TESTMEDIA_CACHE"

// CacheDir is where Cached and GenerateCached keep the clips they make:
// $HLSFLEET_TESTMEDIA_CACHE, else hlsfleet-testmedia under the user's cache
// directory (~/.cache), else under the temporary directory. Never inside
// the repository. Entries are named by a hash of everything that makes
// the file (the ffmpeg version and arguments), so a changed generator
// makes new entries; delete the folder to reclaim the space.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hlsfleet-testmedia")
	}
	return filepath.Join(os.TempDir(), "hlsfleet-testmedia")
}

var (
	versionOnce sync.Once
	versionLine string
)

// ffmpegVersion is the first line of `ffmpeg -version` ("" when it fails).
func ffmpegVersion() string {
	versionOnce.Do(func() {
		out, err := exec.Command("ffmpeg", "-version").Output()
		if err == nil {
			versionLine, _, _ = strings.Cut(string(out), "\n")
		}
	})
	return versionLine
}

// cacheKey hashes the parts that make a cached file.
func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range append([]string{cacheVersion, ffmpegVersion()}, parts...) {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// specKey is the cache key of a defaulted, validated spec.
func specKey(s Spec) string {
	parts := ffmpegArgs(s, "OUT")
	if s.Rotate != 0 {
		parts = append(parts, rotateArgs("IN", "OUT", s.Rotate)...)
	}
	return cacheKey(append(parts, s.FileName())...)
}

// GenerateCached returns the path of the clip s describes in CacheDir,
// generating it first when no earlier run (of this or another test
// binary, of this or another package) did. Concurrent callers, in this
// process or others, wait for one generation: a file lock per entry, the
// clip made in a temporary folder and renamed into place whole.
func GenerateCached(s Spec) (string, error) {
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return "", err
	}
	if !HaveFFmpeg() {
		return "", ErrNoFFmpeg
	}
	return cached(specKey(s), s.FileName(), func(dir string) (string, error) { return GenerateTo(dir, s) })
}

// Cached is GenerateCached for tests: it skips tb when ffmpeg is missing
// and fails it when generation fails.
func Cached(tb testing.TB, s Spec) string {
	tb.Helper()
	skipWithoutFFmpeg(tb)
	path, err := GenerateCached(s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// cached returns CacheDir/key/name, calling gen (which writes name into
// the folder it is given) under the entry's lock when it does not exist.
func cached(key, name string, gen func(dir string) (string, error)) (string, error) {
	root := CacheDir()
	final := filepath.Join(root, key, name)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testmedia: cache lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(final); err == nil {
		return final, nil // another caller made it while this one waited
	}
	tmp, err := os.MkdirTemp(root, key+".tmp-")
	if err != nil {
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	// Gone after the rename; a failed attempt's leftovers otherwise.
	defer os.RemoveAll(tmp)
	// MkdirTemp makes it 0700: other users share the cache.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	made, err := gen(tmp)
	if err != nil {
		return "", err
	}
	if filepath.Base(made) != name {
		return "", fmt.Errorf("testmedia: cache: made %s, want %s", made, name)
	}
	if err := os.RemoveAll(filepath.Join(root, key)); err != nil { // a partial entry of a crashed run
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, key)); err != nil {
		return "", fmt.Errorf("testmedia: cache: %w", err)
	}
	return final, nil
}
