package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hlsfleet/hlsfleet/storage"
)

// DownloadAll copies the objects under a prefix with their folders, and
// nothing outside it.
func TestDownloadAll(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for key, body := range map[string]string{"out/720p/a/seg.ts": "seg", "out/master.m3u8": "m", "other/x": "x"} {
		if err := b.WriteAll(ctx, key, []byte(body), storage.WriterOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := b.DownloadAll(ctx, "out/", dir); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"out/720p/a/seg.ts": "seg", "out/master.m3u8": "m"} {
		if got, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", rel, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); !os.IsNotExist(err) {
		t.Errorf("an object outside the prefix was downloaded: %v", err)
	}
}
