package job_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

// A job document is parsed strictly and validated; every problem is
// reported at once, wrapping ErrInvalid (which is permanent: retrying a bad
// job cannot help).
func ExampleParse() {
	j, err := job.Parse([]byte(`{"version": 1, "id": "clip-42", "kind": "vod",
		"source": "s3://uploads/in/clip.mp4", "output": "s3://media/hls/clip/",
		"ladder": "default", "submitted_at": "2025-01-01T00:00:00Z"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(j.ID, j.Kind, j.Source, "->", j.Output, "ladder", j.LadderName())

	_, err = job.Parse([]byte(`{"version": 1, "id": "clip-43", "source": "s3://uploads/in/", "output": ""}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, job.ErrInvalid), errors.Is(err, job.ErrPermanent))
	// Output:
	// clip-42 vod s3://uploads/in/clip.mp4 -> s3://media/hls/clip/ ladder default
	// invalid job: job clip-43: source "s3://uploads/in/" ends in '/': it must name an object or file, not a folder; output is missing
	// true true
}

// New fills in the version, a random ID and the submission time; Validate
// checks the result before it is sent anywhere.
func ExampleNew() {
	j := job.New("file:///srv/in/talk.mov", "file:///srv/out/talk/",
		job.WithLadder("default"), job.WithSegmentType(job.SegmentFMP4), job.WithSegmentSeconds(4))
	fmt.Println(j.Kind, j.SegmentType, j.SegmentSeconds, len(j.ID), j.Validate())

	j.SegmentSeconds = 600
	fmt.Println(errors.Is(j.Validate(), job.ErrInvalid))
	// Output:
	// vod fmp4 4 32 <nil>
	// true
}

// The idempotency key names the output a job determines: two deliveries of
// the same work (different IDs, submission times and attributes) share a
// key, and a job asking for different output does not.
func ExampleJob_IdempotencyKey() {
	a := job.New("s3://uploads/in/clip.mp4", "s3://media/hls/clip/")
	b := job.New("s3://uploads/in/clip.mp4", "s3://media/hls/clip", // no trailing '/'
		job.WithLadder(job.DefaultLadder), job.WithAttribute("note", "resubmitted"),
		job.WithSubmittedAt(time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)))
	c := job.New("s3://uploads/in/clip.mp4", "s3://media/hls/clip/", job.WithSegmentSeconds(2))

	fmt.Println(a.ID != b.ID, len(a.IdempotencyKey()))
	fmt.Println(a.IdempotencyKey() == b.IdempotencyKey())
	fmt.Println(a.IdempotencyKey() == c.IdempotencyKey())
	// Output:
	// true 64
	// true
	// false
}

// Rules map an S3 object-created event to a job: the first matching rule
// wins and fills in the output from its template. The job's ID comes from
// the event, so every delivery of the same event makes the same job.
func ExampleRules_JobFor() {
	rules := job.Rules{
		{Prefix: "out/", Ignore: true},
		{Bucket: "uploads", Prefix: "in/", Output: "s3://media/hls/{dir}/{name}/", SegmentType: job.SegmentFMP4},
	}
	ev := job.Event{
		Bucket: "uploads", Key: "in/2025/clip.mp4", Size: 1234567, ETag: `"9b2cf535f27731c974343645a3985328"`,
		Sequencer: "0055AED6DCD90281E5", Time: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC),
	}
	j, err := rules.JobFor(ev)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := rules.JobFor(ev)
	fmt.Println(j.Kind, j.Source, "->", j.Output, j.SegmentType)
	fmt.Println(j.ID == again.ID, j.SubmittedAt.Format(time.RFC3339))
	fmt.Println(j.Attributes[job.AttrKey], j.Attributes[job.AttrSize], j.Attributes[job.AttrRule])

	_, err = rules.JobFor(job.Event{Bucket: "uploads", Key: "out/2025/clip/master.m3u8", Size: -1})
	fmt.Println(errors.Is(err, job.ErrIgnore), err)
	// Output:
	// vod s3://uploads/in/2025/clip.mp4 -> s3://media/hls/2025/clip/ fmp4
	// true 2025-01-01T12:00:00Z
	// in/2025/clip.mp4 1234567 1
	// true message ignored: rule 0 (prefix "out/") ignores s3://uploads/out/2025/clip/master.m3u8
}

// ParseMessage takes a queue message body as it arrives: here the S3 event
// notification an S3 bucket sends to SQS (keys URL-encoded, '+' a space),
// mapped to jobs by DefaultRules.
func ExampleParseMessage() {
	body := `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
		"eventTime":"2025-01-01T12:00:00.000Z","eventName":"ObjectCreated:Put",
		"s3":{"bucket":{"name":"uploads"},"object":{"key":"talks/my+talk.mp4","size":5000000,
		"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0A1B2C3D4E5F678901"}}}]}`
	jobs, err := job.ParseMessage([]byte(body), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, j := range jobs {
		fmt.Printf("%s %q -> %s\n", j.Kind, j.Source, j.Output)
		fmt.Println(j.Attributes[job.AttrRegion], j.Attributes[job.AttrEventName])
	}

	// S3's test event, sent when notifications are configured, asks for no work.
	_, err = job.ParseMessage([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"uploads"}`), nil)
	fmt.Println(errors.Is(err, job.ErrIgnore))
	// Output:
	// vod "s3://uploads/talks/my talk.mp4" -> s3://uploads/hls/talks/my talk/
	// eu-west-1 ObjectCreated:Put
	// true
}
