package scaling

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hlsfleet/hlsfleet/queue"
)

// fakeQueue answers Stats with its figures, or with err.
type fakeQueue struct {
	mu    sync.Mutex
	stats queue.Stats
	err   error
	calls int
}

func (q *fakeQueue) Stats(context.Context) (queue.Stats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	return q.stats, q.err
}

// fakeGroup is a Group in memory that records what it was asked to do.
type fakeGroup struct {
	capacity  Capacity
	err       error // from Capacity
	putErr    error
	desired   []int
	published []float64
}

func (g *fakeGroup) Name() string { return "fleet-cpu" }
func (g *fakeGroup) Capacity(context.Context) (Capacity, error) {
	return g.capacity, g.err
}
func (g *fakeGroup) SetDesired(_ context.Context, n int) error {
	g.desired = append(g.desired, n)
	return nil
}
func (g *fakeGroup) PutBacklogPerInstance(_ context.Context, v float64) error {
	if g.putErr != nil {
		return g.putErr
	}
	g.published = append(g.published, v)
	return nil
}

func TestControllerRound(t *testing.T) {
	cases := []struct {
		name           string
		cfg            Config
		group          *fakeGroup
		want           []string
		desired        []int
		published      []float64
		permanent      bool
		wantErrContain string
	}{
		{name: "instances only", cfg: Config{Instances: 3, Min: -1, Max: -1, SecondsPerJob: 30, Latency: time.Minute},
			want: []string{"queue q: 30 visible, 0 in flight, oldest 1m5s\n", "needed               = ceil(30 / 2.00) = 15"}},
		{name: "group bounds, apply and publish",
			cfg:   Config{Instances: -1, Min: -1, Max: -1, SecondsPerJob: 60, Latency: 5 * time.Minute, Apply: true, Publish: true},
			group: &fakeGroup{capacity: Capacity{InService: 2, Desired: 3, Min: 1, Max: 10}},
			want: []string{"group fleet-cpu: 2 in service, desired 3, min 1, max 10\n",
				"published hlsfleet/BacklogPerInstance{AutoScalingGroupName=fleet-cpu} = 15\n",
				"desired capacity of fleet-cpu set to 6 (was 3)\n"},
			desired: []int{6}, published: []float64{15}},
		{name: "flags override the group's bounds, nothing to apply",
			cfg:   Config{Instances: -1, Min: 4, Max: 4, SecondsPerJob: 60, Latency: 5 * time.Minute, Apply: true},
			group: &fakeGroup{capacity: Capacity{InService: 4, Desired: 4, Min: 1, Max: 10}},
			want:  []string{"min 4, max 4\n", "desired capacity already 4: nothing to apply\n"}},
		{name: "no instance in service publishes the backlog",
			cfg:   Config{Instances: -1, Min: -1, Max: -1, SecondsPerJob: 60, Latency: 5 * time.Minute, Publish: true},
			group: &fakeGroup{capacity: Capacity{Desired: 0, Max: 10}},
			want:  []string{"= 30 / 0 in service = +Inf", "} = 30\n"}, published: []float64{30}},
		{name: "no such group", cfg: Config{Instances: -1, Min: -1, Max: -1, SecondsPerJob: 60, Latency: time.Minute},
			group: &fakeGroup{err: ErrNoGroup}, permanent: true, wantErrContain: `no Auto Scaling group named "fleet-cpu"`},
		{name: "describe fails", cfg: Config{Instances: -1, Min: -1, Max: -1, SecondsPerJob: 60, Latency: time.Minute},
			group: &fakeGroup{err: errors.New("throttled")}, wantErrContain: "describing Auto Scaling group fleet-cpu: throttled"},
		{name: "publish fails", cfg: Config{Instances: -1, Min: -1, Max: -1, SecondsPerJob: 60, Latency: time.Minute, Publish: true},
			group: &fakeGroup{capacity: Capacity{InService: 1, Max: 10}, putErr: errors.New("denied")}, wantErrContain: "publishing BacklogPerInstance: denied"},
		{name: "invalid inputs", cfg: Config{Instances: 1, Min: -1, Max: -1, SecondsPerJob: 0, Latency: time.Minute},
			permanent: true, wantErrContain: "seconds per job 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			cfg := tc.cfg
			cfg.Queue = &fakeQueue{stats: queue.Stats{Visible: 30, OldestAge: 65 * time.Second}}
			cfg.QueueName, cfg.Out = "q", &out
			if tc.group != nil {
				cfg.Group = tc.group
			}
			err := NewController(cfg).Round(context.Background())
			if tc.wantErrContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) || Permanent(err) != tc.permanent {
					t.Fatalf("Round: %v (permanent %v), want %q (permanent %v)", err, Permanent(err), tc.wantErrContain, tc.permanent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			if strings.HasPrefix(out.String(), "-- ") {
				t.Error("a single round is stamped with its time")
			}
			if tc.group != nil && (!equal(tc.group.desired, tc.desired) || !equal(tc.group.published, tc.published)) {
				t.Errorf("desired %v, published %v; want %v, %v", tc.group.desired, tc.group.published, tc.desired, tc.published)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Run stamps each round, retries a failed round at the next tick (telling
// RoundFailed), sets the gauges, and stops on a permanent error or when its
// context is done.
func TestControllerRun(t *testing.T) {
	q := &fakeQueue{stats: queue.Stats{Visible: 30}, err: errors.New("unreachable")}
	reg := prometheus.NewRegistry()
	var out strings.Builder
	var mu sync.Mutex
	var failed []error
	c := NewController(Config{Queue: q, QueueName: "q", Instances: 2, Min: -1, Max: -1, SecondsPerJob: 60, Latency: 5 * time.Minute,
		Out: &out, Gauges: NewGauges(reg), RoundFailed: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, err)
			if len(failed) == 2 {
				q.mu.Lock()
				q.err = nil
				q.mu.Unlock()
			}
		}})
	c.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(c.cfg.Gauges.perInstance) != 15 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	if len(failed) < 2 || !strings.Contains(failed[0].Error(), "queue stats: unreachable") {
		t.Errorf("rounds failed: %v, want two 'queue stats: unreachable'", failed)
	}
	if !strings.HasPrefix(out.String(), "-- 2026-01-02T03:04:05Z\nqueue q: 30 visible") {
		t.Errorf("report %q, want it stamped with the round's time", out.String())
	}
	for g, want := range map[prometheus.Gauge]float64{c.cfg.Gauges.perInstance: 15, c.cfg.Gauges.backlog: 30,
		c.cfg.Gauges.recommended: 6, c.cfg.Gauges.inService: 2} {
		if got := testutil.ToFloat64(g); got != want {
			t.Errorf("gauge %v = %v, want %v", g.Desc(), got, want)
		}
	}

	c = NewController(Config{Queue: q, Out: &out, Instances: 1, Min: 3, Max: 2, SecondsPerJob: 60, Latency: time.Minute})
	if err := c.Run(context.Background(), time.Millisecond); !errors.Is(err, ErrInvalid) {
		t.Errorf("Run with min above max: %v, want ErrInvalid at once", err)
	}
}

// fakeAWS records the Auto Scaling and CloudWatch calls AWSGroup makes.
type fakeAWS struct {
	groups []astypes.AutoScalingGroup
	set    *autoscaling.SetDesiredCapacityInput
	put    *cloudwatch.PutMetricDataInput
}

func (f *fakeAWS) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: f.groups}, nil
}

func (f *fakeAWS) SetDesiredCapacity(_ context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	f.set = in
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

func (f *fakeAWS) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	f.put = in
	return &cloudwatch.PutMetricDataOutput{}, nil
}

func TestAWSGroup(t *testing.T) {
	ctx := context.Background()
	f := &fakeAWS{}
	g := &AWSGroup{name: "fleet-cpu", as: f, cw: f}
	if _, err := g.Capacity(ctx); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Capacity of a missing group: %v, want ErrNoGroup", err)
	}
	f.groups = []astypes.AutoScalingGroup{{DesiredCapacity: aws.Int32(3), MinSize: aws.Int32(1), MaxSize: aws.Int32(10),
		Instances: []astypes.Instance{{LifecycleState: astypes.LifecycleStateInService}, {LifecycleState: astypes.LifecycleStatePending},
			{LifecycleState: astypes.LifecycleStateInService}}}}
	if c, err := g.Capacity(ctx); err != nil || c != (Capacity{InService: 2, Desired: 3, Min: 1, Max: 10}) {
		t.Errorf("Capacity: %+v, %v", c, err)
	}
	if err := g.SetDesired(ctx, 6); err != nil || aws.ToString(f.set.AutoScalingGroupName) != "fleet-cpu" ||
		aws.ToInt32(f.set.DesiredCapacity) != 6 || aws.ToBool(f.set.HonorCooldown) {
		t.Errorf("SetDesired: %v, %+v", err, f.set)
	}
	if err := g.PutBacklogPerInstance(ctx, 2.5); err != nil {
		t.Fatal(err)
	}
	d := f.put.MetricData[0]
	if aws.ToString(f.put.Namespace) != "hlsfleet" || aws.ToString(d.MetricName) != "BacklogPerInstance" || aws.ToFloat64(d.Value) != 2.5 ||
		aws.ToString(d.Dimensions[0].Name) != "AutoScalingGroupName" || aws.ToString(d.Dimensions[0].Value) != "fleet-cpu" {
		t.Errorf("PutMetricData %+v", f.put)
	}
}
