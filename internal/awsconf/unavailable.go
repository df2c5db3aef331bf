package awsconf

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Unavailable reports whether err, from an AWS call (S3, SQS) or from
// reading a response body, says the service could not be reached or did
// not serve the request now: a connection refused, reset or cut, a DNS
// failure that may pass, a timeout, an HTTP 5xx, a throttling answer (429,
// SlowDown, Throttling, ...). Retrying later can succeed, so the error is an
// infrastructure fault (fault.Infra), not one of the request.
//
// It is the SDK's own judgement (retry.DefaultRetryables) after the SDK's
// retries ran out, with two changes: a deadline that ran out is a timeout,
// hence unavailable, while a canceled context is not (the caller stopped);
// and a 4xx other than 408, 429 and a throttling error code (SQS throttles
// with 400 and 403) never is (the request is wrong: access
// denied, no such bucket, a failed precondition), nor is a 501 (the
// service lacks a feature).
func Unavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var ce interface{ ErrorCode() string }
	if errors.As(err, &ce) {
		_, throttled := retry.DefaultThrottleErrorCodes[ce.ErrorCode()]
		_, timedOut := retry.DefaultRetryableErrorCodes[ce.ErrorCode()]
		if throttled || timedOut {
			return true
		}
	}
	var st interface{ HTTPStatusCode() int }
	if errors.As(err, &st) {
		switch c := st.HTTPStatusCode(); {
		case c == http.StatusNotImplemented:
			return false
		case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
			return true
		case c >= 400:
			return false
		}
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}
