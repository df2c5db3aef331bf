package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

func TestWriteReport(t *testing.T) {
	st := &runStats{}
	st.init(options{minutes: 2, seed: 9, workers: 3, visibility: 30 * time.Second, drain: 10 * time.Second, maxReceive: 3})
	st.Faults[FaultKill], st.Faults[FaultOutage] = 2, 1
	st.Submitted[KindJob], st.Submitted[KindGarbageBody] = 5, 1
	st.addExits([]exitRecord{
		{Slot: 0, Cause: FaultKill, Code: -1},
		{Slot: 1, Cause: FaultTerm, Code: 0, Drain: 3 * time.Second},
		{Slot: 2, Cause: FaultTerm, Code: 1, Drain: 30 * time.Second, Status: "exit status 1"},
		{Slot: 2, Status: "signal: segmentation fault", Code: -1},
		{Slot: 0, Final: true}, {Slot: 1, Final: true}, {Slot: 2, Final: true},
	}, 10*time.Second)
	st.addReceives(map[string]MessageLog{"a": {Receives: 1}, "b": {Receives: 3}})
	st.Settled, st.Dir = true, "/tmp/soak-x"
	v := &Verdict{Outputs: 5, GoodOutputs: 4, Published: 3, DeadLetters: 2,
		PublishWaits: []time.Duration{3 * time.Second, 40 * time.Second, 5 * time.Second},
		WrongDLQ:     []Finding{{"s3://b/out/job-001/", "dead-lettered: max receives exceeded"}},
		Garbage:      map[Kind]*GarbageTally{KindGarbageBody: {Sent: 1, Once: 1, Reasons: map[string]int{"invalid job": 1}}}}
	var b bytes.Buffer
	writeReport(&b, st, v)
	out := b.String()
	for _, want := range []string{
		"2m0s of chaos, seed 9",
		"faults injected: 3 (kill-9 2, s3-outage 1), 0 while a job ran",
		"workers: 4 restarts; SIGTERM drains 1 clean of 2; 1 exits no fault caused",
		"exit status 1 30s after SIGTERM",
		"signal: segmentation fault",
		"submissions: 6 (job 5, garbage-body 1)",
		"first submission → published (job.json finished_at): p50 5s, p90 40s, max 40s",
		"receives: 4 of 2 messages (most for one message: 3)",
		"garbage-body: 1 sent, 1 dead-lettered once",
		"    1× invalid job\n",
		"lost                   0\n",
		"wrongly dead-lettered  1\n    s3://b/out/job-001/: dead-lettered: max receives exceeded",
		"stale status           0\n",
		"FAIL (worker and peer logs: /tmp/soak-x)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeReport(&b, st, &Verdict{Garbage: map[Kind]*GarbageTally{}})
	if !strings.Contains(b.String(), "OK: nothing lost, torn, wrongly dead-lettered or stale") {
		t.Errorf("a clean verdict:\n%s", b.String())
	}
}

func TestMessageLogs(t *testing.T) {
	dir := t.TempDir()
	logs := []string{filepath.Join(dir, "w0-1.log"), filepath.Join(dir, "w1-1.log")}
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(logs[0], `{"level":"info","msg":"worker started"}
{"level":"info","ts":"2026-01-01T00:00:01Z","msg":"message received","message_id":"m1","attempt":1}
{"level":"warn","ts":"2026-01-01T00:00:09Z","msg":"checking for a published output failed; releasing","message_id":"m1","attempt":3,"error":"S3 down"}
{"level":"warn","ts":"2026-01-01T00:00:02Z","msg":"job failed","job_id":"j","error":"not about a message"}
not json "message_id"
{"level":"info","ts":"2026-01-01T00:00:03Z","msg":"message received","message_id":"m2","attempt":1}
`)
	write(logs[1], `{"level":"warn","ts":"2026-01-01T00:00:05Z","msg":"job failed; it will be retried","message_id":"m1","attempt":2,"error":"older"}
`)
	got, err := messageLogs(logs)
	want := map[string]MessageLog{
		"m1": {Receives: 3, LastError: "checking for a published output failed; releasing: S3 down", lastAt: "2026-01-01T00:00:09Z"},
		"m2": {Receives: 1},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("messageLogs: %+v, %v\nwant %+v", got, err, want)
	}
	if _, err := messageLogs([]string{filepath.Join(dir, "none.log")}); err == nil {
		t.Error("a missing log is not an error")
	}
}

// The S3 notification the soak sends is one the workers' rules turn into a
// job for out/events/<stem>/ with the soak's segment length.
func TestS3EventMakesTheJob(t *testing.T) {
	rules, err := job.ParseRules([]byte(rulesJSON))
	if err != nil {
		t.Fatal(err)
	}
	body, err := s3Event("soak-1", "uploads/ev-007.mp4", 12345, `"abc"`, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := job.ParseMessage(body, rules)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("ParseMessage: %v, %d jobs", err, len(jobs))
	}
	j := jobs[0]
	if j.Source != "s3://soak-1/uploads/ev-007.mp4" || j.Output != "s3://soak-1/out/events/ev-007/" || j.SegmentSeconds != segmentSeconds {
		t.Errorf("job %+v", j)
	}
	again, _ := job.ParseMessage(body, rules)
	if again[0].ID != j.ID {
		t.Error("the same notification makes another job id")
	}
	for _, key := range []string{"out/job-001/master.m3u8", "src/clip-0.mp4"} {
		b, _ := s3Event("soak-1", key, 1, "e", time.Now())
		if _, err := job.ParseMessage(b, rules); err == nil || !strings.Contains(err.Error(), "ignore") {
			t.Errorf("an event for %s: %v, want ignored", key, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags([]string{"-hlsfleet", "bin/hlsfleet", "-minutes", "0.5"}, &errs)
	if err != nil || o.chaos() != 30*time.Second || o.seed == 0 || o.workers != 3 || o.maxReceive != 3 ||
		o.visibility != 30*time.Second || o.drain != 10*time.Second || o.stopFor != 20*time.Second || o.outageFor != 10*time.Second {
		t.Errorf("parseFlags: %+v, %v", o, err)
	}
	for _, args := range [][]string{{}, {"-hlsfleet", "x", "extra"}, {"-hlsfleet", "x", "-minutes", "0"}, {"-bogus"}} {
		if _, err := parseFlags(args, &errs); err == nil {
			t.Errorf("parseFlags(%q) = nil error", args)
		}
	}
}
