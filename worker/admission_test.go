package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
)

func TestGrant(t *testing.T) {
	cases := []struct {
		name              string
		want, free, total int
		policy            Policy
		wantWait          bool
		take              int
	}{
		{name: "room", want: 4, free: 8, total: 8, policy: PolicySpill, take: 4},
		{name: "exactly full", want: 4, free: 4, total: 8, policy: PolicyWait, take: 4},
		{name: "short: spill the rest", want: 4, free: 2, total: 8, policy: PolicySpill, take: 2},
		{name: "full: whole job to CPU", want: 4, free: 0, total: 8, policy: PolicySpill, take: 0},
		{name: "short: wait", want: 4, free: 2, total: 8, policy: PolicyWait, wantWait: true},
		{name: "bigger than the device: take it all", want: 5, free: 3, total: 3, policy: PolicyWait, take: 3},
		{name: "bigger than a busy device: wait for all", want: 5, free: 2, total: 3, policy: PolicyWait, wantWait: true},
		{name: "no sessions at all", want: 4, free: 0, total: 0, policy: PolicyWait, take: 0},
		{name: "audio only", want: 0, free: 3, total: 3, policy: PolicySpill, take: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			take, wait := grant(tc.want, tc.free, tc.total, tc.policy)
			if take != tc.take || wait != tc.wantWait {
				t.Errorf("grant(%d, %d, %d, %s) = %d, %v; want %d, %v", tc.want, tc.free, tc.total, tc.policy, take, wait, tc.take, tc.wantWait)
			}
		})
	}
}

func TestSessionsSpill(t *testing.T) {
	s := NewSessions(5)
	ctx := context.Background()
	a, _ := s.Acquire(ctx, 4, PolicySpill)
	b, _ := s.Acquire(ctx, 4, PolicySpill)
	c, _ := s.Acquire(ctx, 4, PolicySpill)
	if a != 4 || b != 1 || c != 0 {
		t.Fatalf("spill took %d, %d, %d; want 4, 1, 0", a, b, c)
	}
	if s.InUse() != 5 {
		t.Fatalf("in use %d, want 5", s.InUse())
	}
	s.Release(a)
	s.Release(b)
	if s.InUse() != 0 {
		t.Fatalf("in use %d after release, want 0", s.InUse())
	}
}

func TestSessionsWait(t *testing.T) {
	s := NewSessions(4)
	ctx := context.Background()
	first, _ := s.Acquire(ctx, 3, PolicyWait)
	got := make(chan int, 1)
	go func() {
		n, err := s.Acquire(ctx, 3, PolicyWait)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("second job took %d sessions while only 1 was free; want it to wait", n)
	case <-time.After(50 * time.Millisecond):
	}
	s.Release(first)
	select {
	case n := <-got:
		if n != 3 {
			t.Fatalf("second job took %d sessions, want 3", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second job still waiting after the first released its sessions")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Acquire(cctx, 3, PolicyWait); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting with a canceled context = %v, want context.Canceled", err)
	}
}

func TestAccelRunnerAdmit(t *testing.T) {
	ctx := context.Background()
	j := job.New("file:///in.mp4", "file:///out", job.WithLadder("default")) // 5 rungs
	cases := []struct {
		name     string
		accel    string
		pool     *Sessions
		held     int // sessions taken before
		policy   Policy
		accelOut string
		sessions int
	}{
		{name: "cpu worker", accel: "cpu", accelOut: "cpu"},
		{name: "hybrid (no session pool)", accel: "nvidia", accelOut: "nvidia"},
		{name: "room for all", accel: "nvidia", pool: NewSessions(8), policy: PolicySpill, accelOut: "nvidia", sessions: 5},
		{name: "spill some", accel: "nvidia", pool: NewSessions(8), held: 5, policy: PolicySpill, accelOut: "nvidia", sessions: 3},
		{name: "full: CPU", accel: "vaapi", pool: NewSessions(3), held: 3, policy: PolicySpill, accelOut: "cpu"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pool != nil && tc.held > 0 {
				if n, _ := tc.pool.Acquire(ctx, tc.held, PolicySpill); n != tc.held {
					t.Fatalf("setup took %d", n)
				}
			}
			r := &AccelRunner{Base: &ProcessRunner{}, Accel: tc.accel, Pool: tc.pool, Policy: tc.policy, Logger: zaptest.NewLogger(t)}
			accel, sessions, release, err := r.admit(ctx, j)
			if err != nil {
				t.Fatal(err)
			}
			if accel != tc.accelOut || sessions != tc.sessions {
				t.Errorf("admit = %s, %d; want %s, %d", accel, sessions, tc.accelOut, tc.sessions)
			}
			release()
			if tc.pool != nil && tc.pool.InUse() != tc.held {
				t.Errorf("after release %d in use, want %d", tc.pool.InUse(), tc.held)
			}
		})
	}
	if n := JobRenditions(job.New("a", "b", job.WithLadder("no-such-ladder"))); n != 1 {
		t.Errorf("JobRenditions of an unknown ladder = %d, want 1", n)
	}
}

func TestParsePolicy(t *testing.T) {
	for s, want := range map[string]Policy{"": PolicySpill, "spill": PolicySpill, "wait": PolicyWait} {
		if p, err := ParsePolicy(s); err != nil || p != want {
			t.Errorf("ParsePolicy(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("drop"); !errors.Is(err, ErrBadPolicy) {
		t.Errorf("ParsePolicy(drop) = %v", err)
	}
}

func TestAccelRunnerMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	pool := NewSessions(6)
	r := &AccelRunner{Base: &ProcessRunner{}, Accel: "nvidia", Pool: pool, Policy: PolicySpill}
	if err := r.Register(reg); err != nil {
		t.Fatal(err)
	}
	j := job.New("file:///in.mp4", "file:///out", job.WithLadder("default")) // 5 rungs
	_, _, rel1, _ := r.admit(ctx, j)                                         // 5 on the GPU
	_, _, rel2, _ := r.admit(ctx, j)                                         // 1 on the GPU, 4 spilled
	_, _, rel3, _ := r.admit(ctx, j)                                         // none left: the job on the CPU
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	want := map[string]float64{"hlsfleet_gpu_spilled_renditions_total": 4, "hlsfleet_gpu_jobs_on_cpu_total": 1,
		"hlsfleet_gpu_encoder_sessions": 6, "hlsfleet_gpu_encoder_sessions_in_use": 6}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	rel1()
	rel2()
	rel3()
	if pool.InUse() != 0 {
		t.Errorf("%d sessions still held", pool.InUse())
	}
}
