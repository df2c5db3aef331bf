package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// logLine writes one zap JSON line at t0+sec.
func logLine(b *bytes.Buffer, sec float64, msg string, kv ...any) {
	fmt.Fprintf(b, `{"level":"info","ts":%q,"msg":%q`, t0.Add(time.Duration(sec*float64(time.Second))).Format(zapTime), msg)
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			fmt.Fprintf(b, `,%q:%q`, kv[i], v)
		default:
			fmt.Fprintf(b, `,%q:%v`, kv[i], v)
		}
	}
	b.WriteString("}\n")
}

// jobLog writes the lines the worker logs for one job: received at from,
// started a little later, published (wall_seconds) and acknowledged at to.
func jobLog(b *bytes.Buffer, msgID, jobID string, from, to float64, extra ...any) {
	logLine(b, from, "message received", "message_id", msgID, "attempt", 1)
	logLine(b, from+0.01, "job started", append([]any{"message_id", msgID, "attempt", 1, "job_id", jobID}, extra...)...)
	logLine(b, to-0.01, "job published", "message_id", msgID, "job_id", jobID, "wall_seconds", to-from-0.02)
	logLine(b, to, "message acknowledged", "message_id", msgID, "attempt", 1)
}

// oneWorkerLog is a sequential chunked run: the parent (plan) from 0.1 to
// 2, then chunks of 60 s media taking 30, 32 and 37 s (the last finishing
// the presentation in 5 s of it), 0.2 s between them.
func oneWorkerLog() *bytes.Buffer {
	var b bytes.Buffer
	logLine(&b, 0, "worker started", "concurrency", 1)
	jobLog(&b, "m0", "parent", 0.1, 2)
	jobLog(&b, "m1", "parent-c0", 2.2, 32.2)
	jobLog(&b, "m2", "parent-c1", 32.4, 64.4)
	jobLog(&b, "m3", "parent-c2", 64.6, 101.6)
	b.WriteString("not json\n")
	logLine(&b, 102, "job failed; it will be retried", "job_id", "other") // no message: not a run
	return &b
}

