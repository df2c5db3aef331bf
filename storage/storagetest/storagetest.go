// Package storagetest is the conformance suite every storage driver passes:
// a driver's test calls Run with a function that opens a fresh, empty
// bucket, and the suite checks the contracts of storage.Driver and
// storage.Bucket against it.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/storage"
)

// Harness opens a fresh, empty bucket for one test and returns it with a
// cleanup function (called when the test ends, after the bucket is closed).
type Harness func(t *testing.T) (b *storage.Bucket, cleanup func())

// Run runs the conformance suite, each check as a subtest with its own
// bucket from h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b *storage.Bucket)
	}{
		{"WriteReadStat", testWriteReadStat},
		{"EmptyObject", testEmptyObject},
		{"List", testList},
		{"Delete", testDelete},
		{"RangeReads", testRangeReads},
		{"AbortLeavesNothing", testAbort},
		{"UnclosedWriterInvisible", testUnclosedInvisible},
		{"LargeObject", testLargeObject},
		{"ConditionalCreate", testConditionalCreate},
		{"ConditionalCreateRace", testConditionalCreateRace},
		{"ConditionalCreateLarge", testConditionalCreateLarge},
		{"IfMatch", testIfMatch},
		{"IfMatchCounter", testIfMatchCounter},
		{"OpenSeeker", testOpenSeeker},
		{"Download", testDownload},
		{"OddKeys", testOddKeys},
		{"BadKeys", testBadKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, cleanup := h(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Bucket.Close: %v", err)
				}
				if cleanup != nil {
					cleanup()
				}
			})
			tc.fn(t, b)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randBytes(seed int64, n int) []byte {
	p := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(p)
	return p
}

func mustWrite(t *testing.T, b *storage.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.WriteAll(ctxFor(t), key, data, storage.WriterOptions{}); err != nil {
		t.Fatalf("WriteAll(%q): %v", key, err)
	}
}

func mustRead(t *testing.T, b *storage.Bucket, key string) []byte {
	t.Helper()
	data, err := b.ReadAll(ctxFor(t), key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	return data
}

func wantNotExist(t *testing.T, b *storage.Bucket, key string) {
	t.Helper()
	if _, err := b.Stat(ctxFor(t), key); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Stat(%q) = %v, want ErrNotExist", key, err)
	}
}

func keys(as []storage.Attrs) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Key
	}
	return out
}

// skipIfUnsupported skips the test when err says the backend lacks a
// feature; the skip message carries the backend's own words.
func skipIfUnsupported(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, storage.ErrNotSupported) {
		t.Skipf("%s is not supported by this backend: %v", what, err)
	}
}

