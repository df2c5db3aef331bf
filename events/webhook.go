package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

// Webhook headers. The signature is HMAC-SHA256, keyed with the shared
// secret, over "<timestamp>.<body>", where timestamp is the
// X-Hlsfleet-Timestamp header (Unix seconds of this attempt): a receiver
// checks the signature and that the timestamp is recent, so a captured
// request cannot be replayed later.
const (
	HeaderSignature = "X-Hlsfleet-Signature" // "sha256=<hex>"
	HeaderTimestamp = "X-Hlsfleet-Timestamp"
	HeaderEventID   = "X-Hlsfleet-Event-Id"
	HeaderEventType = "X-Hlsfleet-Event-Type"
	HeaderIdemKey   = "Idempotency-Key"
)

// WebhookPayload is the JSON body of a webhook delivery.
type WebhookPayload struct {
	ID       string    `json:"id"`       // idempotency key, the same on every retry
	Type     string    `json:"type"`     // queued, started, progress, published, retrying, failed, dead-lettered, released
	Time     time.Time `json:"time"`     // when the state changed
	Sequence uint64    `json:"sequence"` // increases with every event of this sender; per job it gives the order
	JobID    string    `json:"job_id"`
	// Status is the job's status document (job.json) as of the event.
	Status job.Status `json:"status"`
	Reason string     `json:"reason,omitempty"`
	Job    *job.Job   `json:"job,omitempty"`
}

// Webhook posts events to an HTTP endpoint.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
	now    func() time.Time
}

// NewWebhook checks the URL and returns the transport.
func NewWebhook(rawURL, secret string) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("events: webhook URL %q: want http(s)://host/path", Redact(rawURL))
	}
	return &Webhook{
		URL: rawURL, Secret: []byte(secret), now: time.Now,
		Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Name implements Transport.
func (w *Webhook) Name() string { return "webhook" }

// Format implements Transport.
func (w *Webhook) Format(id string, seq uint64, e job.StateChange) ([]byte, error) {
	p := WebhookPayload{ID: id, Type: e.Type, Time: e.Time.UTC(), Sequence: seq, JobID: e.Status.JobID, Status: e.Status, Reason: e.Reason, Job: e.Job}
	if e.Job != nil {
		p.JobID = e.Job.ID
	}
	p.Status.Progress = math.Round(p.Status.Progress*10) / 10
	return json.Marshal(p)
}

// ErrDelivery wraps an endpoint's refusal (a status other than 2xx).
var ErrDelivery = errors.New("events: delivery refused")

// Deliver implements Transport: one signed POST; any 2xx is success.
func (w *Webhook) Deliver(ctx context.Context, r *Record) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hlsfleet-webhook/1")
	req.Header.Set(HeaderEventID, r.ID)
	req.Header.Set(HeaderIdemKey, r.ID)
	req.Header.Set(HeaderEventType, r.Type)
	req.Header.Set(HeaderTimestamp, ts)
	if len(w.Secret) > 0 {
		req.Header.Set(HeaderSignature, "sha256="+Sign(w.Secret, ts, r.Body))
	}
	resp, err := w.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = Redact(ue.URL) // the error is logged
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s answered %s", ErrDelivery, Redact(w.URL), resp.Status)
	}
	return nil
}

// Redact is a URL as logs may show it: without its query, fragment and
// user info, which often carry a token (issue N).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
		return u.String() + "?…"
	}
	return u.String()
}

// Sign is the hex HMAC-SHA256 of "<timestamp>.<body>".
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verification errors.
var (
	ErrBadSignature = errors.New("events: webhook signature does not match")
	ErrStale        = errors.New("events: webhook timestamp outside the tolerance")
)

// Verify is what a receiver runs on a delivery: the signature must match
// and the timestamp be within tolerance of now (e.g. 5 minutes).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s %q", ErrStale, HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s old", ErrStale, d)
	}
	got, ok := strings.CutPrefix(h.Get(HeaderSignature), "sha256=")
	if !ok {
		return fmt.Errorf("%w: no sha256= signature", ErrBadSignature)
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(got), []byte(want)) {
		return ErrBadSignature
	}
	return nil
}
