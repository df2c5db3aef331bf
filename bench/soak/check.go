package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// Submission is one message the soak sent.
type Submission struct {
	N      int    // its index among the submissions
	Kind   Kind   //
	Output string // the output URL of the job it asks for; "" for a message that names none
	JobID  string // the job's id; "" for a message that is no job
	Body   []byte // the message body as sent
	Clip   int    // good work: which clip (sizes for hlscheck)
	Source string // the job's source URL; "" for a message that is no job
	Sent   bool   // false when sending failed: not judged
	At     time.Time
}

// Observed is what the end of a soak found at one output.
type Observed struct {
	// Objects is the output's listing, by key relative to the output.
	Objects map[string]storage.Attrs
	// Files are the contents of master.m3u8, job.json and every .m3u8 in
	// the listing, by key.
	Files map[string][]byte
	// AtPublish is the listing when the master was first seen (during the
	// soak, every few seconds); nil when it was not seen then.
	AtPublish map[string]storage.Attrs
	// Err says why the output could not be listed or read: it is not judged.
	Err string
	// Invalid is what internal/hlscheck found wrong with a published
	// output; "" when nothing, or when it was not checked.
	Invalid string
}

// Finding is one output (or message) found wrong, and how.
type Finding struct {
	Output string
	What   string
}

// GarbageTally is what became of the garbage submissions of one kind.
type GarbageTally struct {
	Sent      int
	Once      int            // dead-lettered exactly once: as it should be
	Never     int            // not in the dead-letter queue
	More      int            // dead-lettered more than once
	Published int            // its output has a master (!)
	Reasons   map[string]int // the dead letters' reasons, normalised (reasonShape), and how many had each
}

// Verdict is the soak's judgement of every output and dead letter.
type Verdict struct {
	Outputs, GoodOutputs, Published int
	// Lost: good work with no published master and no dead letter.
	Lost []Finding
	// Torn: a published master that reaches a missing object, an object
	// modified after the master, or bandwidths the stored bytes do not
	// give (or hlscheck finds it invalid).
	Torn []Finding
	// WrongDLQ: dead letters of good work.
	WrongDLQ []Finding
	// Stale: job.json not "published" where the master exists (or naming
	// other playlists than the master), or "published" where it does not.
	Stale []Finding
	// Unjudged: outputs that could not be read.
	Unjudged []Finding

	// PublishWaits are, per published good output whose job.json says
	// when, the time from its first submission to finished_at.
	PublishWaits []time.Duration

	Garbage            map[Kind]*GarbageTally
	DeadLetters        int // in the dead-letter queue at the end
	UnknownDeadLetters int // dead letters of no submission of this soak
}

// Failed reports whether any count that must be 0 is not.
func (v *Verdict) Failed() bool {
	return len(v.Lost)+len(v.Torn)+len(v.WrongDLQ)+len(v.Stale)+len(v.Unjudged) > 0
}

// Classify judges a soak's outputs (obs, by output URL) and dead letters
// against what was submitted. logs are what the workers' logs tell per
// message id (nil: nothing). It reads nothing: the caller gathered obs.
func Classify(subs []Submission, obs map[string]Observed, dls []queue.DeadLetter, logs map[string]MessageLog) *Verdict {
	v := &Verdict{Garbage: map[Kind]*GarbageTally{}, DeadLetters: len(dls)}
	byBody := map[string][]int{}
	outputs := map[string][]int{}
	for i, s := range subs {
		if !s.Sent {
			continue
		}
		byBody[string(s.Body)] = append(byBody[string(s.Body)], i)
		if s.Output != "" {
			outputs[s.Output] = append(outputs[s.Output], i)
		}
	}
	deadOutputs, garbageDead := v.judgeDeadLetters(subs, byBody, dls, logs)
	for i, s := range subs {
		if !s.Sent || s.Kind.Good() {
			continue
		}
		t := v.garbage(s.Kind)
		t.Sent++
		switch n := len(garbageDead[i]); {
		case n == 0:
			t.Never++
		case n == 1:
			t.Once++
		default:
			t.More++
		}
	}
	for _, out := range sortedKeys(outputs) {
		first := subs[outputs[out][0]]
		v.judgeOutput(out, first.Kind, obs, deadOutputs[out])
		if st, err := status(obs[out]); err == nil && first.Kind.Good() && !first.At.IsZero() &&
			st.State == job.StatePublished && st.FinishedAt != nil {
			v.PublishWaits = append(v.PublishWaits, st.FinishedAt.Sub(first.At))
		}
	}
	return v
}