func TestParseLog(t *testing.T) {
	spans, err := parseLog(oneWorkerLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 4 {
		t.Fatalf("%d spans: %v", len(spans), spans)
	}
	c1 := spans["m2"]
	if c1.jobID != "parent-c1" || !c1.receivedSeen || !c1.ackedSeen || !c1.endedByWall || math.Abs(c1.seconds()-32) > 0.005 || c1.index != -1 {
		t.Errorf("chunk 1: %+v", c1)
	}
	p, cs := split(spans, "parent")
	if p == nil || p.messageID != "m0" || len(cs) != 3 || cs[0].jobID != "parent-c0" || cs[2].jobID != "parent-c2" {
		t.Errorf("parent %v, chunk order %v", p, cs)
	}
	// Indexes from the log win over start times.
	var b bytes.Buffer
	jobLog(&b, "m0", "p", 0, 1)
	jobLog(&b, "m1", "x", 1, 2, "chunk_index", 1)
	jobLog(&b, "m2", "y", 1.5, 3, "chunk_index", 0)
	spans, _ = parseLog(&b)
	if _, cs := split(spans, "p"); cs[0].jobID != "y" || cs[1].jobID != "x" {
		t.Errorf("order by chunk_index: %s, %s", cs[0].jobID, cs[1].jobID)
	}
	// Chunk jobs that carry their parent's id are told apart by message.
	b.Reset()
	jobLog(&b, "m0", "p", 0, 1)
	jobLog(&b, "m1", "p", 1, 2)
	jobLog(&b, "m2", "p", 2, 3)
	spans, _ = parseLog(&b)
	if p, cs := split(spans, "p"); p.messageID != "m0" || len(cs) != 2 || cs[0].messageID != "m1" {
		t.Errorf("same job id: parent %+v, chunks %v", p, cs)
	}
	// A failure is kept.
	b.Reset()
	jobLog(&b, "m0", "p", 0, 1)
	logLine(&b, 1.5, "job failed: the input is at fault; not retrying", "message_id", "m0", "job_id", "p", "error", "input is corrupt")
	spans, _ = parseLog(&b)
	if f := spans["m0"].failed; !strings.Contains(f, "input is corrupt") {
		t.Errorf("failed %q", f)
	}
}

func TestMeasurePhases(t *testing.T) {
	jobs, _ := parseLog(oneWorkerLog())
	media := []float64{60, 60, 60}
	// Without chunk results: the finish is what the last chunk took
	// beyond the others' median rate (31 s per 60 s of media).
	ph, err := measurePhases(jobs, "parent", t0, media, nil, 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.005 { // the log has milliseconds
			t.Errorf("%s %.4f, want %.4f", what, got, want)
		}
	}
	near("plan", ph.plan, 2)
	near("pickup", ph.pickup, 0.2)
	near("finish", ph.finish, 37-31)
	near("c2", ph.chunks[2], 31)
	// With them: each chunk's overhead is busy - elapsed (1 s), the
	// finish what the last has beyond its transcode and that overhead.
	ph, err = measurePhases(jobs, "parent", t0, media, []float64{29, 31, 31}, 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	near("finish with elapsed", ph.finish, 37-31-1)
	near("c2 with elapsed", ph.chunks[2], 32)
	// The model: plan + LS(pickup + c) + finish.
	near("M(1)", ph.makespan(1), 2+(0.2+30)+(0.2+32)+(0.2+32)+5)
	near("M(4)", ph.makespan(4), 2+0.2+32+5)
	near("M(64)", ph.makespan(64), ph.makespan(4))
	if _, err := measurePhases(jobs, "parent", t0, []float64{60, 60}, nil, 1, -1); err == nil {
		t.Error("a plan of 2 chunks accepted for 3 chunk jobs")
	}
	if _, err := measurePhases(jobs, "nobody", t0, media, nil, 1, -1); err == nil {
		t.Error("a missing parent accepted")
	}
}

func TestPickupsTwoSlots(t *testing.T) {
	// Two slots: chunk 0 starts while the parent ends (no reference),
	// chunk 1 0.3 s after the parent's ack, chunk 2 0.5 s after chunk 0's.
	var b bytes.Buffer
	jobLog(&b, "m0", "p", 0, 2)
	jobLog(&b, "m1", "c0", 1.5, 40)
	jobLog(&b, "m2", "c1", 2.3, 45)
	jobLog(&b, "m3", "c2", 40.5, 80)
	spans, _ := parseLog(&b)
	p, cs := split(spans, "p")
	got := pickups(p, cs, 2)
	if len(got) != 2 || math.Abs(got[0]-0.3) > 1e-9 || math.Abs(got[1]-0.5) > 1e-9 {
		t.Errorf("pickups %v, want [0.3 0.5]", got)
	}
}

func TestListSchedule(t *testing.T) {
	for _, tt := range []struct {
		n    int
		jobs []float64
		want float64
	}{
		{1, []float64{10, 10, 10}, 33},
		{2, []float64{10, 10, 10}, 22},
		{2, []float64{30, 10, 10}, 31},
		{16, []float64{10, 10, 10}, 11},
		{0, []float64{5}, 6},
	} {
		if got := listSchedule(tt.n, 1, tt.jobs); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("listSchedule(%d, 1, %v) = %v, want %v", tt.n, tt.jobs, got, tt.want)
		}
	}
}

func TestExtrapolate(t *testing.T) {
	ph := phases{plan: 2, pickup: 0.2, chunks: []float64{30, 30, 30}, media: []float64{60, 60, 60}, finish: 3}
	plan, err := job.PlanChunks(3600, 4, 60)
	if err != nil {
		t.Fatal(err)
	}
	media := chunkMedia(plan)
	if len(media) != 60 {
		t.Fatalf("%d chunks for an hour", len(media))
	}
	lin := ph.extrapolate(3600, 180, media, true)
	if lin.finish != 60 || lin.chunks[0] != 30 || lin.plan != 2 {
		t.Errorf("linear: %+v", lin)
	}
	// 60 chunks on 16 workers: 4 rounds of 30.2 s.
	if m := lin.makespan(16); math.Abs(m-(2+4*30.2+60)) > 1e-9 {
		t.Errorf("M(16) = %v", m)
	}
	if con := ph.extrapolate(3600, 180, media, false); con.finish != 3 {
		t.Errorf("constant finish %v", con.finish)
	}
}

func TestElapsedFrom(t *testing.T) {
	for _, doc := range []string{
		`[{"index":1,"elapsed_seconds":2.5},{"index":0,"elapsed_seconds":1.5}]`,
		`{"version":1,"chunks":[{"index":0,"elapsed_seconds":1.5,"frames":3},{"index":1,"elapsed_seconds":2.5}]}`,
		`{"results":{"list":[{"index":0,"elapsed_seconds":1.5},{"index":1,"elapsed_seconds":2.5}]}}`,
	} {
		got := elapsedFrom([]byte(doc), 2)
		if len(got) != 2 || got[0] != 1.5 || got[1] != 2.5 {
			t.Errorf("%s: %v", doc, got)
		}
	}
	if got := elapsedFrom([]byte(`[{"index":0,"elapsed_seconds":1}]`), 2); got != nil {
		t.Errorf("a partial list: %v", got)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "chunks.json"), []byte(`[{"index":0,"elapsed_seconds":7}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := findChunkElapsed(dir, 1); len(got) != 1 || got[0] != 7 {
		t.Errorf("findChunkElapsed %v", got)
	}
	if got := findChunkElapsed(t.TempDir(), 1); got != nil {
		t.Errorf("findChunkElapsed of nothing: %v", got)
	}
}

func TestReport(t *testing.T) {
	plan, _ := job.PlanChunks(180, 4, 60)
	ph := phases{plan: 2, pickup: 0.2, chunks: []float64{30, 31, 31}, media: []float64{60, 60, 60}, finish: 3, finishHow: "test"}
	single := &result{name: "single", workers: 2, wall: 100 * time.Second, cpu: 190 * time.Second}
	chunked := &result{name: "chunked", workers: 2, chunkSeconds: 60, wall: 98 * time.Second, cpu: 196 * time.Second}
	seq := &result{name: "model", workers: 1, chunkSeconds: 60, wall: 100 * time.Second, cpu: 197 * time.Second}
	var b bytes.Buffer
	report{c: config{width: 1920, height: 1080, workers: 2}, duration: 180, plan: plan, single: single, chunked: chunked, seq: seq, ph: ph, modelFrom: "model"}.write(&b)
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"(a) CPU-seconds, chunked / single pass: 196.0 / 190.0 = 1.032  (target <= 1.05: PASS)",
		"(b) wall on this box",
		"M(N) = plan + LS_N(pickup + c_i) + finish",
		"check: M(1) = 97.6 s, the model run measured 100.0 s",
		"1-hour source: 60 chunks",
		"M(16) = 2.0 + LS_16(0.20 + 60 x 31.0) + finish",
		// 2 + 4 rounds of 31.2 s + 3 s x 20 = 186.8 s of 2000 s.
		"M = 187 s, M / single = 0.0934 = 1/10.7  (target <= 1/12: MISS)",
		"M = 130 s, M / single = 0.0649 = 1/15.4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestCanChunk(t *testing.T) {
	dir := t.TempDir()
	with := filepath.Join(dir, "with")
	without := filepath.Join(dir, "without")
	if err := os.WriteFile(with, []byte("#!/bin/sh\necho '  -chunk-seconds float' >&2\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(without, []byte("#!/bin/sh\necho '  -workers int' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := canChunk(with); err != nil {
		t.Error(err)
	}
	if err := canChunk(without); err != errNoChunking {
		t.Errorf("canChunk without the flag: %v", err)
	}
	var out bytes.Buffer
	err := run(config{hlsfleet: without, seconds: 180, width: 64, height: 64, chunkSeconds: 60, workers: 2}, &out)
	if err != errNoChunking || strings.Contains(err.Error(), "\n") {
		t.Errorf("run on a binary without chunking: %v", err)
	}
}

func TestFinishFromLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "local.log")
	log := `{"level":"info","ts":"2026-12-08T01:00:00.000Z","msg":"chunk done","job_id":"p-c00002"}
{"level":"info","ts":"2026-12-08T01:00:00.250Z","msg":"every chunk done: finishing","job_id":"p-c00002"}
not json
{"level":"info","ts":"2026-12-08T01:00:04.750Z","msg":"chunked job published","job_id":"p-c00002"}
`
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := finishFromLog(p); math.Abs(got-4.5) > 1e-9 {
		t.Errorf("finishFromLog = %v, want 4.5", got)
	}
	if got := finishFromLog(filepath.Join(t.TempDir(), "none.log")); got != -1 {
		t.Errorf("finishFromLog of a missing log = %v, want -1", got)
	}
	// A measured finish is taken as it is and off the last chunk's time.
	jobs, _ := parseLog(oneWorkerLog())
	ph, err := measurePhases(jobs, "parent", t0, []float64{60, 60, 60}, nil, 1, 4.5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ph.finish-4.5) > 1e-9 || math.Abs(ph.chunks[2]-(37-4.5)) > 0.005 {
		t.Errorf("finish %v, c2 %v; want 4.5 and 32.5", ph.finish, ph.chunks[2])
	}
}