func testWriteReadStat(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	key := "vod/job1/720p/seg_00001.ts"
	wantNotExist(t, b, key)
	if _, err := b.ReadAll(ctx, key); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("ReadAll(missing) = %v, want ErrNotExist", err)
	}
	if _, err := b.NewReader(ctx, key); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("NewReader(missing) = %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}

	before := time.Now().Add(-2 * time.Minute)
	data := randBytes(1, 1000)
	mustWrite(t, b, key, data)
	if got := mustRead(t, b, key); !bytes.Equal(got, data) {
		t.Fatalf("ReadAll returned %d bytes, not what was written", len(got))
	}
	a, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != key || a.Size != 1000 || a.ETag == "" {
		t.Fatalf("Stat = %+v, want key %q, size 1000, an ETag", a, key)
	}
	if a.ModTime.Before(before) || a.ModTime.After(time.Now().Add(2*time.Minute)) {
		t.Errorf("Stat ModTime = %v, want about now", a.ModTime)
	}
	got, ra, err := b.ReadAllAttrs(ctx, key)
	if err != nil || !bytes.Equal(got, data) || ra.ETag != a.ETag || ra.Size != a.Size {
		t.Fatalf("ReadAllAttrs = %d bytes, %+v, %v; want the data and Stat's %+v", len(got), ra, err, a)
	}

	// Overwrite: new content, new ETag.
	data2 := randBytes(2, 500)
	mustWrite(t, b, key, data2)
	if got := mustRead(t, b, key); !bytes.Equal(got, data2) {
		t.Fatal("ReadAll after overwrite does not return the new data")
	}
	a2, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Size != 500 || a2.ETag == a.ETag {
		t.Fatalf("Stat after overwrite = %+v (before: %+v), want size 500 and a new ETag", a2, a)
	}

	// Writing through a Writer in pieces.
	w, err := b.NewWriter(ctx, "pieces.json", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(w, "%d,", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if got := string(mustRead(t, b, "pieces.json")); got != "0,1,2,3,4,5,6,7,8,9," {
		t.Fatalf("pieces.json = %q", got)
	}
}

func testEmptyObject(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "empty", nil)
	a, err := b.Stat(ctx, "empty")
	if err != nil || a.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", a, err)
	}
	if got := mustRead(t, b, "empty"); len(got) != 0 {
		t.Fatalf("ReadAll(empty) = %d bytes", len(got))
	}
	r, err := b.NewRangeReader(ctx, "empty", 0, 10)
	if err != nil {
		t.Fatalf("NewRangeReader(empty, 0, 10): %v", err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Fatalf("range of an empty object = %d bytes, %v", len(got), err)
	}
}

func testList(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	all := []string{
		"a.txt",
		"out/720p/seg_1.ts",
		"out/720p/seg_2.ts",
		"out/720p.m3u8",
		"out/master.m3u8",
		"out/1080p/seg_1.ts",
		"out2/x",
		"z/deep/er/still/file",
	}
	for i, k := range all {
		mustWrite(t, b, k, bytes.Repeat([]byte{'x'}, i+1))
	}
	sorted := append([]string(nil), all...)
	for i := range sorted { // a tiny insertion sort keeps this file free of sort/slices subtleties
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"out/", []string{"out/1080p/seg_1.ts", "out/720p.m3u8", "out/720p/seg_1.ts", "out/720p/seg_2.ts", "out/master.m3u8"}},
		{"out", []string{"out/1080p/seg_1.ts", "out/720p.m3u8", "out/720p/seg_1.ts", "out/720p/seg_2.ts", "out/master.m3u8", "out2/x"}},
		{"out/7", []string{"out/720p.m3u8", "out/720p/seg_1.ts", "out/720p/seg_2.ts"}},
		{"out/720p/", []string{"out/720p/seg_1.ts", "out/720p/seg_2.ts"}},
		{"out/master.m3u8", []string{"out/master.m3u8"}},
		{"z/deep/", []string{"z/deep/er/still/file"}},
		{"nothing/", nil},
		{"nothing", nil},
		{"a.txt/", nil},
	} {
		as, err := b.List(ctx, tc.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		if got := keys(as); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	as, err := b.List(ctx, "out/master")
	if err != nil || len(as) != 1 {
		t.Fatalf("List(out/master) = %v, %v", as, err)
	}
	st, err := b.Stat(ctx, "out/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	if as[0].Size != 5 || as[0].Size != st.Size || as[0].ETag == "" {
		t.Errorf("List entry %+v, Stat %+v: want size 5 and an ETag", as[0], st)
	}
}

func testDelete(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "d/1", []byte("one"))
	mustWrite(t, b, "d/2", []byte("two"))
	if err := b.Delete(ctx, "d/1"); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, b, "d/1")
	if err := b.Delete(ctx, "d/1"); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	if err := b.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete(never written) = %v, want nil", err)
	}
	as, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(as); len(got) != 1 || got[0] != "d/2" {
		t.Fatalf("List after delete = %q, want [d/2]", got)
	}
	if err := b.Delete(ctx, "d/2"); err != nil {
		t.Fatal(err)
	}
	// Writing under a prefix that a delete emptied works.
	mustWrite(t, b, "d/3", []byte("three"))
	if got := string(mustRead(t, b, "d/3")); got != "three" {
		t.Fatalf("d/3 = %q", got)
	}
}

