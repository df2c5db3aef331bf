package scaling

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCompute(t *testing.T) {
	cases := []struct {
		name       string
		in         Inputs
		perInst    float64
		target     float64
		needed     int
		recommend  int
		lineSubstr string
	}{
		{"steady", Inputs{Visible: 150, InFlight: 50, InService: 10, Desired: 10, Min: 1, Max: 50, SecondsPerJob: 60, Latency: 10 * time.Minute},
			20, 10, 20, 20, "ceil(200 / 10.00) = 20"},
		{"exact multiple stays", Inputs{Visible: 100, InService: 10, Desired: 10, Max: 50, SecondsPerJob: 60, Latency: 10 * time.Minute},
			10, 10, 10, 10, "change +0"},
		{"one over rounds up", Inputs{Visible: 101, InService: 10, Desired: 10, Max: 50, SecondsPerJob: 60, Latency: 10 * time.Minute},
			10.1, 10, 11, 11, "change +1"},
		{"capped at max", Inputs{Visible: 5000, InService: 10, Desired: 10, Min: 2, Max: 40, SecondsPerJob: 30, Latency: 5 * time.Minute},
			500, 10, 500, 40, "capped at the group's max"},
		{"idle goes to min", Inputs{InService: 8, Desired: 8, Min: 2, Max: 40, SecondsPerJob: 30, Latency: 5 * time.Minute},
			0, 10, 0, 2, "raised to the group's min"},
		{"no instance yet", Inputs{Visible: 7, InService: 0, Desired: 0, Max: 10, SecondsPerJob: 60, Latency: 3 * time.Minute},
			math.Inf(1), 3, 3, 3, "+Inf"},
		{"latency shorter than a job", Inputs{Visible: 12, InService: 4, Desired: 4, Max: 100, SecondsPerJob: 600, Latency: time.Minute},
			3, 1, 12, 12, "target 1"},
		{"no max", Inputs{Visible: 1000, InService: 1, Desired: 1, SecondsPerJob: 6, Latency: time.Minute},
			1000, 10, 100, 100, "ceil(1000 / 10.00) = 100"},
		{"fractional target", Inputs{Visible: 10, InService: 1, Desired: 1, SecondsPerJob: 40, Latency: 100 * time.Second},
			10, 2.5, 4, 4, "ceil(10 / 2.50) = 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compute(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.BacklogPerInstance != c.perInst && math.Abs(p.BacklogPerInstance-c.perInst) > 1e-9 {
				t.Errorf("backlog per instance %v, want %v", p.BacklogPerInstance, c.perInst)
			}
			if math.Abs(p.Target-c.target) > 1e-9 {
				t.Errorf("target %v, want %v", p.Target, c.target)
			}
			if p.Needed != c.needed || p.Recommended != c.recommend {
				t.Errorf("needed %d recommended %d, want %d and %d", p.Needed, p.Recommended, c.needed, c.recommend)
			}
			if all := strings.Join(p.Lines, "\n"); !strings.Contains(all, c.lineSubstr) {
				t.Errorf("arithmetic lacks %q:\n%s", c.lineSubstr, all)
			}
		})
	}
}

func TestComputeRejects(t *testing.T) {
	for _, in := range []Inputs{
		{Visible: -1, SecondsPerJob: 1, Latency: time.Second},
		{SecondsPerJob: 0, Latency: time.Second},
		{SecondsPerJob: math.NaN(), Latency: time.Second},
		{SecondsPerJob: 1, Latency: 0},
		{SecondsPerJob: 1, Latency: time.Second, Min: 5, Max: 2},
	} {
		if _, err := Compute(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compute(%+v) = %v, want ErrInvalid", in, err)
		}
	}
}
