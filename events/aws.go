package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
)

// DetailType and Source of the EventBridge-shaped messages.
const (
	DetailType = "hlsfleet Job State Change"
	Source     = "hlsfleet"
)

// MediaConvert job statuses, as the "status" of StateChange.Detail.
const (
	StatusSubmitted    = "SUBMITTED"
	StatusProgressing  = "PROGRESSING"
	StatusStatusUpdate = "STATUS_UPDATE"
	StatusComplete     = "COMPLETE"
	StatusError        = "ERROR"
)

// StateChange mirrors the EventBridge event MediaConvert sends on a job
// state change ("MediaConvert Job State Change"), so consumers written for
// it adapt by changing the source and detail-type they match. The mapping:
//
//	queued        -> SUBMITTED
//	started       -> PROGRESSING
//	progress      -> STATUS_UPDATE (jobProgress.jobPercentComplete)
//	published     -> COMPLETE (outputGroupDetails: the master and each rendition)
//	failed        -> ERROR (errorMessage)
//	dead-lettered -> ERROR (errorMessage)
//	retrying      -> STATUS_UPDATE (errorMessage says why; retryCount)
//	released      -> STATUS_UPDATE
//
// detail.hlsfleetEvent always carries the original event type.
type StateChange struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     Detail   `json:"detail"`
}

// Detail is the "detail" object of StateChange.
type Detail struct {
	Timestamp          int64               `json:"timestamp"` // Unix milliseconds
	AccountID          string              `json:"accountId"`
	Queue              string              `json:"queue,omitempty"`
	JobID              string              `json:"jobId"`
	Status             string              `json:"status"`
	UserMetadata       map[string]string   `json:"userMetadata"`
	JobProgress        *JobProgress        `json:"jobProgress,omitempty"`
	OutputGroupDetails []OutputGroupDetail `json:"outputGroupDetails,omitempty"`
	ErrorMessage       string              `json:"errorMessage,omitempty"`
	// hlsfleet additions.
	HlsfleetEvent string        `json:"hlsfleetEvent"`
	Input         string        `json:"input,omitempty"`
	Output        string        `json:"output,omitempty"`
	Quality       []job.Quality `json:"quality,omitempty"`
}

// JobProgress is MediaConvert's progress object.
type JobProgress struct {
	JobPercentComplete int    `json:"jobPercentComplete"`
	CurrentPhase       string `json:"currentPhase"`
	RetryCount         int    `json:"retryCount"`
}

// OutputGroupDetail lists one output group's files.
type OutputGroupDetail struct {
	OutputDetails     []OutputDetail `json:"outputDetails"`
	PlaylistFilePaths []string       `json:"playlistFilePaths"`
	Type              string         `json:"type"`
}

// OutputDetail is one rendition.
type OutputDetail struct {
	OutputFilePaths []string      `json:"outputFilePaths"`
	DurationInMs    int64         `json:"durationInMs"`
	VideoDetails    *VideoDetails `json:"videoDetails,omitempty"`
}

// VideoDetails is a rendition's picture size.
type VideoDetails struct {
	WidthInPx  int `json:"widthInPx"`
	HeightInPx int `json:"heightInPx"`
}

// StateChangeOf builds the message of one event.
func StateChangeOf(id string, e job.StateChange, account, region, queueURL string) StateChange {
	st := e.Status
	d := Detail{
		Timestamp: e.Time.UnixMilli(), AccountID: account, Queue: queueURL, JobID: st.JobID,
		UserMetadata: map[string]string{}, HlsfleetEvent: e.Type, Input: st.Source, Output: st.Output,
	}
	if e.Job != nil {
		d.JobID, d.Input, d.Output = e.Job.ID, e.Job.Source, e.Job.Output
		for k, v := range e.Job.Attributes {
			d.UserMetadata[k] = v
		}
	}
	progress := func(phase string) *JobProgress {
		return &JobProgress{JobPercentComplete: int(math.Floor(st.Progress)), CurrentPhase: phase, RetryCount: max(st.Attempt-1, 0)}
	}
	switch e.Type {
	case TypeQueued:
		d.Status = StatusSubmitted
	case job.EventStarted:
		d.Status, d.JobProgress = StatusProgressing, progress("PROBING")
	case job.EventProgress:
		d.Status, d.JobProgress = StatusStatusUpdate, progress("TRANSCODING")
	case job.EventPublished:
		d.Status, d.Quality = StatusComplete, st.Quality
		d.OutputGroupDetails = outputGroups(d.Output, st)
	case job.EventFailed, job.EventDeadLettered:
		d.Status, d.ErrorMessage = StatusError, firstNonEmpty(e.Reason, st.Error)
	default: // retrying, released
		d.Status, d.ErrorMessage, d.JobProgress = StatusStatusUpdate, e.Reason, progress("TRANSCODING")
	}
	res := []string{}
	if d.JobID != "" {
		res = append(res, "hlsfleet:job/"+d.JobID)
	}
	return StateChange{
		Version: "0", ID: id, DetailType: DetailType, Source: Source, Account: account, Region: region,
		Time: e.Time.UTC().Format("2006-01-02T15:04:05Z"), Resources: res, Detail: d,
	}
}

