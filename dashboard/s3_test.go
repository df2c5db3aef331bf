package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/storage"
)

// The remote-fleet form (`serve --output s3://... --sources s3://...`) on the
// S3 peer: jobs and live streams from a bucket, media served with ranges, an
// upload stored in the bucket and sent as a job.
func TestS3OutputAndUploads(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") != "" {
			t.Fatal("S3 peer required (HLSFLEET_REQUIRE_S3_PEER) but AWS_ENDPOINT_URL_S3 is not set")
		}
		t.Skip("S3 peer not running: start it with scripts/peers/s3.sh start and eval its env")
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := "dash-" + randHex()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	root, err := storage.Open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	put := func(key string, data []byte) {
		t.Helper()
		if err := root.WriteAll(ctx, key, data, storage.WriterOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := json.Marshal(job.Status{JobID: "s3job", State: job.StatePublished, Progress: 100, UpdatedAt: time.Now()})
	put("out/show/ep1/job.json", st)
	put("out/show/ep1/master.m3u8", []byte("#EXTM3U\n"))
	put("out/show/ep1/720p/00000.ts", bytes.Repeat([]byte{0x47}, 1880))
	put("out/live/cam/master.m3u8", []byte("#EXTM3U\n"))
	put("out/live/cam/720p/index.m3u8", []byte("#EXTM3U\n#EXT-X-ENDLIST\n"))
	put("out/live/cam/720p/00001.ts", []byte{0x47})

	f := newFixture(t, func(c *Config) {
		c.Output, c.Sources = "s3://"+bucket+"/out", "s3://"+bucket+"/uploads"
	})
	f.s.Scan(ctx)
	state := f.s.hub.state()
	if len(state.Jobs) != 1 || state.Jobs[0].ID != "s3job" || state.Jobs[0].Path != "show/ep1" {
		t.Fatalf("jobs %+v", state.Jobs)
	}
	if len(state.Streams) != 1 || state.Streams[0].Name != "cam" || !state.Streams[0].Ended || state.Streams[0].Segments != 1 {
		t.Fatalf("streams %+v", state.Streams)
	}

	req, _ := http.NewRequest("GET", f.ts.URL+"/media/show/ep1/720p/00000.ts", nil)
	req.Header.Set("Range", "bytes=0-187")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(body) != 188 {
		t.Fatalf("range from S3: %d, %d bytes", resp.StatusCode, len(body))
	}

	resp = postReq(t, f.ts.URL+"/api/upload?name=talk.mp4", bytes.NewReader(mp4Head), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, readErr(t, resp))
	}
	var res UploadResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	key := "uploads/" + res.JobID + "-talk.mp4"
	if data, err := root.ReadAll(ctx, key); err != nil || !bytes.Equal(data, mp4Head) {
		t.Fatalf("uploaded object %s: %v", key, err)
	}
	ms, err := f.q.Receive(ctx, 1, time.Second, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("queue: %v %d", err, len(ms))
	}
	j, err := job.Parse(ms[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if j.Source != "s3://"+bucket+"/"+key || j.Output != "s3://"+bucket+"/out/talk" || !strings.HasSuffix(res.Output, "/out/talk") {
		t.Fatalf("job source %s output %s", j.Source, j.Output)
	}
}