func (v *Verdict) garbage(k Kind) *GarbageTally {
	t := v.Garbage[k]
	if t == nil {
		t = &GarbageTally{Reasons: map[string]int{}}
		v.Garbage[k] = t
	}
	return t
}

// judgeDeadLetters matches each dead letter to the submissions that sent its
// body: good work's are wrongly dead-lettered (returned by output), garbage
// ones are tallied (returned by submission).
func (v *Verdict) judgeDeadLetters(subs []Submission, byBody map[string][]int, dls []queue.DeadLetter,
	logs map[string]MessageLog) (map[string]bool, map[int][]string) {
	deadOutputs := map[string]bool{}
	garbageDead := map[int][]string{}
	for _, dl := range dls {
		idx := byBody[string(dl.Body)]
		if len(idx) == 0 {
			v.UnknownDeadLetters++
			continue
		}
		s := subs[idx[0]]
		if s.Kind.Good() {
			deadOutputs[s.Output] = true
			l := logs[dl.ID]
			what := fmt.Sprintf("%s #%d (job %s) dead-lettered after %d receive(s) in the logs: %s",
				s.Kind, s.N, s.JobID, l.Receives, oneLine(dl.Reason))
			if l.LastError != "" {
				what += "; the last worker error: " + l.LastError
			}
			v.WrongDLQ = append(v.WrongDLQ, Finding{s.Output, what})
			continue
		}
		garbageDead[idx[0]] = append(garbageDead[idx[0]], dl.Reason)
		v.garbage(s.Kind).Reasons[reasonShape(dl.Reason)]++
	}
	return deadOutputs, garbageDead
}

// judgeOutput judges one output.
func (v *Verdict) judgeOutput(out string, kind Kind, obs map[string]Observed, dead bool) {
	good := kind.Good()
	v.Outputs++
	if good {
		v.GoodOutputs++
	}
	o, ok := obs[out]
	if !ok || o.Err != "" {
		v.Unjudged = append(v.Unjudged, Finding{out, "not read: " + orElse(o.Err, "no observation")})
		return
	}
	_, published := o.Objects[job.MasterName]
	st, stErr := status(o)
	if !published {
		if stErr == nil && st.State == job.StatePublished {
			v.Stale = append(v.Stale, Finding{out, "job.json says published; there is no master.m3u8"})
		}
		if good && !dead {
			v.Lost = append(v.Lost, Finding{out, "no master.m3u8 and no dead letter; " + describe(st, stErr)})
		}
		return
	}
	v.Published++
	if !good {
		v.garbage(kind).Published++
		return
	}
	m, probs := tornProblems(o)
	if o.Invalid != "" {
		probs = append(probs, "hlscheck: "+o.Invalid)
	}
	if len(probs) > 0 {
		v.Torn = append(v.Torn, Finding{out, strings.Join(probs, "; ")})
	}
	if p := staleProblem(o, st, stErr, m); p != "" {
		v.Stale = append(v.Stale, Finding{out, p})
	}
}

// status decodes the output's job.json.
func status(o Observed) (job.Status, error) {
	var st job.Status
	data, ok := o.Files[job.StatusName]
	if !ok {
		return st, fmt.Errorf("no %s", job.StatusName)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s does not parse: %v", job.StatusName, err)
	}
	return st, nil
}

