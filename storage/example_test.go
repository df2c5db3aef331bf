package storage_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hlsfleet/hlsfleet/storage"
)

// The file driver keeps objects as files under a directory. The master
// playlist is published with a conditional create: of two attempts racing
// to publish, exactly one wins and the other gets ErrExists.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "storage-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	b, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := b.WriteAll(ctx, "clip/720p/index.m3u8", []byte("#EXTM3U\n"), storage.WriterOptions{}); err != nil {
		log.Fatal(err)
	}
	publish := storage.WriterOptions{IfNoneMatch: true}
	err = b.WriteAll(ctx, "clip/master.m3u8", []byte("#EXTM3U\n# attempt 1\n"), publish)
	fmt.Println("first publish:", err)
	err = b.WriteAll(ctx, "clip/master.m3u8", []byte("#EXTM3U\n# attempt 2\n"), publish)
	fmt.Println("second publish lost:", errors.Is(err, storage.ErrExists))

	data, err := b.ReadAll(ctx, "clip/master.m3u8")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", data)
	objs, err := b.List(ctx, "clip/")
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range objs {
		fmt.Println(a.Key, a.Size)
	}
	_, err = b.ReadAll(ctx, "clip/missing.ts")
	fmt.Println("missing:", errors.Is(err, storage.ErrNotExist))
	// Output:
	// first publish: <nil>
	// second publish lost: true
	// "#EXTM3U\n# attempt 1\n"
	// clip/720p/index.m3u8 8
	// clip/master.m3u8 20
	// missing: true
}

// A read-modify-write (a live playlist update) passes the ETag of the
// version it read to IfMatch: the write wins only if nobody replaced the
// object in between, else it gets ErrPrecondition and must read again.
func ExampleBucket_ReadAllAttrs() {
	dir, err := os.MkdirTemp("", "storage-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := b.WriteAll(ctx, "live/index.m3u8", []byte("seq 0\n"), storage.WriterOptions{}); err != nil {
		log.Fatal(err)
	}
	_, attrs, err := b.ReadAllAttrs(ctx, "live/index.m3u8")
	if err != nil {
		log.Fatal(err)
	}
	update := storage.WriterOptions{IfMatch: attrs.ETag}
	fmt.Println("update:", b.WriteAll(ctx, "live/index.m3u8", []byte("seq 1\n"), update))
	// The same ETag again is stale now: this update loses.
	err = b.WriteAll(ctx, "live/index.m3u8", []byte("seq 1 (again)\n"), update)
	fmt.Println("stale update lost:", errors.Is(err, storage.ErrPrecondition))

	data, _ := b.ReadAll(ctx, "live/index.m3u8")
	fmt.Printf("%q\n", data)
	// Output:
	// update: <nil>
	// stale update lost: true
	// "seq 1\n"
}

// A writer streams an object; nothing is visible until Close publishes it,
// and Abort discards it.
func ExampleBucket_NewWriter() {
	dir, err := os.MkdirTemp("", "storage-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	w, err := b.NewWriter(ctx, "clip/720p/seg-00000.ts", storage.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if _, err := w.Write(make([]byte, 188)); err != nil {
			log.Fatal(err)
		}
	}
	ok, _ := b.Exists(ctx, "clip/720p/seg-00000.ts")
	fmt.Println("visible before Close:", ok)
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	a, err := b.Stat(ctx, "clip/720p/seg-00000.ts")
	fmt.Println("after Close:", a.Size, err)

	w, err = b.NewWriter(ctx, "clip/720p/seg-00001.ts", storage.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, _ = w.Write([]byte("partial"))
	fmt.Println("abort:", w.Abort())
	ok, _ = b.Exists(ctx, "clip/720p/seg-00001.ts")
	fmt.Println("visible after Abort:", ok)
	// Output:
	// visible before Close: false
	// after Close: 564 <nil>
	// abort: <nil>
	// visible after Abort: false
}
