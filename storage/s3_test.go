package storage_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/storage/storagetest"
)

const peerHint = "start it with scripts/peers/s3.sh start"

// s3Peer makes sure the S3 environment points at a running peer and returns
// a client. With AWS_ENDPOINT_URL_S3 set it uses that; otherwise it reads
// .cache/peers/s3.env (written by scripts/peers/s3.sh start) when that peer
// answers; otherwise the test is skipped, or fails when
// HLSFLEET_REQUIRE_S3_PEER=1 (for CI, where a silent skip would hide a peer
// that did not start).
func s3Peer(t *testing.T) *s3.Client {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		vars, err := peerEnvFile()
		if err != nil {
			if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
				t.Fatalf("S3 peer not running and HLSFLEET_REQUIRE_S3_PEER=1: %s (%v)", peerHint, err)
			}
			t.Skipf("S3 peer not running: %s (%v)", peerHint, err)
		}
		for k, v := range vars {
			t.Setenv(k, v)
		}
	}
	ep := os.Getenv("AWS_ENDPOINT_URL_S3")
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		t.Fatalf("AWS_ENDPOINT_URL_S3=%q is not a URL", ep)
	}
	if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
		t.Fatalf("S3 peer at %s does not answer (%v): %s", ep, err, peerHint)
	} else {
		c.Close()
	}
	client, err := storage.NewS3ClientForTest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// peerEnvFile reads the repository's .cache/peers/s3.env when the peer it
// names answers.
func peerEnvFile() (map[string]string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
	f, err := os.Open(filepath.Join(dir, ".cache", "peers", "s3.env"))
	if err != nil {
		return nil, errors.New("AWS_ENDPOINT_URL_S3 is not set and .cache/peers/s3.env does not exist")
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, field := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(field, "="); ok && field != "export" {
				vars[k] = v
			}
		}
	}
	u, err := url.Parse(vars["AWS_ENDPOINT_URL_S3"])
	if err != nil || u.Host == "" {
		return nil, errors.New(".cache/peers/s3.env names no endpoint")
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return nil, fmt.Errorf(".cache/peers/s3.env names %s, which does not answer", u.Host)
	}
	c.Close()
	return vars, nil
}

var bucketSeq atomic.Int64

// freshBucket creates an empty bucket and removes it, with its objects, when
// the test ends. It fails the test if a multipart upload was left behind.
func freshBucket(t *testing.T, client *s3.Client) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("hlsfleet-test-%x-%d", time.Now().UnixNano(), bucketSeq.Add(1))
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	t.Cleanup(func() {
		mu, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name})
		if err != nil {
			t.Errorf("ListMultipartUploads: %v", err)
		} else if len(mu.Uploads) > 0 {
			t.Errorf("%d multipart uploads left behind in %s", len(mu.Uploads), name)
			for _, u := range mu.Uploads {
				client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: u.Key, UploadId: u.UploadId})
			}
		}
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &name})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("listing %s for cleanup: %v", name, err)
				break
			}
			for _, o := range page.Contents {
				client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: o.Key})
			}
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Errorf("DeleteBucket(%s): %v", name, err)
		}
	})
	return name
}

func TestS3Conformance(t *testing.T) {
	client := s3Peer(t)
	storagetest.Run(t, func(t *testing.T) (*storage.Bucket, func()) {
		b, err := storage.Open(context.Background(), "s3://"+freshBucket(t, client))
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	})
}

// TestS3ConformanceWithPrefix runs the suite on buckets opened with a key
// prefix, next to another prefix's objects that must stay out of sight.
func TestS3ConformanceWithPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite without a prefix covers the driver; this adds the prefix")
	}
	client := s3Peer(t)
	storagetest.Run(t, func(t *testing.T) (*storage.Bucket, func()) {
		name := freshBucket(t, client)
		ctx := context.Background()
		for _, k := range []string{"other/x", "tenant/a", "tenant/jobs-other"} {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &name, Key: &k, Body: strings.NewReader("x")}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := storage.Open(ctx, "s3://"+name+"/tenant/jobs/")
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	})
}

func TestS3PrefixIsJoined(t *testing.T) {
	client := s3Peer(t)
	ctx := context.Background()
	name := freshBucket(t, client)
	b, err := storage.Open(ctx, "s3://"+name+"/out/job 1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "master.m3u8", []byte("#EXTM3U\n"), storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &name, Key: ptr("out/job 1/master.m3u8")})
	if err != nil {
		t.Fatalf("the object is not at prefix/key: %v", err)
	}
	if ct := *out.ContentType; ct != "application/vnd.apple.mpegurl" {
		t.Errorf("Content-Type = %q", ct)
	}
	as, err := b.List(ctx, "")
	if err != nil || len(as) != 1 || as[0].Key != "master.m3u8" {
		t.Fatalf("List = %+v, %v", as, err)
	}
}

// TestS3AbortMultipart aborts a writer after the upload manager has started
// a multipart upload: no object appears and no upload is left behind (the
// bucket cleanup checks the latter).
func TestS3AbortMultipart(t *testing.T) {
	client := s3Peer(t)
	ctx := context.Background()
	name := freshBucket(t, client)
	b, err := storage.Open(ctx, "s3://"+name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.NewWriter(ctx, "big.mp4", storage.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < 3*storage.S3PartSize>>20; i++ {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Parts are in flight now; wait until S3 knows the upload.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name})
		if err != nil {
			t.Fatal(err)
		}
		if len(mu.Uploads) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload started after writing 3 parts")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "big.mp4"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Stat after Abort = %v, want ErrNotExist", err)
	}
}

func TestS3OpensShareOneClient(t *testing.T) {
	// Every Open of an s3:// URL reuses the process's one S3 client (one
	// connection pool, one credentials cache) on the one AWS configuration.
	client := s3Peer(t)
	ctx := context.Background()
	for _, u := range []string{"s3://" + freshBucket(t, client), "s3://other-bucket/some/prefix", "s3://other-bucket"} {
		b, err := storage.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if got := storage.S3ClientOf(b); got != client {
			t.Errorf("Open(%s) has S3 client %p, want the shared %p", u, got, client)
		}
		b.Close()
	}
	if n := awsconf.Loads(); n != 1 {
		t.Errorf("AWS configuration loaded %d times in this process, want 1", n)
	}
}

func TestS3MissingBucket(t *testing.T) {
	s3Peer(t)
	ctx := context.Background()
	b, err := storage.Open(ctx, "s3://hlsfleet-no-such-bucket-7f3a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Stat(ctx, "x")
	if err == nil {
		t.Fatal("Stat in a missing bucket succeeded")
	}
	_, err = b.ReadAll(ctx, "x")
	if err == nil || errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("ReadAll in a missing bucket = %v; want an error that is not ErrNotExist (the key is not the problem)", err)
	}
}

func ptr[T any](v T) *T { return &v }
