package job

import "testing"

func TestMayReplace(t *testing.T) {
	states := []string{StateQueued, StateRunning, StateRetrying, StateFailed, StatePublished}
	for _, cur := range states {
		for _, next := range states {
			want := cur != StatePublished
			if got := MayReplace(Status{State: cur}, Status{State: next}); got != want {
				t.Errorf("MayReplace(%s, %s) = %v, want %v", cur, next, got, want)
			}
		}
	}
}
