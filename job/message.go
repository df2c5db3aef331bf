package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxMessage is the largest message body ParseMessage reads: the SQS limit.
const maxMessage = 1 << 20

// ParseMessage turns one queue message body into jobs. It accepts:
//
//   - a job document (see Parse; rules do not apply);
//   - an S3 event notification ({"Records":[...]}), one job per
//     ObjectCreated record, the keys URL-decoded the way S3 encodes them
//     ('+' is a space); other records (deletions, restores, ...) are skipped;
//   - any of these wrapped by SNS ({"Type":"Notification","Message":"..."},
//     what SQS receives from a topic without raw message delivery);
//   - an EventBridge event from aws.s3; "Object Created" makes a job (its key
//     is not URL-encoded), other detail types are ignored.
//
// Events become jobs through rules (nil means DefaultRules; see
// Rules.JobFor), with deterministic IDs so a redelivered event makes the same
// job. The S3 test event, SNS subscription confirmations and events that make
// no job (only skipped records, keys no rule maps) give an error wrapping
// ErrIgnore. Anything else, and any record that makes an invalid job, gives an
// error wrapping ErrInvalid that says why in one line: the whole message is
// rejected. A rules set that does not validate gives a plain (retryable)
// error: the fault is the configuration's, not the message's.
func ParseMessage(body []byte, rules Rules) ([]*Job, error) {
	if rules == nil {
		rules = DefaultRules()
	}
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("job: the S3 event rules are misconfigured: %v", err)
	}
	return parseMessage(body, rules, "")
}

// parseMessage parses body; via is "sns+" inside an SNS notification.
func parseMessage(body []byte, rules Rules, via string) ([]*Job, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, invalid("the message is empty")
	case len(body) > maxMessage:
		return nil, invalid("the message is %d bytes, over the %d-byte limit", len(body), maxMessage)
	case body[0] != '{':
		return nil, invalid("the message is not a JSON object (it starts with %q)", head(body, 16))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, invalid("the message is not valid JSON: %s", jsonReason(err))
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(top[k], &s)
		return s
	}
	_, hasRecords := top["Records"]
	_, hasDetailType := top["detail-type"]
	_, hasMessage := top["Message"]
	_, hasEvent := top["Event"]
	switch {
	case hasRecords:
		return parseS3Notification(body, rules, via)
	case hasDetailType:
		return parseEventBridge(body, rules, via)
	case str("Type") != "" && (hasMessage || top["TopicArn"] != nil):
		if via != "" {
			return nil, invalid("an SNS notification inside an SNS notification")
		}
		return parseSNS(top, str("Type"), str("Message"), rules)
	case hasEvent && top["Service"] != nil:
		if ev := str("Event"); ev != "s3:TestEvent" {
			return nil, invalid("S3 service event %q is not s3:TestEvent", ev)
		}
		return nil, fmt.Errorf("%w: S3 test event (s3:TestEvent) for bucket %q", ErrIgnore, str("Bucket"))
	case top["version"] != nil || top["source"] != nil || top["output"] != nil || top["kind"] != nil:
		j, err := Parse(body)
		if err != nil {
			return nil, err
		}
		return []*Job{j}, nil
	default:
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, strconv.Quote(k))
		}
		slices.Sort(keys)
		if len(keys) > 6 {
			keys = append(keys[:6], "...")
		}
		return nil, invalid("the message is neither a job nor an S3, SNS or EventBridge event (its fields: %s)",
			strings.Join(keys, ", "))
	}
}

// parseSNS handles an SNS message of type typ carrying msg.
func parseSNS(top map[string]json.RawMessage, typ, msg string, rules Rules) ([]*Job, error) {
	switch typ {
	case "Notification":
		if msg == "" {
			return nil, invalid("SNS notification without a Message")
		}
		return parseMessage([]byte(msg), rules, "sns+")
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return nil, fmt.Errorf("%w: SNS %s (confirm subscriptions with the SNS API)", ErrIgnore, typ)
	default:
		return nil, invalid("SNS message type %q is not Notification", typ)
	}
}

// s3Notification is the S3 event notification shape (event version 2.x).
type s3Notification struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		EventTime   string `json:"eventTime"`
		AWSRegion   string `json:"awsRegion"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string          `json:"key"`
				Size      json.RawMessage `json:"size"`
				ETag      string          `json:"eTag"`
				VersionID string          `json:"versionId"`
				Sequencer string          `json:"sequencer"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// MaxRecords is the most records one S3 event notification may hold; a
// message with more is refused whole (dead-lettered with this reason).
const MaxRecords = 100