func outputGroups(out string, st job.Status) []OutputGroupDetail {
	if out == "" {
		return nil
	}
	base := strings.TrimSuffix(out, "/") + "/"
	g := OutputGroupDetail{Type: "HLS_GROUP", PlaylistFilePaths: []string{base + job.MasterName}, OutputDetails: []OutputDetail{}}
	for _, q := range st.Quality {
		if q.Dropped {
			continue
		}
		g.OutputDetails = append(g.OutputDetails, OutputDetail{
			OutputFilePaths: []string{base + playlistOf(st, q.Rendition)},
			DurationInMs:    int64(math.Round(st.Duration * 1000)),
			VideoDetails:    &VideoDetails{WidthInPx: q.Width, HeightInPx: q.Height},
		})
	}
	groups := []OutputGroupDetail{g}
	if st.MP4 != "" {
		groups = append(groups, OutputGroupDetail{Type: "FILE_GROUP", PlaylistFilePaths: []string{}, OutputDetails: []OutputDetail{{
			OutputFilePaths: []string{base + st.MP4}, DurationInMs: int64(math.Round(st.Duration * 1000)),
		}}})
	}
	return groups
}

// playlistOf is the media playlist of rendition as job.json names it (a
// fleet output keeps it in the publishing attempt's folder,
// "720p/<attempt>/index.m3u8"); a status without playlists gets the fixed
// name "720p/index.m3u8".
func playlistOf(st job.Status, rendition string) string {
	for _, p := range st.Playlists {
		if strings.HasPrefix(p, rendition+"/") {
			return p
		}
	}
	return rendition + "/index.m3u8"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// awsFormat is the shared Format of the SQS and SNS transports.
type awsFormat struct{ account, region, queueURL string }

func (f awsFormat) Format(id string, _ uint64, e job.StateChange) ([]byte, error) {
	return json.Marshal(StateChangeOf(id, e, f.account, f.region, f.queueURL))
}

// SQS sends each event as one message to an SQS queue. On a FIFO queue the
// job id is the message group (per-job order kept by SQS too) and the event
// id the deduplication id.
type SQS struct {
	awsFormat
	q *queue.SQS
}

// NewSQS opens the queue with the process's SQS client (queue.SQSClient;
// endpoint override AWS_ENDPOINT_URL_SQS). jobQueue is the job queue's URL, reported
// as detail.queue.
func NewSQS(ctx context.Context, queueURL, jobQueue string) (*SQS, error) {
	q, err := queue.OpenSQS(ctx, queueURL, queue.Options{})
	if err != nil {
		return nil, err
	}
	return &SQS{awsFormat: awsFormat{account: accountOf(queueURL), region: regionOf(ctx), queueURL: jobQueue}, q: q}, nil
}

// Name implements Transport.
func (s *SQS) Name() string { return "sqs" }

// Deliver implements Transport.
func (s *SQS) Deliver(ctx context.Context, r *Record) error {
	_, err := s.q.Send(ctx, r.Body, queue.SendOptions{GroupID: r.JobID, DedupID: r.ID})
	return err
}

// SNS publishes each event to an SNS topic (FIFO topics: the job id is the
// message group, the event id the deduplication id).
type SNS struct {
	awsFormat
	c     *sns.Client
	topic string
}

// NewSNS makes a client on the process's AWS configuration (awsconf;
// endpoint override AWS_ENDPOINT_URL_SNS).
func NewSNS(ctx context.Context, topicARN, jobQueue string) (*SNS, error) {
	if !strings.HasPrefix(topicARN, "arn:") {
		return nil, fmt.Errorf("events: SNS topic %q: want an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", topicARN)
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("events: sns: %w", err)
	}
	parts := strings.Split(topicARN, ":")
	account, region := "", cfg.Region
	if len(parts) >= 6 {
		region, account = parts[3], parts[4]
	}
	return &SNS{awsFormat: awsFormat{account: account, region: region, queueURL: jobQueue}, c: sns.NewFromConfig(cfg), topic: topicARN}, nil
}

// Name implements Transport.
func (s *SNS) Name() string { return "sns" }

// Deliver implements Transport.
func (s *SNS) Deliver(ctx context.Context, r *Record) error {
	in := &sns.PublishInput{TopicArn: aws.String(s.topic), Message: aws.String(string(r.Body)), Subject: aws.String("hlsfleet job " + r.Type)}
	if strings.HasSuffix(s.topic, ".fifo") {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(r.JobID), aws.String(r.ID)
	}
	_, err := s.c.Publish(ctx, in)
	return err
}

// accountOf reads the account id from an SQS URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
func accountOf(queueURL string) string {
	parts := strings.Split(strings.TrimSuffix(queueURL, "/"), "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2]
	}
	return ""
}

func regionOf(ctx context.Context) string {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return ""
	}
	return cfg.Region
}