func testRangeReads(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	data := randBytes(3, 10000)
	mustWrite(t, b, "r.bin", data)
	st, err := b.Stat(ctx, "r.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"whole", 0, -1, data},
		{"first byte", 0, 1, data[:1]},
		{"middle", 1234, 4321, data[1234 : 1234+4321]},
		{"to end", 9000, -1, data[9000:]},
		{"exactly to end", 9000, 1000, data[9000:]},
		{"last byte", 9999, 1, data[9999:]},
		{"past end", 9500, 1000, data[9500:]},
		{"at end", 10000, 10, nil},
		{"at end, to end", 10000, -1, nil},
		{"beyond end", 20000, 10, nil},
		{"beyond end, to end", 20000, -1, nil},
		{"zero length", 500, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := b.NewRangeReader(ctx, "r.bin", tc.offset, tc.length)
			if err != nil {
				t.Fatalf("NewRangeReader(%d, %d): %v", tc.offset, tc.length, err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("reading range: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("range (%d, %d) = %d bytes, want %d (contents differ: %v)", tc.offset, tc.length, len(got), len(tc.want), len(got) == len(tc.want))
			}
			if a := r.Attrs(); a.Size != 10000 || a.ETag != st.ETag {
				t.Errorf("range reader Attrs = %+v, want the object's size 10000 and ETag %q", a, st.ETag)
			}
		})
	}
	if _, err := b.NewRangeReader(ctx, "r.bin", -1, 10); err == nil {
		t.Error("negative offset accepted")
	}
	if _, err := b.NewRangeReader(ctx, "r.bin", 0, -2); err == nil {
		t.Error("length -2 accepted")
	}
	if _, err := b.NewRangeReader(ctx, "missing.bin", 10, 10); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("range of a missing key = %v, want ErrNotExist", err)
	}
	if _, err := b.NewRangeReader(ctx, "missing.bin", 0, 0); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("empty range of a missing key = %v, want ErrNotExist", err)
	}
}

