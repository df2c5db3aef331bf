package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// s3Put is an S3 event notification for one PUT, shaped like the ones S3
// sends to SQS (event version 2.1), with every field a real one carries.
const s3Put = `{
  "Records": [
    {
      "eventVersion": "2.1",
      "eventSource": "aws:s3",
      "awsRegion": "us-west-2",
      "eventTime": "2025-02-03T04:05:06.789Z",
      "eventName": "ObjectCreated:Put",
      "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUSER"},
      "requestParameters": {"sourceIPAddress": "203.0.113.7"},
      "responseElements": {"x-amz-request-id": "7A1B2C3D4E5F6071", "x-amz-id-2": "Zm9vYmFyZXhhbXBsZWhvc3RpZA=="},
      "s3": {
        "s3SchemaVersion": "1.0",
        "configurationId": "hlsfleet-uploads",
        "bucket": {
          "name": "media-in",
          "ownerIdentity": {"principalId": "A1EXAMPLEOWNER"},
          "arn": "arn:aws:s3:::media-in"
        },
        "object": {
          "key": "uploads/my+video%282%29.mp4",
          "size": 73400320,
          "eTag": "9b2cf535f27731c974343645a3985328",
          "versionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
          "sequencer": "0065A1B2C3D4E5F601"
        }
      }
    }
  ]
}`

// eventBridgeCreated is an S3 "Object Created" event as EventBridge delivers
// it to an SQS target.
const eventBridgeCreated = `{
  "version": "0",
  "id": "4c1f2e9a-0b6d-4a53-9f1e-2d7c8b5a6e01",
  "detail-type": "Object Created",
  "source": "aws.s3",
  "account": "111122223333",
  "time": "2025-02-03T04:05:07Z",
  "region": "eu-central-1",
  "resources": ["arn:aws:s3:::media-in"],
  "detail": {
    "version": "0",
    "bucket": {"name": "media-in"},
    "object": {
      "key": "uploads/my video(2)+final.mp4",
      "size": 5242880,
      "etag": "6f1ed002ab5595859014ebf0951522d9-2",
      "version-id": "Jq1d.EXAMPLEversion",
      "sequencer": "0065A1B2C3D4E5F602"
    },
    "request-id": "QWERTY1234567890",
    "requester": "111122223333",
    "source-ip-address": "198.51.100.4",
    "reason": "CompleteMultipartUpload"
  }
}`

// s3TestEvent is what S3 sends to a destination when a notification
// configuration is saved.
const s3TestEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2025-02-03T04:00:00.000Z",` +
	`"Bucket":"media-in","RequestId":"5582815E1AEA5ADF","HostId":"aGVsbG8taG9zdC1pZC1leGFtcGxl"}`

// record returns one S3 notification record for bucket, key (as S3 would
// encode it) and eventName.
func record(bucket, encodedKey, eventName, sequencer string) string {
	return fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventTime":"2025-01-01T00:00:00.000Z","eventName":%q,"s3":{"s3SchemaVersion":"1.0",`+
		`"bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":1048576,`+
		`"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":%q}}}`, eventName, bucket, bucket, encodedKey, sequencer)
}

// notification wraps records in an S3 notification.
func notification(records ...string) string {
	return `{"Records":[` + strings.Join(records, ",") + `]}`
}

// snsWrap wraps a message the way SNS delivers to SQS without raw delivery.
func snsWrap(msg string) string {
	quoted, _ := json.Marshal(msg)
	return `{"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",` +
		`"TopicArn":"arn:aws:sns:us-west-2:111122223333:media-events","Subject":"Amazon S3 Notification",` +
		`"Message":` + string(quoted) + `,"Timestamp":"2025-02-03T04:05:07.001Z","SignatureVersion":"1",` +
		`"Signature":"EXAMPLEsig==","SigningCertURL":"https://sns.us-west-2.amazonaws.com/cert.pem",` +
		`"UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"}`
}

