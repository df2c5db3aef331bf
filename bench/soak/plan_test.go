package main

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestPlanSubmissions(t *testing.T) {
	d := 30 * time.Minute
	plan := func(seed uint64) []Step { return PlanSubmissions(rand.New(rand.NewPCG(seed, 1)), d, 8, 3) }
	steps := plan(42)
	if !reflect.DeepEqual(steps, plan(42)) {
		t.Fatal("the same seed plans different submissions")
	}
	if reflect.DeepEqual(steps, plan(43)) {
		t.Error("two seeds plan the same submissions")
	}
	if n := len(steps); n < 180 || n > 300 {
		t.Errorf("%d submissions in 30 min at 8 a minute", n)
	}
	seen := map[Kind]int{}
	for i, s := range steps {
		seen[s.Kind]++
		if s.At < 0 || s.At >= d || (i > 0 && s.At < steps[i-1].At) {
			t.Fatalf("step %d at %s: out of order or outside the phase", i, s.At)
		}
		if s.Clip < 0 || s.Clip >= 3 {
			t.Fatalf("step %d: clip %d", i, s.Clip)
		}
		from := s.Kind.repeats()
		switch {
		case from == nil && s.Ref != -1:
			t.Errorf("step %d (%s) repeats step %d", i, s.Kind, s.Ref)
		case from != nil && (s.Ref < 0 || s.Ref >= i || !slices.Contains(from, steps[s.Ref].Kind)):
			t.Errorf("step %d (%s) repeats step %d: want an earlier step of %v", i, s.Kind, s.Ref, from)
		case from != nil && s.Clip != steps[s.Ref].Clip:
			t.Errorf("step %d repeats step %d with another clip", i, s.Ref)
		}
	}
	for _, k := range Kinds {
		if seen[k] == 0 {
			t.Errorf("no %s in %d submissions", k, len(steps))
		}
	}
	// The first step cannot repeat anything.
	for seed := range uint64(50) {
		if s := plan(seed)[0]; s.Kind.repeats() != nil {
			t.Fatalf("seed %d: the first step is a %s", seed, s.Kind)
		}
	}
}

func TestPlanFaults(t *testing.T) {
	d, every := 30*time.Minute, 30*time.Second
	stopFor, outageFor := 20*time.Second, 10*time.Second
	plan := func(seed uint64) []Fault {
		return PlanFaults(rand.New(rand.NewPCG(seed, 1)), d, every, 3, stopFor, outageFor)
	}
	faults := plan(7)
	if !reflect.DeepEqual(faults, plan(7)) {
		t.Fatal("the same seed plans different faults")
	}
	if n := len(faults); n < 50 || n > 80 {
		t.Errorf("%d faults in 30 min, one about every 30 s", n)
	}
	count := map[FaultKind]int{}
	for i, f := range faults {
		count[f.Kind]++
		if f.At+f.For >= d || (i > 0 && f.At <= faults[i-1].At) || f.Worker < 0 || f.Worker >= 3 {
			t.Fatalf("fault %d %+v: out of order, past the phase or no worker", i, f)
		}
		want := map[FaultKind]time.Duration{FaultStop: stopFor, FaultOutage: outageFor}[f.Kind]
		if f.For != want {
			t.Errorf("fault %d %s lasts %s, want %s", i, f.Kind, f.For, want)
		}
	}
	for _, k := range FaultKinds {
		if c := count[k]; c < len(faults)/4-1 || c > len(faults)/4+2 {
			t.Errorf("%d of %d faults are %s: want a quarter", c, len(faults), k)
		}
	}
	// A short phase still gets its first fault early.
	if f := PlanFaults(rand.New(rand.NewPCG(1, 1)), 30*time.Second, every, 3, stopFor, outageFor); len(f) > 0 && f[0].At > every/2 {
		t.Errorf("first fault at %s, want within %s", f[0].At, every/2)
	}
}
