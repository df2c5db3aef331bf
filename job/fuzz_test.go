package job

import (
	"errors"
	"testing"
)

// FuzzParseMessage checks that no message body makes ParseMessage panic,
// that it returns either jobs or an error (never both, never an empty
// success), that every error is ErrInvalid or ErrIgnore, and that every job
// it returns validates and survives a Marshal/Parse round trip.
func FuzzParseMessage(f *testing.F) {
	seeds := []string{
		s3Put,
		eventBridgeCreated,
		s3TestEvent,
		snsWrap(s3Put),
		snsWrap(eventBridgeCreated),
		snsWrap(s3TestEvent),
		notification(record("b", "my+video%282%29.mp4", "ObjectCreated:Put", "01"),
			record("b", "a%2Bb.mp4", "ObjectCreated:Copy", "02"),
			record("b", "gone.mp4", "ObjectRemoved:Delete", "03")),
		notification(record("cams", "live/cam1/000123.ts", "ObjectCreated:Put", "01")),
		notification(record("cams", "live/cam1/END", "ObjectCreated:Put", "01")),
		notification(record("b", "caf%C3%A9+%E6%97%A5.mov", "ObjectCreated:Post", "01")),
		notification(record("b", "..%2F..%2Fetc", "ObjectCreated:Put", "01")),
		`{"version":1,"id":"a","kind":"live-segment","source":"s3://b/live/s/1.ts","output":"s3://b/o/",` +
			`"ladder":"mobile","segment_seconds":2,"segment_type":"fmp4","live":{"stream":"s","sequence":1},` +
			`"submitted_at":"2025-01-01T00:00:00Z","attributes":{"k":"v"}}`,
		`{"version":1,"id":"a","source":"file:///in/a.mp4","output":"file:///out"}`,
		`{"Records":[]}`,
		`{"Type":"Notification","Message":"{\"Records\":[{}]}"}`,
		`{}`,
		`[]`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	rules := Rules{
		{Prefix: "x/", Ignore: true},
		{Bucket: "b", Prefix: "in/", Output: "file:///srv/{bucket}/{dir}/{name}", SegmentType: SegmentTS},
		{Prefix: "live/", Kind: KindLiveSegment, Output: "s3://{bucket}/l/{stream}/{dir}"},
		{Output: "s3://{bucket}/out/{key}/{stem}/"},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rs := range []Rules{nil, rules} {
			jobs, err := ParseMessage(body, rs)
			if err != nil {
				if jobs != nil {
					t.Fatalf("jobs and an error: %v", err)
				}
				if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrIgnore) {
					t.Fatalf("error is neither ErrInvalid nor ErrIgnore: %v", err)
				}
				continue
			}
			if len(jobs) == 0 {
				t.Fatal("no jobs and no error")
			}
			for _, j := range jobs {
				if err := j.Validate(); err != nil {
					t.Fatalf("returned job does not validate: %v", err)
				}
				data, err := j.Marshal()
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				back, err := Parse(data)
				if err != nil {
					t.Fatalf("Parse(Marshal(job)): %v\n%s", err, data)
				}
				if back.IdempotencyKey() != j.IdempotencyKey() || !jobsEqual(back, j) {
					t.Fatalf("round trip changed the job:\n%+v\n%+v", j, back)
				}
			}
		}
	})
}