func TestParseMessageS3Put(t *testing.T) {
	jobs, err := ParseMessage([]byte(s3Put), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want 1", len(jobs))
	}
	j := jobs[0]
	if j.Source != "s3://media-in/uploads/my video(2).mp4" || j.Output != "s3://media-in/hls/uploads/my video(2)/" ||
		j.Kind != KindVOD || j.Ladder != DefaultLadder || j.Version != Version {
		t.Errorf("job %+v", j)
	}
	if want := time.Date(2025, 2, 3, 4, 5, 6, 789e6, time.UTC); !j.SubmittedAt.Equal(want) {
		t.Errorf("submitted_at %v, want %v", j.SubmittedAt, want)
	}
	want := map[string]string{AttrBucket: "media-in", AttrKey: "uploads/my video(2).mp4", AttrSize: "73400320",
		AttrETag: "9b2cf535f27731c974343645a3985328", AttrSequencer: "0065A1B2C3D4E5F601",
		AttrVersionID: "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", AttrEventTime: "2025-02-03T04:05:06.789Z",
		AttrEventName: "ObjectCreated:Put", AttrEventSource: "aws:s3", AttrRegion: "us-west-2", AttrRule: "2"}
	for k, v := range want {
		if j.Attributes[k] != v {
			t.Errorf("attributes[%q] = %q, want %q", k, j.Attributes[k], v)
		}
	}
	// A redelivery gives the same job ID; so does the same event via SNS.
	again, _ := ParseMessage([]byte(s3Put), nil)
	viaSNS, err := ParseMessage([]byte(snsWrap(s3Put)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID != j.ID || viaSNS[0].ID != j.ID || viaSNS[0].IdempotencyKey() != j.IdempotencyKey() {
		t.Errorf("IDs differ across deliveries: %s %s %s", j.ID, again[0].ID, viaSNS[0].ID)
	}
	if viaSNS[0].Attributes[AttrEventSource] != "sns+aws:s3" {
		t.Errorf("SNS event source attribute %q", viaSNS[0].Attributes[AttrEventSource])
	}
}

func TestParseMessageKeyDecoding(t *testing.T) {
	tests := []struct{ encoded, key string }{
		{"my+video%282%29.mp4", "my video(2).mp4"},
		{"a%2Bb.mp4", "a+b.mp4"},
		{"a%20b+c.mp4", "a b c.mp4"},
		{"plain.mp4", "plain.mp4"},
		{"dir/sub/x.mov", "dir/sub/x.mov"},
		{"caf%C3%A9/%E6%97%A5%E6%9C%AC%E8%AA%9E.mp4", "café/日本語.mp4"},
		{"%F0%9F%8E%AC+clip.mp4", "🎬 clip.mp4"},
		{"100%25.mp4", "100%.mp4"},
		{"q%3Fh%23.mp4", "q?h#.mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.encoded, func(t *testing.T) {
			jobs, err := ParseMessage([]byte(notification(record("b", tt.encoded, "ObjectCreated:Put", "01"))), nil)
			if err != nil {
				t.Fatal(err)
			}
			if jobs[0].Source != "s3://b/"+tt.key || jobs[0].Attributes[AttrKey] != tt.key {
				t.Errorf("source %q key attribute %q, want key %q", jobs[0].Source, jobs[0].Attributes[AttrKey], tt.key)
			}
		})
	}
	for _, bad := range []string{"bad%zz.mp4", "trunc%2.mp4", "inv%FF.mp4", "nul%00.mp4", "up%2F..%2F..%2Fx.mp4"} {
		_, err := ParseMessage([]byte(notification(record("b", bad, "ObjectCreated:Put", "01"))), nil)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("key %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseMessageMultipleRecords(t *testing.T) {
	body := notification(
		record("b", "one.mp4", "ObjectCreated:Put", "01"),
		record("b", "old.mp4", "ObjectRemoved:Delete", "02"),
		record("b", "two.mov", "ObjectCreated:CompleteMultipartUpload", "03"),
		record("b", "hls/one/master.m3u8", "ObjectCreated:Put", "04"),
		record("c", "three.mkv", "ObjectCreated:Copy", "05"),
	)
	jobs, err := ParseMessage([]byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[string]bool{}
	for _, j := range jobs {
		got = append(got, j.Source)
		ids[j.ID] = true
	}
	want := []string{"s3://b/one.mp4", "s3://b/two.mov", "s3://c/three.mkv"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sources %v, want %v", got, want)
	}
	if len(ids) != 3 {
		t.Errorf("job IDs are not distinct: %v", ids)
	}
	// One bad record rejects the whole message, naming the record.
	body = notification(record("b", "ok.mp4", "ObjectCreated:Put", "01"), record("b", "..%2Fx.mp4", "ObjectCreated:Put", "02"))
	if _, err := ParseMessage([]byte(body), nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "record 1") {
		t.Errorf("bad second record: %v", err)
	}
	// Issue N: one notification of 5,000 records once made 5,000 jobs.
	var recs []string
	for i := range MaxRecords + 1 {
		recs = append(recs, record("b", fmt.Sprintf("v%d.mp4", i), "ObjectCreated:Put", fmt.Sprintf("%02d", i)))
	}
	if jobs, err := ParseMessage([]byte(notification(recs[:MaxRecords]...)), nil); err != nil || len(jobs) != MaxRecords {
		t.Errorf("%d records: %d jobs, %v; want %d jobs", MaxRecords, len(jobs), err, MaxRecords)
	}
	if _, err := ParseMessage([]byte(notification(recs...)), nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "101 records: at most 100") {
		t.Errorf("%d records: %v; want refused with the limit named", MaxRecords+1, err)
	}
}

func TestParseMessageEventBridge(t *testing.T) {
	jobs, err := ParseMessage([]byte(eventBridgeCreated), nil)
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	// EventBridge keys are not URL-encoded: '+' stays a plus.
	if len(jobs) != 1 || j.Source != "s3://media-in/uploads/my video(2)+final.mp4" ||
		j.Output != "s3://media-in/hls/uploads/my video(2)+final/" {
		t.Errorf("jobs %+v", jobs)
	}
	for k, v := range map[string]string{AttrSize: "5242880", AttrETag: "6f1ed002ab5595859014ebf0951522d9-2",
		AttrVersionID: "Jq1d.EXAMPLEversion", AttrSequencer: "0065A1B2C3D4E5F602", AttrEventSource: "aws.s3",
		AttrEventName: "Object Created:CompleteMultipartUpload", AttrRegion: "eu-central-1", AttrEventTime: "2025-02-03T04:05:07Z"} {
		if j.Attributes[k] != v {
			t.Errorf("attributes[%q] = %q, want %q", k, j.Attributes[k], v)
		}
	}
	if !j.SubmittedAt.Equal(time.Date(2025, 2, 3, 4, 5, 7, 0, time.UTC)) {
		t.Errorf("submitted_at %v", j.SubmittedAt)
	}
	if again, _ := ParseMessage([]byte(eventBridgeCreated), nil); again[0].ID != j.ID {
		t.Error("a redelivered EventBridge event gives another job ID")
	}
	viaSNS, err := ParseMessage([]byte(snsWrap(eventBridgeCreated)), nil)
	if err != nil || viaSNS[0].ID != j.ID {
		t.Errorf("EventBridge event via SNS: %v", err)
	}
}

func TestParseMessageLive(t *testing.T) {
	tests := []struct {
		body string
		live Live
	}{
		{notification(record("cams", "live/cam1/000123.ts", "ObjectCreated:Put", "01")), Live{Stream: "cam1", Sequence: 123}},
		{notification(record("cams", "live/cam1/END", "ObjectCreated:Put", "02")), Live{Stream: "cam1", End: true}},
		{strings.Replace(strings.Replace(eventBridgeCreated, "uploads/my video(2)+final.mp4", "live/door/42.m4s", 1),
			"media-in", "cams", -1), Live{Stream: "door", Sequence: 42}},
	}
	for _, tt := range tests {
		jobs, err := ParseMessage([]byte(tt.body), nil)
		if err != nil {
			t.Fatal(err)
		}
		j := jobs[0]
		if j.Kind != KindLiveSegment || j.Live == nil || *j.Live != tt.live || j.Output != "s3://cams/hls/live/"+tt.live.Stream+"/" {
			t.Errorf("live job %+v live %+v, want %+v", j, j.Live, tt.live)
		}
	}
}

func TestParseMessageIgnored(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"test event", s3TestEvent, `s3:TestEvent) for bucket "media-in"`},
		{"test event via SNS", snsWrap(s3TestEvent), "s3:TestEvent"},
		{"delete", notification(record("b", "a.mp4", "ObjectRemoved:Delete", "01")), `"ObjectRemoved:Delete" is not an object creation`},
		{"restore and tagging", notification(record("b", "a.mp4", "ObjectRestore:Completed", "01"),
			record("b", "a.mp4", "ObjectTagging:Put", "02")), "record 1"},
		{"many skipped", notification(record("b", "1", "ObjectRemoved:Delete", "1"), record("b", "2", "ObjectRemoved:Delete", "2"),
			record("b", "3", "ObjectRemoved:Delete", "3"), record("b", "4", "ObjectRemoved:Delete", "4"),
			record("b", "5", "ObjectRemoved:Delete", "5")), "and 2 more"},
		{"our own output", notification(record("b", "hls/a/720p/seg_00001.ts", "ObjectCreated:Put", "01")), "ignores s3://b/hls/a"},
		{"folder marker", notification(record("b", "incoming/", "ObjectCreated:Put", "01")), "folder marker"},
		{"live init", notification(record("b", "live/cam1/init.mp4", "ObjectCreated:Put", "01")), "not <stream>/<sequence>"},
		{"EventBridge delete", strings.Replace(eventBridgeCreated, "Object Created", "Object Deleted", 1), `"Object Deleted" event`},
		{"SNS subscription", `{"Type":"SubscriptionConfirmation","MessageId":"x","Token":"t","TopicArn":"arn:aws:sns:us-east-1:1:t",` +
			`"Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/"}`, "SubscriptionConfirmation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := ParseMessage([]byte(tt.body), nil)
			if !errors.Is(err, ErrIgnore) || errors.Is(err, ErrPermanent) || jobs != nil {
				t.Fatalf("ParseMessage = %v, %v; want ErrIgnore only", jobs, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	// Rules that match nothing ignore everything.
	only := Rules{{Bucket: "other", Output: "s3://other/o/{stem}"}}
	if _, err := ParseMessage([]byte(s3Put), only); !errors.Is(err, ErrIgnore) || !strings.Contains(err.Error(), "no rule matches") {
		t.Errorf("no matching rule: %v", err)
	}
}

func TestParseMessageInvalid(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", "", "the message is empty"},
		{"blank", " \n\t", "the message is empty"},
		{"not JSON", "hello", `not a JSON object (it starts with "hello")`},
		{"array", `[{"version":1}]`, "not a JSON object"},
		{"broken JSON", `{"Records":[`, "not valid JSON"},
		{"trailing garbage", `{"a":1}x`, "not valid JSON"},
		{"unknown object", `{"hello":"world","answer":42}`, `neither a job nor an S3, SNS or EventBridge event (its fields: "answer", "hello")`},
		{"empty object", `{}`, "neither a job nor"},
		{"no records", `{"Records":[]}`, "no records"},
		{"null records", `{"Records":null}`, "no records"},
		{"records not array", `{"Records":{}}`, "S3 event notification"},
		{"not s3 source", notification(strings.Replace(record("b", "a.mp4", "ObjectCreated:Put", "1"), `"aws:s3"`, `"aws:sqs"`, 1)),
			`eventSource "aws:sqs" is not aws:s3`},
		{"size not a number", notification(strings.Replace(record("b", "a.mp4", "ObjectCreated:Put", "1"), "1048576", `"big"`, 1)),
			"size"},
		{"fractional size", notification(strings.Replace(record("b", "a.mp4", "ObjectCreated:Put", "1"), "1048576", "1.5", 1)),
			"object size 1.5 is not a whole number"},
		{"no bucket", notification(record("", "a.mp4", "ObjectCreated:Put", "1")), "without a bucket"},
		{"no key", notification(record("b", "", "ObjectCreated:Put", "1")), "without an object key"},
		{"EventBridge from elsewhere", strings.Replace(eventBridgeCreated, `"aws.s3"`, `"aws.ec2"`, 1), `from "aws.ec2", not aws.s3`},
		{"EventBridge no key", strings.Replace(eventBridgeCreated, `"key": "uploads/my video(2)+final.mp4"`, `"key": ""`, 1), "without an object key"},
		{"EventBridge dot-dot", strings.Replace(eventBridgeCreated, "uploads/my video", "../x", 1), `".." segment`},
		{"other service event", `{"Service":"Amazon S3","Event":"s3:Other"}`, `"s3:Other" is not s3:TestEvent`},
		{"SNS without message", `{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t"}`, "without a Message"},
		{"SNS odd type", `{"Type":"Weird","Message":"{}"}`, `SNS message type "Weird"`},
		{"SNS garbage", snsWrap("not json"), "not a JSON object"},
		{"SNS in SNS", snsWrap(snsWrap(s3Put)), "inside an SNS notification"},
		{"bad job", `{"version":1,"id":"a","source":"http://x/y","output":"s3://b/o"}`, `scheme "http"`},
		{"job unknown field", `{"version":1,"id":"a","source":"s3://b/k","output":"s3://b/o","extra":1}`, `unknown field "extra"`},
		{"huge", `{"a":"` + strings.Repeat("x", maxMessage) + `"}`, "over the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := ParseMessage([]byte(tt.body), nil)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPermanent) || jobs != nil {
				t.Fatalf("ParseMessage = %v, %v; want ErrInvalid", jobs, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseMessageJobViaSNS(t *testing.T) {
	doc := `{"version":1,"id":"a","source":"s3://b/k.mp4","output":"s3://b/o/","ladder":"mobile"}`
	jobs, err := ParseMessage([]byte(snsWrap(doc)), nil)
	if err != nil || len(jobs) != 1 || jobs[0].ID != "a" || jobs[0].Ladder != "mobile" {
		t.Fatalf("job via SNS: %+v, %v", jobs, err)
	}
}

func TestParseMessageBadRules(t *testing.T) {
	bad := Rules{{Output: "s3://{bucket}/{nope}"}}
	_, err := ParseMessage([]byte(s3Put), bad)
	if err == nil || errors.Is(err, ErrPermanent) || errors.Is(err, ErrIgnore) || !strings.Contains(err.Error(), "{nope}") {
		t.Fatalf("bad rules: %v; want a plain, retryable error naming the placeholder", err)
	}
	// Explicit empty rules are not nil: nothing matches.
	if _, err := ParseMessage([]byte(s3Put), Rules{}); !errors.Is(err, ErrIgnore) {
		t.Errorf("empty rules: %v, want ErrIgnore", err)
	}
}
