package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/storage/storagetest"
)

func TestFileConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (*storage.Bucket, func()) {
		b, err := storage.Open(context.Background(), "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	})
}

func TestFileReservedNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := storage.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	// Writers in progress and the lock directory stay out of List, and
	// their names cannot be used as keys.
	w, err := b.NewWriter(ctx, "x/y.ts", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := b.WriteAll(ctx, "x/z.ts", []byte("z"), storage.WriterOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	as, err := b.List(ctx, "")
	if err != nil || len(as) != 1 || as[0].Key != "x/z.ts" {
		t.Fatalf("List = %v, %v; want only x/z.ts", as, err)
	}
	for _, k := range []string{".hlsfleet-locks/00", "x/.hlsfleet-tmp-1"} {
		if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".hlsfleet-locks")); err != nil {
		t.Errorf("lock directory: %v", err)
	}
}

func TestFileKeyPrefixOfOtherKey(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "a/b", []byte("1"), storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	// "a" is a directory here: not an object, and cannot become one.
	if _, err := b.Stat(ctx, "a"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat(a) = %v, want ErrNotExist", err)
	}
	if err := b.WriteAll(ctx, "a", []byte("2"), storage.WriterOptions{}); err == nil {
		t.Error("writing a key that is another key's directory succeeded")
	}
	if err := b.WriteAll(ctx, "a/b/c", []byte("3"), storage.WriterOptions{}); err == nil {
		t.Error("writing below an object succeeded")
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete(a) = %v", err)
	}
	if got, err := b.ReadAll(ctx, "a/b"); err != nil || string(got) != "1" {
		t.Errorf("a/b = %q, %v", got, err)
	}
}

// TestFileCASAcrossProcesses runs the counter increment in several processes
// at once (this test binary, re-executed): the flock makes compare-and-swap
// atomic between processes, not only between goroutines.
func TestFileCASAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("HLSFLEET_STORAGE_CAS_CHILD"); dir != "" {
		casChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	b, err := storage.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "counter", []byte("0"), storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	const procs = 4
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFileCASAcrossProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), "HLSFLEET_STORAGE_CAS_CHILD="+dir)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	got, err := b.ReadAll(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(procs * casChildIncrements); string(got) != want {
		t.Fatalf("counter = %s, want %s", got, want)
	}
}

const casChildIncrements = 25

func casChild(t *testing.T, dir string) {
	ctx := context.Background()
	b, err := storage.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < casChildIncrements; i++ {
		for {
			data, a, err := b.ReadAllAttrs(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(string(data))
			if err != nil {
				t.Fatalf("counter holds %q", data)
			}
			err = b.WriteAll(ctx, "counter", []byte(strconv.Itoa(n+1)), storage.WriterOptions{IfMatch: a.ETag})
			if err == nil {
				break
			}
			if !errors.Is(err, storage.ErrPrecondition) {
				t.Fatal(err)
			}
		}
	}
}

// countingDriver counts range reads.
type countingDriver struct {
	storage.Driver
	mu     sync.Mutex
	ranges int
}

func (d *countingDriver) NewRangeReader(ctx context.Context, key string, off, n int64) (storage.Reader, error) {
	d.mu.Lock()
	d.ranges++
	d.mu.Unlock()
	return d.Driver.NewRangeReader(ctx, key, off, n)
}

func TestOpenSeekerReadAhead(t *testing.T) {
	ctx := context.Background()
	fd, err := storage.NewFileDriver(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cd := &countingDriver{Driver: fd}
	b := storage.NewBucket(cd)
	data := bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16) // 9 MiB
	if err := b.WriteAll(ctx, "in.ts", data, storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	s, size, err := b.OpenSeeker(ctx, "in.ts")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if size != int64(len(data)) {
		t.Fatalf("size %d", size)
	}
	// libav reads 32 KiB at a time: 9 MiB is 288 reads but 3 requests.
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("content differs")
	}
	if cd.ranges != 3 {
		t.Errorf("%d range requests for 9 MiB read in 32 KiB pieces, want 3 (4 MiB read-ahead)", cd.ranges)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"file://" + dir, "file://localhost" + dir, dir, filepath.Join(dir, "new", "sub")} {
		b, err := storage.Open(ctx, u)
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if b.String() != u {
			t.Errorf("String() = %q, want %q", b.String(), u)
		}
		b.Close()
	}
	for _, u := range []string{"", "file://host/x", "file://rel", "http://x/y", "s3://", "s3://b/a//b", "s3://b/../x", "file:///x?y=1", "gs://b"} {
		if _, err := storage.Open(ctx, u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	f := filepath.Join(dir, "afile")
	os.WriteFile(f, nil, 0o644)
	if _, err := storage.Open(ctx, "file://"+f); err == nil {
		t.Errorf("Open(a file) succeeded")
	}
}

func TestValidateKey(t *testing.T) {
	for k, ok := range map[string]bool{
		"a": true, "a/b.ts": true, "a b/c+d": true, "é/日本": true, "a..b": true, ".hidden": true,
		"": false, "/a": false, "a/": false, "a//b": false, "..": false, "a/../b": false, ".": false, "a/./b": false,
	} {
		err := storage.ValidateKey(k)
		if (err == nil) != ok {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", k, err, ok)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, not ErrInvalidKey", k, err)
		}
	}
}

func TestContentType(t *testing.T) {
	for k, want := range map[string]string{
		"master.m3u8":      "application/vnd.apple.mpegurl",
		"720p/seg_001.ts":  "video/mp2t",
		"720p/seg_001.m4s": "video/iso.segment",
		"720p/init.mp4":    "video/mp4",
		"thumb.JPG":        "image/jpeg",
		"job.json":         "application/json",
		"noext":            "application/octet-stream",
	} {
		if got := storage.ContentType(k); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Stat(ctx, "some/missing key.ts")
	if !errors.Is(err, storage.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte(`"some/missing key.ts"`)) {
		t.Fatalf("error %q: want ErrNotExist naming the key", err)
	}
}

func TestWriterContextCanceled(t *testing.T) {
	b, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	w, err := b.NewWriter(ctx, "c.ts", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "data")
	cancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after cancel = %v, want context.Canceled", err)
	}
	if _, err := b.Stat(context.Background(), "c.ts"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("canceled write published: %v", err)
	}
}
