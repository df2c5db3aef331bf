package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// dropInInbox starts `hlsfleet local` with extra flags and env, drops the
// test clip into its inbox and returns the path its master will have and
// the job.json path.
func dropInInbox(t *testing.T, env []string, flags ...string) (master, status string) {
	t.Helper()
	clip := needClip(t)
	data := t.TempDir()
	inbox, out := filepath.Join(data, "in"), filepath.Join(data, "out")
	startHLSFleet(t, env, append([]string{"local", "--data", filepath.Join(data, "fleet"), "--inbox", inbox, "--out", out, "--metrics-addr", ""}, flags...)...)
	waitFor(t, 20*time.Second, "the inbox to exist", func() bool {
		_, err := os.Stat(inbox)
		return err == nil
	})
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(inbox, ".clip.part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, "clip.mp4")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "clip", job.MasterName), filepath.Join(out, "clip", job.StatusName)
}

// TestLocalWebhookEvents: `hlsfleet local --events-webhook` delivers the
// job's events signed (secret from HLSFLEET_WEBHOOK_SECRET), in order,
// from queued to published, retrying one refused with a 500.
func TestLocalWebhookEvents(t *testing.T) {
	const secret = "local-secret"
	var mu sync.Mutex
	var got []events.WebhookPayload
	refused := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := events.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("delivery failed verification: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p events.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("body %s: %v", body, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if p.Type == job.EventStarted && refused == 0 {
			refused++
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		got = append(got, p)
	}))
	defer srv.Close()
	master, _ := dropInInbox(t, []string{envWebhookSecret + "=" + secret}, "--events-webhook", srv.URL)
	waitFor(t, 120*time.Second, "the published event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1].Type == job.EventPublished
	})
	if _, err := os.Stat(master); err != nil {
		t.Fatalf("published event before the master exists: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 1 {
		t.Errorf("the 500 was answered %d times", refused)
	}
	if got[0].Type != events.TypeQueued || len(got) < 3 || got[1].Type != job.EventStarted {
		t.Fatalf("events %v: want queued, started, ..., published", eventTypes(got))
	}
	last := -1.0
	for _, p := range got[1 : len(got)-1] {
		if p.Type != job.EventProgress && p.Type != job.EventStarted {
			t.Errorf("unexpected %s between started and published: %v", p.Type, eventTypes(got))
		}
		if p.Status.Progress < last {
			t.Errorf("progress went back from %v to %v", last, p.Status.Progress)
		}
		last = p.Status.Progress
	}
	pub := got[len(got)-1]
	// The storyboard sits in the publishing attempt's folder.
	if pub.Status.State != job.StatePublished || len(pub.Status.Quality) == 0 ||
		path.Base(pub.Status.Storyboard) != pipeline.StoryboardName || attempt.Of(pub.Status.Storyboard) == "" {
		t.Errorf("published event's status lacks the extras: %+v", pub.Status)
	}
	for _, p := range got {
		if p.JobID != got[0].JobID {
			t.Errorf("event of another job %s", p.JobID)
		}
	}
}

func eventTypes(ps []events.WebhookPayload) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Type)
	}
	return s
}

// TestLocalDeadWebhookNeverHoldsAJob: with a receiver that takes every
// request and never answers, the job still publishes, while the receiver
// is still holding the job's first event.
func TestLocalDeadWebhookNeverHoldsAJob(t *testing.T) {
	var mu sync.Mutex
	held, answered := 0, 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		held++
		mu.Unlock()
		<-release
		mu.Lock()
		answered++
		mu.Unlock()
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)
	master, status := dropInInbox(t, nil, "--events-webhook", srv.URL)
	waitFor(t, 120*time.Second, "the job to publish", func() bool {
		data, err := os.ReadFile(status)
		var st job.Status
		return err == nil && json.Unmarshal(data, &st) == nil && st.State == job.StatePublished
	})
	if _, err := os.Stat(master); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if held == 0 || answered != 0 {
		t.Errorf("receiver held %d requests and answered %d; want the first event still held when the job published", held, answered)
	}
}

// TestExtrasFlagErrors: bad extras flags are request faults (exit 2, one line).
func TestExtrasFlagErrors(t *testing.T) {
	clip := needClip(t)
	for _, args := range [][]string{
		{"transcode", "--mp4", "4320", clip, t.TempDir()},
		{"transcode", "--quality-gate", "2", clip, t.TempDir()},
		{"worker", "--queue", t.TempDir(), "--events-webhook", "ftp://example.com/hook"},
		{"worker", "--queue", t.TempDir(), "--events-sns", "topic-without-arn"},
	} {
		r := runCLI(t, nil, args...)
		if r.code != 2 || !strings.HasPrefix(lastLine(r.stderr), "hlsfleet: ") {
			t.Errorf("hlsfleet %v: exit %d, last line %q; want 2 and one hlsfleet: line", args, r.code, lastLine(r.stderr))
		}
	}
}