func testAbort(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	w, err := b.NewWriter(ctx, "aborted/new.ts", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(randBytes(4, 100000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Close(); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Close after Abort = %v, want ErrClosed", err)
	}
	wantNotExist(t, b, "aborted/new.ts")

	// Aborting a replacement leaves the old object.
	mustWrite(t, b, "aborted/old.ts", []byte("old"))
	w, err = b.NewWriter(ctx, "aborted/old.ts", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("new new new")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, b, "aborted/old.ts")); got != "old" {
		t.Fatalf("after an aborted replacement the object is %q, want %q", got, "old")
	}
	// Aborting before any write, and a conditional writer.
	for _, opts := range []storage.WriterOptions{{}, {IfNoneMatch: true}} {
		w, err = b.NewWriter(ctx, "aborted/empty", opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	wantNotExist(t, b, "aborted/empty")
	as, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(as); len(got) != 1 || got[0] != "aborted/old.ts" {
		t.Fatalf("List after aborts = %q, want only aborted/old.ts", got)
	}
}

func testUnclosedInvisible(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "vis/old", []byte("old"))
	w1, err := b.NewWriter(ctx, "vis/new", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := b.NewWriter(ctx, "vis/old", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A few KiB: enough that a streaming writer has sent something.
	if _, err := w1.Write(randBytes(5, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Write([]byte("replacement")); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, b, "vis/new")
	if got := string(mustRead(t, b, "vis/old")); got != "old" {
		t.Fatalf("before Close the replaced object reads %q, want %q", got, "old")
	}
	as, err := b.List(ctx, "vis/")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(as); len(got) != 1 || got[0] != "vis/old" {
		t.Fatalf("List before Close = %q, want [vis/old]", got)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if a, err := b.Stat(ctx, "vis/new"); err != nil || a.Size != 64<<10 {
		t.Fatalf("after Close Stat = %+v, %v", a, err)
	}
	if got := string(mustRead(t, b, "vis/old")); got != "replacement" {
		t.Fatalf("after Close the replaced object reads %q", got)
	}
}

// testLargeObject writes more than one S3 part (8 MiB) in odd-sized pieces.
func testLargeObject(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	data := randBytes(6, 19<<20+12345)
	w, err := b.NewWriter(ctx, "big/source.mp4", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 777777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, b, "big/source.mp4")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	r, err := b.NewRangeReader(ctx, "big/source.mp4", 8<<20-10, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	part, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(part, data[8<<20-10:8<<20+10]) {
		t.Fatalf("range across the part boundary: %d bytes, %v", len(part), err)
	}
}

func testConditionalCreate(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	key := "vod/job/master.m3u8"
	err := b.WriteAll(ctx, key, []byte("#EXTM3U first"), storage.WriterOptions{IfNoneMatch: true})
	skipIfUnsupported(t, "conditional create (If-None-Match: *)", err)
	if err != nil {
		t.Fatalf("first conditional create: %v", err)
	}
	err = b.WriteAll(ctx, key, []byte("#EXTM3U second"), storage.WriterOptions{IfNoneMatch: true})
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second conditional create = %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key", err)
	}
	if got := string(mustRead(t, b, key)); got != "#EXTM3U first" {
		t.Fatalf("after a lost create the object is %q", got)
	}
	// Deleted, it can be created again.
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, key, []byte("#EXTM3U third"), storage.WriterOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if _, err := b.NewWriter(ctx, key, storage.WriterOptions{IfNoneMatch: true, IfMatch: "x"}); err == nil {
		t.Error("IfNoneMatch with IfMatch accepted")
	}
}

// testConditionalCreateRace has two writers publish the same key at the same
// moment, many times over: exactly one wins each round.
func testConditionalCreateRace(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	const rounds = 10
	for round := 0; round < rounds; round++ {
		key := fmt.Sprintf("race/%d/master.m3u8", round)
		var ws [2]storage.Writer
		for i := range ws {
			w, err := b.NewWriter(ctx, key, storage.WriterOptions{IfNoneMatch: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Fprintf(w, "writer %d", i); err != nil {
				t.Fatal(err)
			}
			ws[i] = w
		}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = ws[i].Close()
			}()
		}
		close(start)
		wg.Wait()
		skipIfUnsupported(t, "conditional create (If-None-Match: *)", errors.Join(errs[0], errs[1]))
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both writers published", round)
				}
				winner = i
			case !errors.Is(err, storage.ErrExists):
				t.Fatalf("round %d: writer %d: %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer published: %v", round, errs)
		}
		if got := string(mustRead(t, b, key)); got != fmt.Sprintf("writer %d", winner) {
			t.Fatalf("round %d: object is %q, but writer %d won", round, got, winner)
		}
	}
}

// testConditionalCreateLarge checks a conditional create of a multipart-sized
// object (S3 evaluates it at CompleteMultipartUpload).
func testConditionalCreateLarge(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	data := randBytes(7, 9<<20)
	err := b.WriteAll(ctx, "large/once.mp4", data, storage.WriterOptions{IfNoneMatch: true})
	skipIfUnsupported(t, "conditional create of a multipart object", err)
	if err != nil {
		t.Fatal(err)
	}
	err = b.WriteAll(ctx, "large/once.mp4", randBytes(8, 9<<20), storage.WriterOptions{IfNoneMatch: true})
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second large conditional create = %v, want ErrExists", err)
	}
	if got := mustRead(t, b, "large/once.mp4"); !bytes.Equal(got, data) {
		t.Fatal("a lost large create changed the object")
	}
	// A large compare-and-swap too.
	st, err := b.Stat(ctx, "large/once.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "large/once.mp4", data[:8<<20+1], storage.WriterOptions{IfMatch: "\"0000\""}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("large write with a wrong IfMatch = %v, want ErrPrecondition", err)
	}
	if err := b.WriteAll(ctx, "large/once.mp4", data[:8<<20+1], storage.WriterOptions{IfMatch: st.ETag}); err != nil {
		t.Fatalf("large write with the right IfMatch: %v", err)
	}
	if a, err := b.Stat(ctx, "large/once.mp4"); err != nil || a.Size != 8<<20+1 {
		t.Fatalf("after the large CAS: %+v, %v", a, err)
	}
}

func testIfMatch(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	key := "live/stream/index.m3u8"
	err := b.WriteAll(ctx, key, []byte("v1"), storage.WriterOptions{IfMatch: "\"nothing-here\""})
	skipIfUnsupported(t, "compare-and-swap (If-Match)", err)
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("IfMatch on a missing key = %v, want ErrPrecondition", err)
	}
	wantNotExist(t, b, key)

	mustWrite(t, b, key, []byte("v1"))
	a1, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, key, []byte("v2"), storage.WriterOptions{IfMatch: a1.ETag}); err != nil {
		t.Fatalf("IfMatch with the current ETag: %v", err)
	}
	a2, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if a2.ETag == a1.ETag {
		t.Fatalf("ETag did not change on write: %q", a2.ETag)
	}
	// The stale ETag loses and changes nothing.
	err = b.WriteAll(ctx, key, []byte("v3 stale"), storage.WriterOptions{IfMatch: a1.ETag})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("IfMatch with a stale ETag = %v, want ErrPrecondition", err)
	}
	if got := string(mustRead(t, b, key)); got != "v2" {
		t.Fatalf("after a lost CAS the object is %q, want v2", got)
	}
	// The fresh one wins; an ETag from ReadAllAttrs works too.
	_, ra, err := b.ReadAllAttrs(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, key, []byte("v3"), storage.WriterOptions{IfMatch: ra.ETag}); err != nil {
		t.Fatalf("IfMatch with the fresh ETag: %v", err)
	}
	if got := string(mustRead(t, b, key)); got != "v3" {
		t.Fatalf("object is %q, want v3", got)
	}
	// A deleted object fails IfMatch.
	a3, _ := b.Stat(ctx, key)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, key, []byte("v4"), storage.WriterOptions{IfMatch: a3.ETag}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("IfMatch after delete = %v, want ErrPrecondition", err)
	}
	wantNotExist(t, b, key)
}