// describe says what a job.json tells, for a finding.
func describe(st job.Status, err error) string {
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("job.json says %s (attempt %d", st.State, st.Attempt)
	if st.Reason != "" {
		s += ", " + st.Reason
	}
	if st.Error != "" {
		s += ": " + oneLine(st.Error)
	}
	return s + ")"
}

// staleProblem says how job.json fails to tell that the output is
// published, or "" when it tells the truth.
func staleProblem(o Observed, st job.Status, err error, m *hls.Master) string {
	if err != nil {
		return err.Error() + " beside a published master.m3u8"
	}
	if st.State != job.StatePublished {
		return describe(st, nil) + fmt.Sprintf(", updated %s; master.m3u8 exists since %s",
			st.UpdatedAt.UTC().Format(time.RFC3339), o.Objects[job.MasterName].ModTime.UTC().Format(time.RFC3339))
	}
	if m != nil && len(st.Playlists) > 0 {
		var uris []string
		for _, vr := range m.Variants {
			uris = append(uris, vr.URI)
		}
		if !slices.Equal(st.Playlists, uris) {
			return fmt.Sprintf("job.json names playlists %v, the master %v", st.Playlists, uris)
		}
	}
	return ""
}

// tornProblems checks a published output: every object the master reaches
// exists and is not newer than the master, and each variant's BANDWIDTH
// and AVERAGE-BANDWIDTH are what its stored segments give (the pipeline's
// own arithmetic, pipeline/hls PeakBitrate and AverageBitrate). It returns
// the parsed master (nil when it does not parse) and the problems.
func tornProblems(o Observed) (*hls.Master, []string) {
	mt := o.Objects[job.MasterName].ModTime
	m, err := hls.ParseMaster(o.Files[job.MasterName])
	if err != nil {
		return nil, []string{"master.m3u8 does not parse: " + err.Error()}
	}
	if len(m.Variants) == 0 {
		return m, []string{"master.m3u8 has no variants"}
	}
	var probs []string
	reach := func(dir, uri, by string) (string, storage.Attrs, bool) {
		key, why := resolve(dir, uri)
		if why != "" {
			probs = append(probs, fmt.Sprintf("%s names %q: %s", by, uri, why))
			return "", storage.Attrs{}, false
		}
		a, ok := o.Objects[key]
		if !ok {
			probs = append(probs, fmt.Sprintf("%s (named by %s) is missing", key, by))
			return key, a, false
		}
		if a.ModTime.After(mt) {
			probs = append(probs, fmt.Sprintf("%s was modified %s after the master", key, a.ModTime.Sub(mt)))
		}
		if p := changedSincePublish(o.AtPublish, key, a); p != "" {
			probs = append(probs, p)
		}
		return key, a, true
	}
	if p := changedSincePublish(o.AtPublish, job.MasterName, o.Objects[job.MasterName]); p != "" {
		probs = append(probs, p)
	}
	for _, vr := range m.Variants {
		key, _, ok := reach("", vr.URI, job.MasterName)
		if !ok {
			continue
		}
		peak, avg, ok, p := mediaBitrates(o, key, reach)
		if p != "" {
			probs = append(probs, p)
		}
		if !ok {
			continue
		}
		if vr.Bandwidth != peak {
			probs = append(probs, fmt.Sprintf("%s: BANDWIDTH %d, its stored segments give %d", vr.URI, vr.Bandwidth, peak))
		}
		if vr.AverageBandwidth != 0 && vr.AverageBandwidth != avg {
			probs = append(probs, fmt.Sprintf("%s: AVERAGE-BANDWIDTH %d, its stored segments give %d", vr.URI, vr.AverageBandwidth, avg))
		}
	}
	for _, md := range m.Media {
		if md.URI == "" {
			continue
		}
		if key, _, ok := reach("", md.URI, job.MasterName); ok {
			if _, _, _, p := mediaBitrates(o, key, reach); p != "" {
				probs = append(probs, p)
			}
		}
	}
	return m, probs
}

