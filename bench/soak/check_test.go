package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// published builds the observation of a whole, truthful published output:
// two renditions of two segments each in attempt folder "att", the master
// written last with the bandwidths its segments give, job.json published.
func published(t *testing.T) Observed {
	t.Helper()
	o := Observed{Objects: map[string]storage.Attrs{}, Files: map[string][]byte{}}
	put := func(key string, size int64, at time.Time) {
		o.Objects[key] = storage.Attrs{Key: key, Size: size, ETag: fmt.Sprintf("etag-%s-%d", key, size), ModTime: at}
	}
	m := &hls.Master{IndependentSegments: true}
	for r, name := range []string{"360p", "240p"} {
		segs := []hls.Segment{{URI: "seg_00000.ts", Duration: 2}, {URI: "seg_00001.ts", Duration: 1.5}}
		sizes := []int64{int64(90000 - r*40000), int64(70000 - r*30000)}
		for i, s := range segs {
			put(name+"/att/"+s.URI, sizes[i], t0.Add(time.Duration(i)*time.Second))
		}
		pl := (&hls.MediaPlaylist{Type: hls.VOD, Segments: segs, EndList: true}).Encode()
		key := name + "/att/index.m3u8"
		put(key, int64(len(pl)), t0.Add(3*time.Second))
		o.Files[key] = pl
		peak, _ := hls.PeakBitrate(segs, sizes)
		m.Variants = append(m.Variants, hls.Variant{URI: key, Bandwidth: int64(math.Ceil(peak)),
			AverageBandwidth: int64(math.Ceil(hls.AverageBitrate(segs, sizes))), Codecs: []string{"avc1.64001e", "mp4a.40.2"}})
	}
	master := m.Encode()
	put(job.MasterName, int64(len(master)), t0.Add(4*time.Second))
	o.Files[job.MasterName] = master
	setStatus(t, &o, job.Status{State: job.StatePublished, Attempt: 1,
		Extras: job.Extras{Playlists: []string{"360p/att/index.m3u8", "240p/att/index.m3u8"}}})
	return o
}

func setStatus(t *testing.T, o *Observed, st job.Status) {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	o.Files[job.StatusName] = data
	o.Objects[job.StatusName] = storage.Attrs{Key: job.StatusName, Size: int64(len(data)), ModTime: t0.Add(5 * time.Second)}
}

// unpublished is an output with only a job.json.
func unpublished(t *testing.T, st job.Status) Observed {
	o := Observed{Objects: map[string]storage.Attrs{}, Files: map[string][]byte{}}
	setStatus(t, &o, st)
	return o
}

func sub(n int, k Kind, out string) Submission {
	return Submission{N: n, Kind: k, Output: out, JobID: fmt.Sprintf("job%d", n), Sent: true,
		Body: []byte(fmt.Sprintf(`{"id":"job%d","output":%q}`, n, out))}
}

func TestClassifyWholeOutput(t *testing.T) {
	subs := []Submission{sub(0, KindJob, "s3://b/out/job-000/")}
	dup := sub(1, KindDupJob, "s3://b/out/job-000/")
	subs = append(subs, dup)
	o := published(t)
	o.AtPublish = o.Objects
	fin := t0.Add(30 * time.Second)
	setStatus(t, &o, job.Status{State: job.StatePublished, FinishedAt: &fin})
	subs[0].At, subs[1].At = t0, t0.Add(time.Second)
	v := Classify(subs, map[string]Observed{"s3://b/out/job-000/": o}, nil, nil)
	if v.Failed() || v.Outputs != 1 || v.GoodOutputs != 1 || v.Published != 1 {
		t.Errorf("a whole output with a truthful status: %+v", v)
	}
	if len(v.PublishWaits) != 1 || v.PublishWaits[0] != 30*time.Second {
		t.Errorf("publish waits %v, want [30s] (from the first submission)", v.PublishWaits)
	}
}