// testIfMatchCounter has 8 goroutines increment a counter object with
// compare-and-swap retries; no increment may be lost.
func testIfMatchCounter(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	const workers, each = 8, 8
	key := "counter"
	mustWrite(t, b, key, []byte("0"))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var mu sync.Mutex
	retries := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for attempt := 0; ; attempt++ {
					if attempt == 1000 {
						errs <- errors.New("1000 lost CAS rounds in a row")
						return
					}
					data, a, err := b.ReadAllAttrs(ctx, key)
					if err != nil {
						errs <- err
						return
					}
					n, err := strconv.Atoi(string(data))
					if err != nil {
						errs <- fmt.Errorf("counter holds %q", data)
						return
					}
					err = b.WriteAll(ctx, key, []byte(strconv.Itoa(n+1)), storage.WriterOptions{IfMatch: a.ETag})
					if err == nil {
						break
					}
					if !errors.Is(err, storage.ErrPrecondition) {
						errs <- err
						return
					}
					mu.Lock()
					retries++
					mu.Unlock()
					time.Sleep(time.Duration(rand.Intn(2000)) * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		skipIfUnsupported(t, "compare-and-swap (If-Match)", err)
		t.Fatal(err)
	}
	if got := string(mustRead(t, b, key)); got != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s after %d increments (%d CAS retries)", got, workers*each, retries)
	}
	t.Logf("%d increments with %d CAS retries", workers*each, retries)
}

