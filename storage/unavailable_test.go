package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/storage"
)

// bucketAt returns a Bucket whose S3 requests go to endpoint, with one
// attempt per request (no SDK retries: the test sees the first error).
func bucketAt(endpoint string) *storage.Bucket {
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryMaxAttempts: 1,
	})
	return storage.NewS3BucketForTest(c, "b", "")
}

// s3Answer serves every request with status and an S3 XML error code.
func s3Answer(t *testing.T, status int, code string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>m</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedPort returns an http URL on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestS3Unavailable: an unreachable, throttling or failing service is
// ErrUnavailable (class fault.Infra) on every operation; an answer that says
// the request is wrong is not.
func TestS3Unavailable(t *testing.T) {
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body cut short: 100 bytes announced, 10 sent, then the
		// connection closes.
		w.Header().Set("Content-Length", "100")
		w.Header().Set("ETag", `"e"`)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("0123456789"))
		if hj, ok := w.(http.Hijacker); ok {
			c, _, _ := hj.Hijack()
			c.Close()
		}
	}))
	t.Cleanup(cut.Close)
	for _, tc := range []struct {
		name     string
		endpoint string
		infra    bool
		also     error
	}{
		{"connection refused", closedPort(t), true, nil},
		{"503 SlowDown", s3Answer(t, 503, "SlowDown"), true, nil},
		{"500 InternalError", s3Answer(t, 500, "InternalError"), true, nil},
		{"body cut short", cut.URL, true, nil},
		{"403 AccessDenied", s3Answer(t, 403, "AccessDenied"), false, nil},
		{"404 NoSuchKey", s3Answer(t, 404, "NoSuchKey"), false, storage.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bucketAt(tc.endpoint)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := b.ReadAll(ctx, "k")
			checkUnavailable(t, "ReadAll", err, tc.infra, tc.also)
			if tc.name == "body cut short" {
				return // the write and the stat are served as a read
			}
			_, err = b.Stat(ctx, "k")
			checkUnavailable(t, "Stat", err, tc.infra, tc.also)
			if tc.also == nil {
				err = b.WriteAll(ctx, "k", []byte("x"), storage.WriterOptions{})
				checkUnavailable(t, "WriteAll", err, tc.infra, nil)
				_, err = b.List(ctx, "")
				checkUnavailable(t, "List", err, tc.infra, nil)
			}
		})
	}
}

func checkUnavailable(t *testing.T, op string, err error, infra bool, also error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s succeeded", op)
	case errors.Is(err, storage.ErrUnavailable) != infra || fault.Is(err, fault.Infra) != infra:
		t.Errorf("%s: %v: ErrUnavailable %v, class %v; want infrastructure %v", op, err,
			errors.Is(err, storage.ErrUnavailable), fault.Of(err), infra)
	case also != nil && !errors.Is(err, also):
		t.Errorf("%s: %v, want it to be %v too", op, err, also)
	}
}

// A lost compare-and-swap is ErrPrecondition, never unavailable.
func TestS3PreconditionIsNotUnavailable(t *testing.T) {
	b := bucketAt(s3Answer(t, 412, "PreconditionFailed"))
	err := b.WriteAll(context.Background(), "k", []byte("x"), storage.WriterOptions{IfMatch: `"e"`})
	if !errors.Is(err, storage.ErrPrecondition) || errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("WriteAll = %v, want ErrPrecondition and not ErrUnavailable", err)
	}
}
