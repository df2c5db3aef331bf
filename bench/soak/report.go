package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/faultproxy"
)

// runStats are the run's figures besides the verdict.
type runStats struct {
	Chaos               time.Duration
	Seed                uint64
	Workers             int
	Visibility, Drain   time.Duration
	MaxReceive          int
	Faults              map[FaultKind]int
	FaultsSkipped       int
	FaultsBusy          int // faults injected while a job ran (on the worker hit; on any worker for an outage)
	Submitted           map[Kind]int
	SendFailed          int
	Restarts            int      // worker processes started after the first ones
	Unexpected          []string // worker exits no fault of ours caused
	Drains, DrainsClean int      // SIGTERM faults; those that exited 0 within the drain timeout (+5 s)
	DrainProblems       []string
	Receives, Messages  int // receives and messages the worker logs show
	MostReceives        int // most receives of one message
	Settled             bool
	SettleWait          time.Duration
	QueueLeft           string // what the queue held when the quiet period ended, if not empty
	Proxy               faultproxy.Stats
	HLSChecked          int
	Dir                 string
}

func (st *runStats) init(o options) {
	*st = runStats{Chaos: o.chaos(), Seed: o.seed, Workers: o.workers, Visibility: o.visibility, Drain: o.drain,
		MaxReceive: o.maxReceive, Faults: map[FaultKind]int{}, Submitted: map[Kind]int{}}
}

// addExits counts restarts, unexpected exits and SIGTERM drains.
func (st *runStats) addExits(exits []exitRecord, drain time.Duration) {
	st.Restarts = max(0, len(exits)-st.Workers)
	for _, e := range exits {
		switch {
		case e.Cause == FaultTerm:
			st.Drains++
			if e.Code == 0 && e.Drain <= drain+5*time.Second {
				st.DrainsClean++
			} else {
				st.DrainProblems = append(st.DrainProblems, fmt.Sprintf("worker %d (pid %d): %s %s after SIGTERM",
					e.Slot, e.Pid, e.Status, e.Drain.Round(100*time.Millisecond)))
			}
		case e.Cause == "" && !e.Final:
			st.Unexpected = append(st.Unexpected, fmt.Sprintf("worker %d (pid %d): %s after %s",
				e.Slot, e.Pid, e.Status, e.Lived.Round(time.Second)))
		}
	}
}

// addReceives sums the receive counts per message.
func (st *runStats) addReceives(msgs map[string]MessageLog) {
	st.Messages = len(msgs)
	for _, m := range msgs {
		st.Receives += m.Receives
		st.MostReceives = max(st.MostReceives, m.Receives)
	}
}

// maxFindings is how many findings of one kind the report lists.
const maxFindings = 20

// writeReport prints the report.
func writeReport(w io.Writer, st *runStats, v *Verdict) {
	fmt.Fprintf(w, "\nhlsfleet soak: %s of chaos, seed %d; %d workers (--visibility %s, --drain-timeout %s), dead letter after %d receives\n",
		st.Chaos, st.Seed, st.Workers, st.Visibility, st.Drain, st.MaxReceive)
	fmt.Fprintf(w, "faults injected: %d (%s), %d while a job ran", sum(st.Faults), tally(st.Faults, FaultKinds), st.FaultsBusy)
	if st.FaultsSkipped > 0 {
		fmt.Fprintf(w, "; %d skipped (no running worker)", st.FaultsSkipped)
	}
	fmt.Fprintf(w, "; S3 proxy: %d connections reset by outages, %d refused\n", st.Proxy.Cut, st.Proxy.Refused)
	fmt.Fprintf(w, "workers: %d restarts; SIGTERM drains %d clean of %d; %d exits no fault caused\n",
		st.Restarts, st.DrainsClean, st.Drains, len(st.Unexpected))
	list(w, append(st.DrainProblems, st.Unexpected...))
	fmt.Fprintf(w, "submissions: %d (%s)", sum(st.Submitted), tally(st.Submitted, Kinds))
	if st.SendFailed > 0 {
		fmt.Fprintf(w, "; %d could not be sent", st.SendFailed)
	}
	fmt.Fprintf(w, "\noutputs: %d (%d of good work), %d published; hlscheck validated %d\n",
		v.Outputs, v.GoodOutputs, v.Published, st.HLSChecked)
	if n := len(v.PublishWaits); n > 0 {
		ws := slices.Clone(v.PublishWaits)
		slices.Sort(ws)
		fmt.Fprintf(w, "first submission → published (job.json finished_at): p50 %s, p90 %s, max %s\n",
			ws[n/2].Round(100*time.Millisecond), ws[n*9/10].Round(100*time.Millisecond), ws[n-1].Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "receives: %d of %d messages (most for one message: %d); dead letters: %d (%d of no submission)\n",
		st.Receives, st.Messages, st.MostReceives, v.DeadLetters, v.UnknownDeadLetters)
	writeGarbage(w, v)
	if st.Settled {
		fmt.Fprintf(w, "quiet period: the queue was empty after %s\n", st.SettleWait.Round(time.Second))
	} else {
		fmt.Fprintf(w, "quiet period: the queue was NOT empty after %s (%s): what is still queued is judged as it stands\n",
			st.SettleWait.Round(time.Second), st.QueueLeft)
	}
	fmt.Fprintln(w)
	for _, c := range []struct {
		name string
		fs   []Finding
	}{{"lost", v.Lost}, {"torn", v.Torn}, {"wrongly dead-lettered", v.WrongDLQ}, {"stale status", v.Stale}} {
		fmt.Fprintf(w, "%-22s %d\n", c.name, len(c.fs))
		listFindings(w, c.fs)
	}
	if len(v.Unjudged) > 0 {
		fmt.Fprintf(w, "%-22s %d\n", "not read", len(v.Unjudged))
		listFindings(w, v.Unjudged)
	}
	if v.Failed() {
		fmt.Fprintf(w, "\nFAIL (worker and peer logs: %s)\n", st.Dir)
	} else {
		fmt.Fprintln(w, "\nOK: nothing lost, torn, wrongly dead-lettered or stale")
	}
}

// writeGarbage prints what became of the garbage and the reasons it was
// dead-lettered with.
func writeGarbage(w io.Writer, v *Verdict) {
	for _, k := range Kinds {
		t := v.Garbage[k]
		if k.Good() || t == nil {
			continue
		}
		fmt.Fprintf(w, "%s: %d sent, %d dead-lettered once, %d never, %d more than once, %d published\n",
			k, t.Sent, t.Once, t.Never, t.More, t.Published)
		reasons := sortedKeys(t.Reasons)
		sort.SliceStable(reasons, func(i, j int) bool { return t.Reasons[reasons[i]] > t.Reasons[reasons[j]] })
		for _, r := range reasons {
			fmt.Fprintf(w, "    %d× %s\n", t.Reasons[r], r)
		}
	}
}

func listFindings(w io.Writer, fs []Finding) {
	var lines []string
	for _, f := range fs {
		lines = append(lines, f.Output+": "+f.What)
	}
	list(w, lines)
}

func list(w io.Writer, lines []string) {
	for i, l := range lines {
		if i == maxFindings {
			fmt.Fprintf(w, "    ... and %d more\n", len(lines)-i)
			return
		}
		fmt.Fprintf(w, "    %s\n", l)
	}
}

func sum[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// tally is "a 2, b 1" in the order of keys, leaving out zeros.
func tally[K ~string](m map[K]int, keys []K) string {
	var parts []string
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
