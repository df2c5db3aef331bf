package awsconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
)

// apiErr is an SDK-like error with an HTTP status and an error code.
type apiErr struct {
	status int
	code   string
}

func (e apiErr) Error() string        { return fmt.Sprintf("api error %s (%d)", e.code, e.status) }
func (e apiErr) HTTPStatusCode() int  { return e.status }
func (e apiErr) ErrorCode() string    { return e.code }
func (e apiErr) ErrorMessage() string { return e.code }
func (e apiErr) ErrorFault() int      { return 0 }

func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("bad job"), false},
		{"connection refused", fmt.Errorf("send request: %w", refused), true},
		{"connection reset", errors.New("read tcp: connection reset by peer"), true},
		{"body cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), true},
		{"canceled", fmt.Errorf("op: %w", context.Canceled), false},
		{"503 slow down", apiErr{503, "SlowDown"}, true},
		{"500", apiErr{500, "InternalError"}, true},
		{"429", apiErr{429, "TooManyRequests"}, true},
		{"408", apiErr{408, "RequestTimeout"}, true},
		{"400 throttling", apiErr{400, "ThrottlingException"}, true},
		{"403 throttled", apiErr{403, "RequestThrottled"}, true},
		{"403", apiErr{403, "AccessDenied"}, false},
		{"404", apiErr{404, "NoSuchBucket"}, false},
		{"412", apiErr{412, "PreconditionFailed"}, false},
		{"501", apiErr{501, "NotImplemented"}, false},
		{"retry quota after refused", errors.Join(fmt.Errorf("send: %w", refused), ratelimit.QuotaExceededError{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unavailable(tc.err); got != tc.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