func testOpenSeeker(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	data := randBytes(9, 10<<20+333) // more than two read-ahead buffers
	mustWrite(t, b, "src/input.mp4", data)
	s, size, err := b.OpenSeeker(ctx, "src/input.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if size != int64(len(data)) {
		t.Fatalf("OpenSeeker size = %d, want %d", size, len(data))
	}
	checkRandomSeeks(t, s, data)
	// Reading everything sequentially in libav-sized pieces.
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{s}, size+10))
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("sequential read: %d bytes, %v", len(all), err)
	}
	buf := make([]byte, 300000)
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := s.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1 accepted")
	}
	checkReadAt(t, s, data)
	// Replacing the object under an open seeker makes reads fail, not mix.
	mustWrite(t, b, "src/input.mp4", randBytes(11, len(data)))
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(struct{ io.Reader }{s})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("reading a replaced object = %v, want ErrPrecondition", err)
	}
	if _, _, err := b.OpenSeeker(ctx, "src/missing.mp4"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("OpenSeeker(missing) = %v, want ErrNotExist", err)
	}
	mustWrite(t, b, "src/empty.mp4", nil)
	es, esize, err := b.OpenSeeker(ctx, "src/empty.mp4")
	if err != nil || esize != 0 {
		t.Fatalf("OpenSeeker(empty) = %d, %v", esize, err)
	}
	if n, err := es.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read(empty) = %d, %v", n, err)
	}
	es.Close()
}

// checkRandomSeeks seeks s, a seeker over data, at random from every
// whence, and reads after each seek, comparing with a local copy.
func checkRandomSeeks(t *testing.T, s io.ReadSeeker, data []byte) {
	local := bytes.NewReader(data)
	size := int64(len(data))
	rng := rand.New(rand.NewSource(10))
	bufA, bufB := make([]byte, 300000), make([]byte, 300000)
	for i := 0; i < 300; i++ {
		var off int64
		whence := rng.Intn(3)
		switch whence {
		case io.SeekStart:
			off = rng.Int63n(size + 100)
		case io.SeekCurrent:
			off = rng.Int63n(2<<20) - 1<<20
			cur, _ := local.Seek(0, io.SeekCurrent)
			if cur+off < 0 {
				off = -cur
			}
		case io.SeekEnd:
			off = -rng.Int63n(size)
		}
		want, err1 := local.Seek(off, whence)
		got, err2 := s.Seek(off, whence)
		if err1 != nil || err2 != nil || got != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; local copy: %d, %v", off, whence, got, err2, want, err1)
		}
		n := 1 + rng.Intn(40000)
		if i%25 == 0 {
			n = len(bufA) // now and then a read larger than... well, large
		}
		na, ea := io.ReadFull(local, bufA[:n])
		nb, eb := io.ReadFull(s, bufB[:n])
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) || (ea == nil) != (eb == nil) {
			t.Fatalf("read %d at %d: seeker %d bytes, %v; local copy %d bytes, %v", n, want, nb, eb, na, ea)
		}
	}
}

// checkReadAt checks that s, a seeker over data, is an io.ReaderAt that
// reads inside the object and up to its end.
func checkReadAt(t *testing.T, s io.Reader, data []byte) {
	ra, ok := s.(io.ReaderAt)
	if !ok {
		t.Error("OpenSeeker's reader does not implement io.ReaderAt")
		return
	}
	size := int64(len(data))
	p := make([]byte, 1000)
	if n, err := ra.ReadAt(p, 5<<20); n != 1000 || err != nil || !bytes.Equal(p, data[5<<20:5<<20+1000]) {
		t.Errorf("ReadAt(1000 at 5 MiB) = %d, %v", n, err)
	}
	if n, err := ra.ReadAt(p, size-10); n != 10 || err != io.EOF || !bytes.Equal(p[:10], data[size-10:]) {
		t.Errorf("ReadAt(1000 at end-10) = %d, %v; want 10, EOF", n, err)
	}
}