func TestClassifyTorn(t *testing.T) {
	const out = "s3://b/out/job-000/"
	cases := []struct {
		name   string
		mutate func(o *Observed)
		want   string
	}{
		{"segment missing", func(o *Observed) { delete(o.Objects, "240p/att/seg_00001.ts") },
			"240p/att/seg_00001.ts (named by 240p/att/index.m3u8) is missing"},
		{"playlist missing", func(o *Observed) { delete(o.Objects, "360p/att/index.m3u8") },
			"360p/att/index.m3u8 (named by master.m3u8) is missing"},
		{"segment modified after the master", func(o *Observed) {
			a := o.Objects["360p/att/seg_00000.ts"]
			a.ModTime = t0.Add(9 * time.Second)
			o.Objects[a.Key] = a
		}, "360p/att/seg_00000.ts was modified 5s after the master"},
		{"segment of another size", func(o *Observed) {
			a := o.Objects["360p/att/seg_00001.ts"] // the peak one
			a.Size += 47
			o.Objects[a.Key] = a
		}, "360p/att/index.m3u8: BANDWIDTH"},
		{"segment rewritten since publish", func(o *Observed) {
			o.AtPublish = clone(o.Objects)
			a := o.Objects["240p/att/seg_00000.ts"]
			a.ETag = "other"
			o.Objects[a.Key] = a
		}, "240p/att/seg_00000.ts changed after the master was first seen (ETag"},
		{"segment written after the master was seen", func(o *Observed) {
			o.AtPublish = clone(o.Objects)
			delete(o.AtPublish, "240p/att/seg_00000.ts")
		}, "240p/att/seg_00000.ts did not exist yet when the master was first seen"},
		{"master replaced", func(o *Observed) {
			o.AtPublish = clone(o.Objects)
			a := o.Objects[job.MasterName]
			a.ETag = "second"
			o.Objects[a.Key] = a
		}, "master.m3u8 changed after the master was first seen"},
		{"master unparsable", func(o *Observed) { o.Files[job.MasterName] = []byte("not a playlist") },
			"master.m3u8 does not parse"},
		{"URI outside the output", func(o *Observed) {
			o.Files[job.MasterName] = []byte(strings.Replace(string(o.Files[job.MasterName]), "360p/att/index.m3u8", "../x/index.m3u8", 1))
			o.Files[job.StatusName] = []byte(`{"state": "published"}`) // naming no playlists
		}, `names "../x/index.m3u8": outside the output`},
		{"hlscheck", func(o *Observed) { o.Invalid = "segment does not start with a keyframe" },
			"hlscheck: segment does not start with a keyframe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := published(t)
			c.mutate(&o)
			v := Classify([]Submission{sub(0, KindJob, out)}, map[string]Observed{out: o}, nil, nil)
			if len(v.Torn) != 1 || !strings.Contains(v.Torn[0].What, c.want) {
				t.Fatalf("torn %+v; want one finding containing %q", v.Torn, c.want)
			}
			if !v.Failed() || len(v.Lost)+len(v.Stale)+len(v.WrongDLQ) != 0 {
				t.Errorf("verdict %+v: want torn only", v)
			}
		})
	}
}

