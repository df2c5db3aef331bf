package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Kind is what a submission sends.
type Kind string

// Submission kinds. The first six are good work (their output must end up
// published); the garbage kinds must end up dead-lettered once, with a
// reason.
const (
	KindJob        Kind = "job"            // a job to a fresh output
	KindDupJob     Kind = "duplicate-job"  // a new job (new id) for an earlier job's source and output
	KindResend     Kind = "resend"         // an earlier job's message body again (same job id)
	KindEvent      Kind = "s3-event"       // a clip uploaded under uploads/ and its raw S3 notification
	KindEventAgain Kind = "s3-event-again" // an earlier notification again (S3 delivers at least once)
	KindEventJob   Kind = "job-for-event"  // a manual job for an S3 event's source and output

	KindGarbageMedia   Kind = "garbage-media"   // a job whose source is random bytes
	KindGarbageBody    Kind = "garbage-body"    // a message that is no job and no event
	KindGarbageMissing Kind = "garbage-missing" // a job whose source does not exist
)

// Kinds lists every kind in the order reports show them.
var Kinds = []Kind{KindJob, KindDupJob, KindResend, KindEvent, KindEventAgain, KindEventJob,
	KindGarbageMedia, KindGarbageBody, KindGarbageMissing}

// Good reports whether k is good work (as opposed to garbage).
func (k Kind) Good() bool {
	switch k {
	case KindGarbageMedia, KindGarbageBody, KindGarbageMissing:
		return false
	}
	return true
}

// repeats reports whether k repeats an earlier step, and which kinds it may
// repeat.
func (k Kind) repeats() []Kind {
	switch k {
	case KindDupJob, KindResend:
		return []Kind{KindJob}
	case KindEventAgain, KindEventJob:
		return []Kind{KindEvent}
	}
	return nil
}

// weights are the kinds' shares of the submissions.
var weights = map[Kind]int{
	KindJob: 36, KindDupJob: 10, KindResend: 6, KindEvent: 14, KindEventAgain: 6, KindEventJob: 6,
	KindGarbageMedia: 8, KindGarbageBody: 7, KindGarbageMissing: 7,
}

// Step is one planned submission.
type Step struct {
	At   time.Duration // after the start of the chaos
	Kind Kind
	Clip int // which good clip a job or event uses (repeats: the repeated step's)
	Ref  int // the index of the step a repeat repeats; -1 for none
}

// PlanSubmissions plans the submissions of a chaos phase of length d, about
// perMinute a minute (exponential gaps), over clips good clips. Repeats mostly
// follow their original closely (one of the last three it may repeat), so
// that attempts of one output race; some repeat an older one, which is then
// likely published already.
func PlanSubmissions(rng *rand.Rand, d time.Duration, perMinute float64, clips int) []Step {
	var steps []Step
	mean := float64(time.Minute) / perMinute
	for at := time.Second; at < d; at += time.Duration(rng.ExpFloat64() * mean) {
		k := pickKind(rng)
		s := Step{At: at, Kind: k, Clip: rng.IntN(clips), Ref: -1}
		if from := k.repeats(); from != nil {
			var cands []int
			for i, p := range steps {
				if slices.Contains(from, p.Kind) {
					cands = append(cands, i)
				}
			}
			if len(cands) == 0 {
				s.Kind = from[0] // nothing to repeat yet: the original kind
			} else {
				i := cands[max(0, len(cands)-3)+rng.IntN(min(3, len(cands)))]
				if rng.IntN(4) == 0 {
					i = cands[rng.IntN(len(cands))]
				}
				s.Ref, s.Clip = i, steps[i].Clip
			}
		}
		steps = append(steps, s)
	}
	return steps
}

func pickKind(rng *rand.Rand) Kind {
	total := 0
	for _, k := range Kinds {
		total += weights[k]
	}
	n := rng.IntN(total)
	for _, k := range Kinds {
		if n < weights[k] {
			return k
		}
		n -= weights[k]
	}
	return KindJob
}

// FaultKind is a fault the soak injects.
type FaultKind string

// The faults.
const (
	FaultKill   FaultKind = "kill-9"    // SIGKILL a worker (its job child dies with it)
	FaultTerm   FaultKind = "sigterm"   // SIGTERM a worker: it drains and exits
	FaultStop   FaultKind = "sigstop"   // SIGSTOP a worker and its job child, SIGCONT after Fault.For
	FaultOutage FaultKind = "s3-outage" // the workers' S3 endpoint refuses connections for Fault.For
)

// FaultKinds lists the faults in the order reports show them.
var FaultKinds = []FaultKind{FaultKill, FaultTerm, FaultStop, FaultOutage}

// Fault is one planned fault.
type Fault struct {
	At     time.Duration // after the start of the chaos
	Kind   FaultKind
	Worker int           // the worker it hits (another one when that one is down or stopped)
	For    time.Duration // how long a SIGSTOP or an outage lasts
}

// PlanFaults plans faults about every `every` (uniform in [every/2,
// 3·every/2]; the first within every/2) over a chaos phase of length d,
// with w workers. The kinds come
// in shuffled rounds of all four, so each is as frequent as the others; a
// fault that would not end within d is left out.
func PlanFaults(rng *rand.Rand, d, every time.Duration, w int, stopFor, outageFor time.Duration) []Fault {
	var faults []Fault
	var round []FaultKind
	for at := every/4 + time.Duration(rng.Float64()*float64(every)/4); at < d; at += every/2 + time.Duration(rng.Float64()*float64(every)) {
		if len(round) == 0 {
			round = slices.Clone(FaultKinds)
			rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		f := Fault{At: at, Kind: round[0], Worker: rng.IntN(w)}
		round = round[1:]
		switch f.Kind {
		case FaultStop:
			f.For = stopFor
		case FaultOutage:
			f.For = outageFor
		}
		if at+f.For >= d {
			continue
		}
		faults = append(faults, f)
	}
	return faults
}