// changedSincePublish says how the object key (now a) differs from the
// listing at publish, or "" when it does not (or there is no such listing).
func changedSincePublish(atPublish map[string]storage.Attrs, key string, a storage.Attrs) string {
	if atPublish == nil {
		return ""
	}
	p, ok := atPublish[key]
	switch {
	case !ok:
		return key + " did not exist yet when the master was first seen"
	case p.ETag != a.ETag || p.Size != a.Size:
		return fmt.Sprintf("%s changed after the master was first seen (ETag %s → %s, %d → %d bytes)", key, p.ETag, a.ETag, p.Size, a.Size)
	}
	return ""
}

// reachFunc resolves uri against dir, checks the object and returns its key
// and attributes; by names the playlist that names it.
type reachFunc func(dir, uri, by string) (string, storage.Attrs, bool)

// mediaBitrates reaches every segment (and the EXT-X-MAP) of the media
// playlist at key and returns its peak and average bit rates, rounded up as
// the pipeline writes them (ok), or not (a missing segment, which reach
// reported, or the problem returned).
func mediaBitrates(o Observed, key string, reach reachFunc) (peak, avg int64, ok bool, problem string) {
	data, found := o.Files[key]
	if !found {
		return 0, 0, false, key + " was not read"
	}
	mp, err := hls.ParseMedia(data)
	if err != nil {
		return 0, 0, false, key + " does not parse: " + err.Error()
	}
	if len(mp.Segments) == 0 {
		return 0, 0, false, key + " has no segments"
	}
	dir := path.Dir(key)
	complete := true
	if mp.MapURI != "" {
		_, _, ok := reach(dir, mp.MapURI, key)
		complete = complete && ok
	}
	sizes := make([]int64, len(mp.Segments))
	for i, s := range mp.Segments {
		_, a, ok := reach(dir, s.URI, key)
		complete = complete && ok
		sizes[i] = a.Size
	}
	if !complete {
		return 0, 0, false, "" // reach reported the missing objects
	}
	p, _ := hls.PeakBitrate(mp.Segments, sizes)
	return int64(math.Ceil(p)), int64(math.Ceil(hls.AverageBitrate(mp.Segments, sizes))), true, ""
}

// resolve makes uri, relative to the folder dir of the output, a key of the
// output, or says why it cannot (absolute, or outside the output).
func resolve(dir, uri string) (key, why string) {
	if uri == "" || strings.Contains(uri, "://") || strings.HasPrefix(uri, "/") {
		return "", "not a relative URI"
	}
	key = path.Join(dir, uri)
	if key == ".." || strings.HasPrefix(key, "../") {
		return "", "outside the output"
	}
	return key, ""
}

// reasonNoise is what differs between dead letters of one shape: job ids,
// bucket names, the soak's numbered keys and garbage, ETags, request ids.
var reasonNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`etag=\\?"?[0-9a-f]+\\?"?`), "etag=<etag>"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<id>"},
	{regexp.MustCompile(`s3://[a-z0-9][a-z0-9.-]*`), "s3://<bucket>"},
	{regexp.MustCompile(`-[0-9]{3}\.mp4`), "-NNN.mp4"},
	{regexp.MustCompile(`#[0-9]+`), "#N"},
	{regexp.MustCompile(`RequestID: [^,]*, HostID: [^,]*`), "RequestID: <id>, HostID: <id>"},
}

// reasonShape is a dead letter's reason with what differs between
// messages of one kind replaced by placeholders, so equal shapes group.
func reasonShape(reason string) string {
	for _, n := range reasonNoise {
		reason = n.re.ReplaceAllString(reason, n.with)
	}
	return oneLine(reason)
}

// oneLine shortens s to one line of at most 400 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:397] + "..."
	}
	return s
}

func orElse(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