func clone(m map[string]storage.Attrs) map[string]storage.Attrs {
	c := map[string]storage.Attrs{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestClassifyStale(t *testing.T) {
	const out = "s3://b/out/events/ev-001/"
	cases := []struct {
		name string
		set  func(t *testing.T, o *Observed)
		want string
	}{
		{"running", func(t *testing.T, o *Observed) {
			setStatus(t, o, job.Status{State: job.StateRunning, Attempt: 2})
		}, "job.json says running (attempt 2)"},
		{"no job.json", func(t *testing.T, o *Observed) {
			delete(o.Files, job.StatusName)
			delete(o.Objects, job.StatusName)
		}, "no job.json beside a published master.m3u8"},
		{"other playlists", func(t *testing.T, o *Observed) {
			setStatus(t, o, job.Status{State: job.StatePublished, Extras: job.Extras{Playlists: []string{"360p/zzz/index.m3u8"}}})
		}, "job.json names playlists [360p/zzz/index.m3u8]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := published(t)
			c.set(t, &o)
			v := Classify([]Submission{sub(0, KindEvent, out)}, map[string]Observed{out: o}, nil, nil)
			if len(v.Stale) != 1 || !strings.Contains(v.Stale[0].What, c.want) || len(v.Torn) != 0 {
				t.Fatalf("stale %+v torn %+v; want one stale finding containing %q", v.Stale, v.Torn, c.want)
			}
		})
	}
	// "published" with no master is not the truth either.
	o := unpublished(t, job.Status{State: job.StatePublished})
	v := Classify([]Submission{sub(0, KindJob, out)}, map[string]Observed{out: o}, nil, nil)
	if len(v.Stale) != 1 || !strings.Contains(v.Stale[0].What, "there is no master.m3u8") || len(v.Lost) != 1 {
		t.Errorf("published status without a master: stale %+v lost %+v", v.Stale, v.Lost)
	}
}

func TestClassifyLostAndDeadLetters(t *testing.T) {
	lost := sub(0, KindJob, "s3://b/out/job-000/")
	dead := sub(1, KindJob, "s3://b/out/job-001/")
	resend := dead
	resend.N, resend.Kind = 2, KindResend
	unsent := sub(3, KindJob, "s3://b/out/job-003/")
	unsent.Sent = false
	subs := []Submission{lost, dead, resend, unsent}
	obs := map[string]Observed{
		lost.Output: unpublished(t, job.Status{State: job.StateRetrying, Attempt: 3, Reason: "transient", Error: "S3 down"}),
		dead.Output: unpublished(t, job.Status{State: job.StateRetrying, Attempt: 3}),
	}
	dls := []queue.DeadLetter{{Message: queue.Message{ID: "m1", Body: dead.Body}, Reason: queue.ReasonMaxReceives}}
	v := Classify(subs, obs, dls, map[string]MessageLog{"m1": {Receives: 3, LastError: "checking failed: S3 down"}})
	if len(v.Lost) != 1 || v.Lost[0].Output != lost.Output ||
		!strings.Contains(v.Lost[0].What, "job.json says retrying (attempt 3, transient: S3 down)") {
		t.Errorf("lost %+v; want %s, retrying", v.Lost, lost.Output)
	}
	if len(v.WrongDLQ) != 1 || v.WrongDLQ[0].Output != dead.Output ||
		!strings.Contains(v.WrongDLQ[0].What, "dead-lettered after 3 receive(s) in the logs: max receives exceeded; "+
			"the last worker error: checking failed: S3 down") {
		t.Errorf("wrongly dead-lettered %+v; want %s once, after 3 receives", v.WrongDLQ, dead.Output)
	}
	if v.Outputs != 2 || v.Published != 0 || len(v.Unjudged) != 0 {
		t.Errorf("verdict %+v: want 2 outputs (the unsent one not judged), none published", v)
	}
}

func TestClassifyGarbage(t *testing.T) {
	media := sub(0, KindGarbageMedia, "s3://b/out/garbage-000/")
	missing := sub(1, KindGarbageMissing, "s3://b/out/missing-001/")
	body1 := Submission{N: 2, Kind: KindGarbageBody, Body: []byte("garbage 2"), Sent: true}
	body2 := Submission{N: 3, Kind: KindGarbageBody, Body: []byte("garbage 3"), Sent: true}
	subs := []Submission{media, missing, body1, body2}
	obs := map[string]Observed{
		media.Output:   unpublished(t, job.Status{State: job.StateFailed}),
		missing.Output: unpublished(t, job.Status{State: job.StateFailed}),
	}
	dls := []queue.DeadLetter{
		{Message: queue.Message{Body: media.Body}, Reason: "input is not a media file"},
		{Message: queue.Message{Body: body1.Body}, Reason: "invalid job: not JSON"},
		{Message: queue.Message{Body: body1.Body}, Reason: "invalid job: not JSON"},
		{Message: queue.Message{Body: []byte("someone else's")}, Reason: "x"},
	}
	v := Classify(subs, obs, dls, nil)
	if v.Failed() {
		t.Errorf("garbage fails the verdict: %+v", v)
	}
	if g := v.Garbage[KindGarbageMedia]; g == nil || g.Sent != 1 || g.Once != 1 || len(g.Reasons) != 1 {
		t.Errorf("garbage-media %+v", g)
	}
	if g := v.Garbage[KindGarbageMissing]; g == nil || g.Never != 1 {
		t.Errorf("garbage-missing %+v: want never dead-lettered", g)
	}
	if g := v.Garbage[KindGarbageBody]; g == nil || g.Sent != 2 || g.More != 1 || g.Never != 1 ||
		len(g.Reasons) != 1 || g.Reasons["invalid job: not JSON"] != 2 {
		t.Errorf("garbage-body %+v: want one twice, one never, one reason twice", g)
	}
	if v.UnknownDeadLetters != 1 || v.DeadLetters != 4 {
		t.Errorf("dead letters %d, unknown %d", v.DeadLetters, v.UnknownDeadLetters)
	}
	// A garbage output that has a master is counted, not judged as torn.
	o := published(t)
	v = Classify([]Submission{media}, map[string]Observed{media.Output: o}, nil, nil)
	if g := v.Garbage[KindGarbageMedia]; g == nil || g.Published != 1 || len(v.Torn)+len(v.Stale) != 0 {
		t.Errorf("published garbage: %+v, torn %v", g, v.Torn)
	}
}

func TestReasonShape(t *testing.T) {
	a := `permanent error: job 84fb190f7eda43757c85c7b2ea5176f6: input is not a media file: cannot open as media: ` +
		`Invalid data found when processing input fingerprint=s3://soak-1796685039604246908/src/garbage-019.mp4 size=65536 etag="228701985eae349674b0447624394201"`
	b := strings.NewReplacer("84fb190f7eda43757c85c7b2ea5176f6", "c08078e2b15b586f81d2d26a09093fbf", "garbage-019", "garbage-011",
		"soak-1796685039604246908", "soak-1", "2287", "9999").Replace(a)
	if reasonShape(a) != reasonShape(b) {
		t.Errorf("two garbage dead letters of one kind differ in shape:\n%s\n%s", reasonShape(a), reasonShape(b))
	}
	want := "permanent error: job <id>: input is not a media file: cannot open as media: Invalid data found when processing input " +
		"fingerprint=s3://<bucket>/src/garbage-NNN.mp4 size=65536 etag=<etag>"
	if got := reasonShape(a); got != want {
		t.Errorf("reasonShape:\n got %s\nwant %s", got, want)
	}
	if got := reasonShape(`invalid job: the message is not a JSON object (it starts with "soak garbage #12")`); got !=
		`invalid job: the message is not a JSON object (it starts with "soak garbage #N")` {
		t.Errorf("reasonShape: %s", got)
	}
	c := `storage: stat "src/missing-020.mp4": NotFound: RequestID: G3ESG1BY1MNERA8F, HostID: 9yMkSHi/xBw+aI/4T8E=, NotFound: )`
	if got := reasonShape(c); got != `storage: stat "src/missing-NNN.mp4": NotFound: RequestID: <id>, HostID: <id>, NotFound: )` {
		t.Errorf("reasonShape: %s", got)
	}
}

func TestClassifyUnjudged(t *testing.T) {
	s := sub(0, KindJob, "s3://b/out/job-000/")
	v := Classify([]Submission{s}, map[string]Observed{s.Output: {Err: "connection refused"}}, nil, nil)
	if len(v.Unjudged) != 1 || !v.Failed() {
		t.Errorf("an unreadable output: %+v; want it unjudged and the verdict failed", v)
	}
	v = Classify([]Submission{s}, nil, nil, nil)
	if len(v.Unjudged) != 1 {
		t.Errorf("an output with no observation: %+v", v)
	}
}
