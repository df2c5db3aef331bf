// Package instance watches the EC2 instance the worker runs on and acts on
// what it sees: a spot interruption notice, a rebalance recommendation, or an
// Auto Scaling termination (scale-in, instance refresh). It reads the
// instance metadata service (IMDSv2; the endpoint is the SDK's
// AWS_EC2_METADATA_SERVICE_ENDPOINT, default http://169.254.169.254) and
// calls the Auto Scaling API (CompleteLifecycleAction,
// SetInstanceProtection). Off EC2 the metadata service does not answer; the
// watcher then says so once and stays off.
package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Metadata paths the watcher reads (under /latest/meta-data/).
const (
	PathSpotAction     = "spot/instance-action"
	PathRebalance      = "events/recommendations/rebalance"
	PathLifecycleState = "autoscaling/target-lifecycle-state"
	PathInstanceID     = "instance-id"
)

// ErrUnavailable: the metadata service did not answer (not on EC2, or
// IMDS disabled with AWS_EC2_METADATA_DISABLED).
var ErrUnavailable = errors.New("instance metadata service unavailable")

// DefaultRequestTimeout bounds one metadata request. IMDS answers in
// milliseconds on EC2; off EC2 169.254.169.254 may not answer at all.
const DefaultRequestTimeout = time.Second

// Metadata reads the instance metadata service.
type Metadata struct {
	c       *imds.Client
	timeout time.Duration
}

// NewMetadata returns a metadata reader whose requests time out after
// timeout (0: DefaultRequestTimeout) and are never retried (the watcher polls
// again anyway). The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT when set.
func NewMetadata(timeout time.Duration) *Metadata {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	c := imds.New(imds.Options{
		Retryer:    aws.NopRetryer{},
		HTTPClient: &http.Client{Timeout: timeout},
	})
	return &Metadata{c: c, timeout: timeout}
}

// get returns the content at path; found is false on 404 (the usual answer
// of the notice paths while there is no notice).
func (m *Metadata) get(ctx context.Context, path string) (content string, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*m.timeout) // token + request
	defer cancel()
	out, err := m.c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%w: GET %s: %v", ErrUnavailable, path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64<<10))
	if err != nil {
		return "", false, fmt.Errorf("%w: reading %s: %v", ErrUnavailable, path, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// InstanceID returns the instance's id; ErrUnavailable off EC2.
func (m *Metadata) InstanceID(ctx context.Context) (string, error) {
	id, found, err := m.get(ctx, PathInstanceID)
	if err != nil {
		return "", err
	}
	if !found || id == "" {
		return "", fmt.Errorf("%w: no instance-id", ErrUnavailable)
	}
	return id, nil
}

// SpotAction is a spot interruption notice: the instance will be stopped,
// hibernated or terminated at Time (about two minutes after the notice).
type SpotAction struct {
	Action string    `json:"action"` // terminate, stop or hibernate
	Time   time.Time `json:"time"`
}

// Spot returns the pending spot interruption notice, or nil when there is
// none.
func (m *Metadata) Spot(ctx context.Context) (*SpotAction, error) {
	s, found, err := m.get(ctx, PathSpotAction)
	if err != nil || !found {
		return nil, err
	}
	var a SpotAction
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("instance: bad %s document %q: %w", PathSpotAction, s, err)
	}
	return &a, nil
}

// Rebalance returns when EC2 recommended rebalancing this spot instance
// (an elevated risk of interruption), or nil when it has not.
func (m *Metadata) Rebalance(ctx context.Context) (*time.Time, error) {
	s, found, err := m.get(ctx, PathRebalance)
	if err != nil || !found {
		return nil, err
	}
	var r struct {
		NoticeTime time.Time `json:"noticeTime"`
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("instance: bad %s document %q: %w", PathRebalance, s, err)
	}
	return &r.NoticeTime, nil
}

// LifecycleState returns the instance's Auto Scaling target lifecycle state
// ("InService", "Terminated", "Warmed:Stopped", ...), or "" when the
// instance is not in an Auto Scaling group (or the path is not served).
func (m *Metadata) LifecycleState(ctx context.Context) (string, error) {
	s, _, err := m.get(ctx, PathLifecycleState)
	return s, err
}
