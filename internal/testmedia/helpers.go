package testmedia

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// OversizeWidth and OversizeHeight are the dimensions of the clip Oversize
// makes: wider than the 8192-pixel limit the pipeline enforces.
const (
	OversizeWidth  = 8200
	OversizeHeight = 64
)

// skipWithoutFFmpeg skips tb, saying why, when ffmpeg is not installed.
func skipWithoutFFmpeg(tb testing.TB) {
	tb.Helper()
	if !HaveFFmpeg() {
		tb.Skip("testmedia: skipping: ffmpeg is not on PATH (install FFmpeg 5.1 to run media tests)")
	}
}

// Generate writes the clip s describes into a fresh tb.TempDir() and returns
// its path. It skips the test when ffmpeg is missing and fails it, with
// ffmpeg's stderr, when generation fails.
func Generate(tb testing.TB, s Spec) string {
	tb.Helper()
	skipWithoutFFmpeg(tb)
	path, err := GenerateTo(tb.TempDir(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// Garbage returns the path of a file of size pseudo-random bytes that no
// demuxer recognises. The bytes are the same on every call.
func Garbage(tb testing.TB, size int) string {
	tb.Helper()
	if size < 0 {
		tb.Fatalf("testmedia: garbage of %d bytes", size)
	}
	rng := rand.New(rand.NewPCG(0x6861726d, 0x6c657373))
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	return writeTemp(tb, "garbage.bin", buf)
}

// Empty returns the path of a zero-length file named like a video.
func Empty(tb testing.TB) string {
	tb.Helper()
	return writeTemp(tb, "empty.mp4", nil)
}

// Truncate returns the path of a copy of src holding only its first
// fraction (0..1) of bytes, named like src.
func Truncate(tb testing.TB, src string, fraction float64) string {
	tb.Helper()
	path, err := truncateTo(tb.TempDir(), src, fraction)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// truncateTo copies the first fraction of src's bytes into dir.
func truncateTo(dir, src string, fraction float64) (string, error) {
	if !(fraction >= 0 && fraction <= 1) {
		return "", fmt.Errorf("testmedia: truncate fraction %v is not within 0..1", fraction)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("testmedia: truncate: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", fmt.Errorf("testmedia: truncate: %w", err)
	}
	n := int64(float64(fi.Size()) * fraction)
	ext := filepath.Ext(src)
	stem := filepath.Base(src)
	stem = stem[:len(stem)-len(ext)]
	path := filepath.Join(dir, stem+".truncated"+ext)
	out, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("testmedia: truncate: %w", err)
	}
	if _, err := io.CopyN(out, in, n); err != nil {
		out.Close()
		return "", fmt.Errorf("testmedia: truncate %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("testmedia: truncate: %w", err)
	}
	return path, nil
}

// Oversize returns the path of a valid two-frame Matroska clip whose FFV1
// video is OversizeWidth x OversizeHeight (8200x64), over the 8192-pixel
// limit. It skips the test when ffmpeg is missing.
func Oversize(tb testing.TB) string {
	tb.Helper()
	skipWithoutFFmpeg(tb)
	path := filepath.Join(tb.TempDir(), "oversize.mkv")
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25", OversizeWidth, OversizeHeight),
		"-frames:v", "2", "-c:v", "ffv1", "-pix_fmt", "yuv420p", path}
	if err := runFFmpeg(args); err != nil {
		tb.Fatalf("testmedia: oversize: %v", err)
	}
	return path
}

// writeTemp writes data into a fresh temporary directory of tb.
func writeTemp(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(fmt.Errorf("testmedia: write %s: %w", name, err))
	}
	return path
}
