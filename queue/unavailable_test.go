package queue_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/queue"
)

// sqsAt returns an SQS queue whose requests go to endpoint, one attempt per
// request.
func sqsAt(endpoint string) *queue.SQS {
	c := sqs.New(sqs.Options{
		BaseEndpoint: aws.String(endpoint), Region: "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryMaxAttempts: 1,
	})
	return queue.NewSQS(c, "http://sqs.us-east-1.localhost/000000000000/q", queue.Options{DLQ: "http://sqs.us-east-1.localhost/000000000000/q-dlq"})
}

// sqsAnswer serves every request with status and an SQS JSON error type.
func sqsAnswer(t *testing.T, status int, typ string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", typ+";Sender")
		w.WriteHeader(status)
		w.Write([]byte(`{"__type":"com.amazonaws.sqs#` + typ + `","message":"m"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSQSUnavailable: an unreachable, throttling or failing SQS is
// ErrUnavailable (class fault.Infra) on every call; an invalid request is
// not, and a stale receipt stays ErrLeaseLost.
func TestSQSUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name     string
		endpoint string
		infra    bool
	}{
		{"connection refused", closed, true},
		{"500", sqsAnswer(t, 500, "InternalError"), true},
		{"throttled", sqsAnswer(t, 400, "ThrottlingException"), true},
		{"invalid", sqsAnswer(t, 400, "InvalidParameterValue"), false},
		{"access denied", sqsAnswer(t, 403, "AccessDenied"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := sqsAt(tc.endpoint)
			defer q.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := queue.Message{ID: "m", Body: []byte("x"), Receipt: "r"}
			_, rerr := q.Receive(ctx, 1, 0, time.Minute)
			_, serr := q.Send(ctx, []byte("x"), queue.SendOptions{})
			_, merr := q.MaxReceive(ctx)
			for op, err := range map[string]error{
				"receive": rerr, "send": serr, "max receive": merr,
				"extend": q.Extend(ctx, m, time.Minute), "ack": q.Ack(ctx, m),
				"release": q.Release(ctx, m, 0), "dead-letter": q.DeadLetter(ctx, m, "r"),
			} {
				switch {
				case err == nil:
					t.Errorf("%s succeeded", op)
				case errors.Is(err, queue.ErrUnavailable) != tc.infra || fault.Is(err, fault.Infra) != tc.infra:
					t.Errorf("%s: %v: class %v, want infrastructure %v", op, err, fault.Of(err), tc.infra)
				}
			}
		})
	}
}

func TestLocalMaxReceive(t *testing.T) {
	for _, tc := range []struct{ opt, want int }{{0, queue.DefaultMaxReceive}, {3, 3}, {-1, 0}} {
		q, err := queue.OpenLocal(t.TempDir(), queue.Options{MaxReceive: tc.opt})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := q.MaxReceive(context.Background()); n != tc.want || err != nil {
			t.Errorf("Options.MaxReceive %d: MaxReceive = %d, %v; want %d", tc.opt, n, err, tc.want)
		}
		q.Close()
	}
}

func TestSQSMaxReceive(t *testing.T) {
	c := sqsClient(t)
	ctx := context.Background()
	u, dlq, err := queue.CreateSQSQueues(ctx, c, sqsName(t, false), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.DeleteSQSQueues(context.Background(), c, u, dlq) })
	for url, want := range map[string]int{u: 3, dlq: 0} {
		q := queue.NewSQS(c, url, queue.Options{})
		if n, err := q.MaxReceive(ctx); n != want || err != nil {
			t.Errorf("MaxReceive of %s = %d, %v; want %d", url, n, err, want)
		}
		q.Close()
	}
}