func testDownload(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	data := randBytes(12, 3<<20+7)
	mustWrite(t, b, "dl/src.mov", data)
	dir := t.TempDir()
	dst := filepath.Join(dir, "scratch.mov")
	if err := b.Download(ctx, "dl/src.mov", dst); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	if err := b.Download(ctx, "dl/missing.mov", filepath.Join(dir, "missing.mov")); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Download(missing) = %v, want ErrNotExist", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("download directory holds %d entries, want only scratch.mov", len(ents))
	}
}

func testOddKeys(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	odd := []string{
		"with space/file name.ts",
		"plus+sign/a+b.m3u8",
		"unicode/vidéo_日本語_🎬.mp4",
		"percent%20literal/100%.json",
		"q?a#b/x=y&z.ts",
		"quote'and\"double/t~i(l)d[e]$.jpg",
		"dots/a..b/.hidden/..x",
	}
	for i, k := range odd {
		mustWrite(t, b, k, []byte(strconv.Itoa(i)))
	}
	for i, k := range odd {
		if got := string(mustRead(t, b, k)); got != strconv.Itoa(i) {
			t.Errorf("ReadAll(%q) = %q, want %q", k, got, strconv.Itoa(i))
		}
		if a, err := b.Stat(ctx, k); err != nil || a.Key != k || a.Size != int64(len(strconv.Itoa(i))) {
			t.Errorf("Stat(%q) = %+v, %v", k, a, err)
		}
	}
	as, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range as {
		got[a.Key] = true
	}
	for _, k := range odd {
		if !got[k] {
			t.Errorf("List does not show %q (got %q)", k, keys(as))
		}
	}
	if len(as) != len(odd) {
		t.Errorf("List = %q, want %d keys", keys(as), len(odd))
	}
	if as, err := b.List(ctx, "plus+sign/"); err != nil || len(as) != 1 || as[0].Key != "plus+sign/a+b.m3u8" {
		t.Errorf("List(plus+sign/) = %v, %v", as, err)
	}
	if as, err := b.List(ctx, "unicode/vidé"); err != nil || len(as) != 1 {
		t.Errorf("List(unicode/vidé) = %v, %v", as, err)
	}
	for _, k := range odd {
		if err := b.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
		wantNotExist(t, b, k)
	}
}

func testBadKeys(t *testing.T, b *storage.Bucket) {
	ctx := ctxFor(t)
	bad := []string{
		"", "/abs", "a//b", "a/", "..", "../up", "a/../b", "a/..", ".", "./a", "a/./b",
		"nul\x00byte", "bad\xffutf8", strings.Repeat("k", 1025),
	}
	for _, k := range bad {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, k, err)
			}
		}
		_, err := b.Stat(ctx, k)
		check("Stat", err)
		_, err = b.ReadAll(ctx, k)
		check("ReadAll", err)
		_, err = b.NewRangeReader(ctx, k, 0, 1)
		check("NewRangeReader", err)
		check("WriteAll", b.WriteAll(ctx, k, []byte("x"), storage.WriterOptions{}))
		check("Delete", b.Delete(ctx, k))
		_, _, err = b.OpenSeeker(ctx, k)
		check("OpenSeeker", err)
		check("Download", b.Download(ctx, k, filepath.Join(t.TempDir(), "x")))
	}
	for _, p := range []string{"/abs", "a//", "../x", "a/../"} {
		if _, err := b.List(ctx, p); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
	if as, err := b.List(ctx, ""); err != nil || len(as) != 0 {
		t.Fatalf("after rejected writes List = %v, %v; want nothing", keys(as), err)
	}
}
