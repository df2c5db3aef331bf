package main

import (
	"bufio"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Targets of the fleet benchmark.
const (
	targetOverheadPct = 5.0                    // fleet total wall vs direct, percent
	targetPickupP50   = 100 * time.Millisecond // slot idle while a job waits, median
)

// jobTiming is one fleet job as the benchmark saw it: when it was sent, and
// when the worker started and finished it (from its job.json).
type jobTiming struct {
	sent, started, finished time.Time
}

// percentile returns the p-th percentile (0..100) of ds, interpolating
// linearly between the closest ranks (numpy's default). ds need not be sorted
// and is not modified; an empty ds gives 0.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p = math.Min(math.Max(p, 0), 100)
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return s[lo] + time.Duration(math.Round(frac*float64(s[hi]-s[lo])))
}

// overheadPct is (fleet - direct) / direct in percent; 0 when direct is not
// positive.
func overheadPct(fleet, direct time.Duration) float64 {
	if direct <= 0 {
		return 0
	}
	return float64(fleet-direct) / float64(direct) * 100
}

// pickups returns, for each job of a one-slot worker, how long a waiting job
// sat while the slot was free: started - max(sent, the previous job's
// finish), in the order the jobs started. With a backlog this is the gap
// between one job ending and the next one starting (status write, ack,
// receive, duplicate check); for the first job it is send → start. A
// negative gap (clock rounding) counts as 0.
func pickups(jobs []jobTiming) []time.Duration {
	s := append([]jobTiming(nil), jobs...)
	sort.Slice(s, func(i, j int) bool { return s[i].started.Before(s[j].started) })
	out := make([]time.Duration, len(s))
	var prevEnd time.Time
	for i, j := range s {
		ready := j.sent
		if prevEnd.After(ready) {
			ready = prevEnd
		}
		out[i] = max(j.started.Sub(ready), 0)
		prevEnd = j.finished
	}
	return out
}

// queueWaits returns started - sent for each job: the whole time a job spent
// queued, backlog included.
func queueWaits(jobs []jobTiming) []time.Duration {
	out := make([]time.Duration, len(jobs))
	for i, j := range jobs {
		out[i] = max(j.started.Sub(j.sent), 0)
	}
	return out
}

// span returns the time from the first send to the last finish.
func span(jobs []jobTiming) time.Duration {
	if len(jobs) == 0 {
		return 0
	}
	first, last := jobs[0].sent, jobs[0].finished
	for _, j := range jobs[1:] {
		if j.sent.Before(first) {
			first = j.sent
		}
		if j.finished.After(last) {
			last = j.finished
		}
	}
	return last.Sub(first)
}

// verdict is PASS when ok, else MISS.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// metricValue returns the value of the sample named name (with its label
// set written exactly as Prometheus' text format prints it, e.g.
// `hlsfleet_jobs_total{outcome="published"}`) in a text exposition.
func metricValue(text, name string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}