// parseS3Notification maps an S3 event notification's records to jobs.
func parseS3Notification(body []byte, rules Rules, via string) ([]*Job, error) {
	var n s3Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, invalid("S3 event notification: %s", jsonReason(err))
	}
	if len(n.Records) == 0 {
		return nil, invalid("S3 event notification with no records")
	}
	if len(n.Records) > MaxRecords {
		// S3 sends one record per object; thousands in one message are
		// not S3's, and each would be a job (issue N).
		return nil, invalid("S3 event notification with %d records: at most %d", len(n.Records), MaxRecords)
	}
	var jobs []*Job
	var skipped []string
	for i, rec := range n.Records {
		if rec.EventSource != "aws:s3" {
			return nil, invalid("record %d: eventSource %q is not aws:s3", i, rec.EventSource)
		}
		if !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			skipped = append(skipped, fmt.Sprintf("record %d: %s is not an object creation", i, strconv.Quote(rec.EventName)))
			continue
		}
		o := rec.S3.Object
		key, err := url.QueryUnescape(o.Key)
		if err != nil {
			return nil, invalid("record %d: key %q is not URL-encoded the way S3 encodes keys: %v", i, o.Key, err)
		}
		size, err := parseSize(o.Size)
		if err != nil {
			return nil, invalid("record %d: %v", i, err)
		}
		ev := Event{
			Bucket: rec.S3.Bucket.Name, Key: key, Size: size, ETag: o.ETag, Sequencer: o.Sequencer,
			VersionID: o.VersionID, RawTime: rec.EventTime, Time: parseTime(rec.EventTime),
			Name: rec.EventName, Source: via + rec.EventSource, Region: rec.AWSRegion,
		}
		j, err := rules.JobFor(ev)
		if errors.Is(err, ErrIgnore) {
			skipped = append(skipped, fmt.Sprintf("record %d: %s", i, strings.TrimPrefix(err.Error(), ErrIgnore.Error()+": ")))
			continue
		}
		if err != nil {
			if len(n.Records) > 1 {
				return nil, fmt.Errorf("S3 event record %d: %w", i, err)
			}
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		if len(skipped) > 3 {
			skipped = append(skipped[:3], fmt.Sprintf("and %d more", len(skipped)-3))
		}
		return nil, fmt.Errorf("%w: %s", ErrIgnore, strings.Join(skipped, "; "))
	}
	return jobs, nil
}

// eventBridgeEvent is the EventBridge shape of an S3 event.
type eventBridgeEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
	Region     string `json:"region"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string          `json:"key"`
			Size      json.RawMessage `json:"size"`
			ETag      string          `json:"etag"`
			VersionID string          `json:"version-id"`
			Sequencer string          `json:"sequencer"`
		} `json:"object"`
		Reason string `json:"reason"`
	} `json:"detail"`
}

// parseEventBridge maps an EventBridge S3 event to a job.
func parseEventBridge(body []byte, rules Rules, via string) ([]*Job, error) {
	var e eventBridgeEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, invalid("EventBridge event: %s", jsonReason(err))
	}
	if e.Source != "aws.s3" {
		return nil, invalid("EventBridge event from %q, not aws.s3", e.Source)
	}
	if e.DetailType != "Object Created" {
		return nil, fmt.Errorf("%w: EventBridge %q event is not an object creation", ErrIgnore, e.DetailType)
	}
	o := e.Detail.Object
	size, err := parseSize(o.Size)
	if err != nil {
		return nil, invalid("EventBridge event: %v", err)
	}
	name := e.DetailType
	if e.Detail.Reason != "" {
		name += ":" + e.Detail.Reason
	}
	j, err := rules.JobFor(Event{
		Bucket: e.Detail.Bucket.Name, Key: o.Key, Size: size, ETag: o.ETag, Sequencer: o.Sequencer,
		VersionID: o.VersionID, RawTime: e.Time, Time: parseTime(e.Time),
		Name: name, Source: via + e.Source, Region: e.Region,
	})
	if err != nil {
		return nil, err
	}
	return []*Job{j}, nil
}

// parseSize reads an event's object size, a JSON number (or a string
// holding one): -1 when absent or null.
func parseSize(raw json.RawMessage) (int64, error) {
	n := string(raw)
	if n == "" || n == "null" {
		return -1, nil
	}
	if unq, err := strconv.Unquote(n); err == nil && strings.HasPrefix(n, `"`) {
		n = unq
	}
	size, err := strconv.ParseInt(n, 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("object size %.40s is not a whole number of bytes", raw)
	}
	return size, nil
}

// parseTime reads an event time (RFC 3339); zero when absent or unreadable.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// head returns up to n bytes of b's start as a string, for error messages.
func head(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
