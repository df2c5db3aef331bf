package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hlsfleet/hlsfleet/fault"
)

var (
	errInput   = fault.New(fault.Input, "input is at fault")
	errCorrupt = fault.Under(errInput, "input is corrupt")
	errCrash   = fault.New(fault.Crashed, "child crashed")
	errDown    = fault.New(fault.Infra, "storage unavailable")
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want fault.Class
	}{
		{"nil", nil, fault.Transient},
		{"plain", errors.New("connection reset"), fault.Transient},
		{"context", context.Canceled, fault.Transient},
		{"sentinel", errInput, fault.Input},
		{"child sentinel", errCorrupt, fault.Input},
		{"wrapped", fmt.Errorf("job x: %w", fmt.Errorf("%w: bad byte", errCorrupt)), fault.Input},
		{"crash", fmt.Errorf("run: %w", errCrash), fault.Crashed},
		{"As", fault.As(fault.Shutdown, errors.New("stopping")), fault.Shutdown},
		{"Errorf", fault.Errorf(fault.LeaseLost, "lease %d", 3), fault.LeaseLost},
		{"outermost wins", fault.As(fault.Crashed, fmt.Errorf("x: %w", errInput)), fault.Crashed},
		{"As nil", fault.As(fault.Input, nil), fault.Transient},
		{"infra", fmt.Errorf("stat: %w", errDown), fault.Infra},
		{"infra under crash", fault.As(fault.Crashed, fmt.Errorf("x: %w", errDown)), fault.Crashed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.Of(tc.err); got != tc.want {
				t.Fatalf("Of(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSentinelsKeepErrorsIs(t *testing.T) {
	err := fmt.Errorf("job 1: %w", fmt.Errorf("%w: at byte 9", errCorrupt))
	if !errors.Is(err, errCorrupt) || !errors.Is(err, errInput) {
		t.Fatal("a sentinel below another must be errors.Is both")
	}
	if errors.Is(err, errCrash) {
		t.Fatal("errors.Is matched an unrelated sentinel")
	}
	if got := err.Error(); got != "job 1: input is corrupt: at byte 9" {
		t.Fatalf("text changed: %q", got)
	}
	classed := fault.As(fault.Input, err)
	if classed.Error() != err.Error() || !errors.Is(classed, errCorrupt) {
		t.Fatal("As must keep the text and the chain")
	}
	if !fault.Is(err, fault.Input) || fault.Is(nil, fault.Transient) {
		t.Fatal("Is")
	}
}

func TestClassNames(t *testing.T) {
	// job.json "reason" values since the first release.
	want := map[fault.Class]string{fault.Transient: "transient", fault.Input: "permanent",
		fault.Crashed: "crashed", fault.Shutdown: "shutdown", fault.LeaseLost: "lease-lost",
		fault.Infra: "infrastructure"}
	for c, n := range want {
		if c.String() != n {
			t.Errorf("%d: %q, want %q", c, c.String(), n)
		}
		if fault.ParseClass(n) != c {
			t.Errorf("ParseClass(%q) = %d, want %d", n, fault.ParseClass(n), c)
		}
	}
	if fault.ParseClass("no such class") != fault.Transient {
		t.Error("an unknown name must parse as Transient")
	}
}
