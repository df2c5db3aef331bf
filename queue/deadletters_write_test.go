package queue_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
)

func sampleDeadLetters() []queue.DeadLetter {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	return []queue.DeadLetter{
		{Message: queue.Message{ID: "m1", ReceiveCount: 3, GroupID: "g",
			Body:       []byte(`{"id":"job-1","source":"s3://b/in.mp4","output":"s3://b/out"}`),
			Attributes: map[string]string{"k": "v"}},
			Reason: "bad\n  input:\tnot media", At: at},
		{Message: queue.Message{ID: "m2", ReceiveCount: 1, Body: []byte("plain   text\nbody " + strings.Repeat("x", 80))},
			Reason: strings.Repeat("r", 210)},
	}
}

// The table: one row per dead letter (job summary, one-line reason cut at
// 200 bytes, "-" for an unknown time) and the count.
func TestWriteDeadLettersTable(t *testing.T) {
	var b bytes.Buffer
	if err := queue.WriteDeadLetters(&b, sampleDeadLetters(), false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header, 2 rows and a count, got:\n%s", b.String())
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ID RECEIVES DEAD-LETTERED JOB REASON" {
		t.Errorf("header %q", lines[0])
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "m1 3 2024-05-06T06:08:09Z job-1 s3://b/in.mp4 bad input: not media" {
		t.Errorf("row 1 %q", lines[1])
	}
	wantBody := ("plain text body " + strings.Repeat("x", 80))[:60] + "..."
	if !strings.Contains(lines[2], " - ") || !strings.Contains(lines[2], wantBody) ||
		!strings.HasSuffix(lines[2], strings.Repeat("r", 200)+"...") {
		t.Errorf("row 2 %q", lines[2])
	}
	if lines[3] != "2 dead letters" {
		t.Errorf("count line %q", lines[3])
	}
}

// JSON: one object a line, every field as stored, no time when unknown.
func TestWriteDeadLettersJSON(t *testing.T) {
	var b bytes.Buffer
	dls := sampleDeadLetters()
	if err := queue.WriteDeadLetters(&b, dls, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", b.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": "m1", "reason": dls[0].Reason, "receive_count": 3.0, "group_id": "g",
		"body": string(dls[0].Body), "dead_lettered_at": "2024-05-06T07:08:09+01:00"} {
		if first[k] != want {
			t.Errorf("%s = %#v, want %#v", k, first[k], want)
		}
	}
	if a, _ := first["attributes"].(map[string]any); a["k"] != "v" {
		t.Errorf("attributes = %#v", first["attributes"])
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dead_lettered_at", "group_id", "attributes"} {
		if _, ok := second[k]; ok {
			t.Errorf("second line has %s: %s", k, lines[1])
		}
	}
}
