package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/imdsmock"
	"github.com/hlsfleet/hlsfleet/queue"
)

// cloudWatchRecorder records CloudWatch calls (Smithy RPC v2 CBOR: POST
// /service/GraniteServiceVersion20100801/operation/NAME) and answers each
// with an empty success.
type cloudWatchRecorder struct {
	mu    sync.Mutex
	paths []string
	body  []byte
}

func (c *cloudWatchRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.body = b
	c.mu.Unlock()
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(http.StatusOK)
}

func awsTestEnv(asURL, cwURL string) []string {
	return []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_AUTO_SCALING=" + asURL, "AWS_ENDPOINT_URL_CLOUDWATCH=" + cwURL, "AWS_EC2_METADATA_DISABLED=true"}
}

// TestScaleRecommendsAppliesAndPublishes: 30 waiting jobs, 2 instances in
// service, 60 s per job and 5 min acceptable: target 5 per instance, 6
// instances; --apply sets 6, --publish puts 15 per instance.
func TestScaleRecommendsAppliesAndPublishes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if _, err := q.Send(context.Background(), []byte(`{"x":1}`), queue.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	as := imdsmock.NewAutoScaling(t)
	as.DescribeGroups = `<member><AutoScalingGroupName>hlsfleet-cpu</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>10</MaxSize>
<DesiredCapacity>3</DesiredCapacity><Instances>
<member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState></member>
<member><InstanceId>i-2</InstanceId><LifecycleState>InService</LifecycleState></member>
<member><InstanceId>i-3</InstanceId><LifecycleState>Pending</LifecycleState></member>
</Instances></member>`
	cw := &cloudWatchRecorder{}
	cwSrv := httptest.NewServer(cw)
	defer cwSrv.Close()
	env := awsTestEnv(as.URL, cwSrv.URL)
	qurl := "local://" + dir

	r := runCLI(t, env, "scale", "--queue", qurl, "--asg", "hlsfleet-cpu", "--seconds-per-job", "60", "--latency", "5m")
	if r.code != 0 {
		t.Fatalf("scale: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"30 visible, 0 in flight", "group hlsfleet-cpu: 2 in service, desired 3, min 1, max 10",
		"backlog per instance = 30 / 2 in service = 15.00", "target               = latency 300s / 60s per job = 5.00",
		"needed               = ceil(30 / 5.00) = 6", "desired now          = 3; change +3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, c := range as.Calls() {
		if c.Action != "DescribeAutoScalingGroups" {
			t.Fatalf("without --apply the group was changed: %s", c.Action)
		}
	}

	r = runCLI(t, env, "scale", "--queue", qurl, "--asg", "hlsfleet-cpu", "--seconds-per-job", "60", "--latency", "5m", "--apply", "--publish")
	if r.code != 0 {
		t.Fatalf("scale --apply --publish: exit %d\n%s", r.code, r.stderr)
	}
	var set *imdsmock.Call
	for _, c := range as.Calls() {
		if c.Action == "SetDesiredCapacity" {
			set = &c
		}
	}
	if set == nil || set.Params.Get("AutoScalingGroupName") != "hlsfleet-cpu" || set.Params.Get("DesiredCapacity") != "6" {
		t.Fatalf("SetDesiredCapacity call %+v, want hlsfleet-cpu to 6", set)
	}
	cw.mu.Lock()
	paths, body := cw.paths, string(cw.body)
	cw.mu.Unlock()
	if len(paths) != 1 || !strings.HasSuffix(paths[0], "/operation/PutMetricData") {
		t.Fatalf("CloudWatch calls %v, want one PutMetricData", paths)
	}
	for _, want := range []string{"hlsfleet", "BacklogPerInstance", "AutoScalingGroupName", "hlsfleet-cpu"} {
		if !strings.Contains(body, want) {
			t.Errorf("PutMetricData body lacks %q", want)
		}
	}
	if !strings.Contains(r.stdout, "published hlsfleet/BacklogPerInstance{AutoScalingGroupName=hlsfleet-cpu} = 15") {
		t.Errorf("output does not say what it published:\n%s", r.stdout)
	}

	// Without a group: --instances; --apply then is a usage error.
	r = runCLI(t, nil, "scale", "--queue", qurl, "--instances", "3", "--seconds-per-job", "30", "--latency", "1m")
	if r.code != 0 || !strings.Contains(r.stdout, "needed               = ceil(30 / 2.00) = 15") {
		t.Fatalf("scale --instances: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	expectFailure(t, runCLI(t, nil, "scale", "--queue", qurl, "--instances", "3", "--apply"), 2)
	expectFailure(t, runCLI(t, nil, "scale", "--queue", qurl), 2)
	expectFailure(t, runCLI(t, nil, "scale", "--queue", qurl, "--instances", "3", "--seconds-per-job", "0"), 2)
}

func TestScaleSimulate(t *testing.T) {
	csv := filepath.Join("..", "..", "scaling", "testdata", "spike-50k-500k.csv")
	args := []string{"scale", "--simulate", csv, "--seconds-per-job", "20", "--latency", "5m", "--max", "120", "--sample", "10m"}
	a := runCLI(t, nil, args...)
	if a.code != 0 {
		t.Fatalf("exit %d\n%s", a.code, a.stderr)
	}
	b := runCLI(t, nil, args...)
	if a.stdout != b.stdout {
		t.Fatal("two runs of the same simulation print different results")
	}
	lines := strings.Split(strings.TrimSpace(a.stdout), "\n")
	// policy, header, 0:00 .. 2:30 every 10 min (16 rows), summary
	if len(lines) != 19 || !strings.HasPrefix(lines[0], "policy: target tracking") || !strings.HasPrefix(lines[len(lines)-1], "jobs: ") {
		t.Fatalf("unexpected shape (%d lines):\n%s", len(lines), a.stdout)
	}
	if !strings.Contains(a.stdout, "    0:50     250.0") {
		t.Errorf("no row at 0:50 with 250 arrivals a minute:\n%s", a.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	expectFailure(t, runCLI(t, nil, "scale", "--simulate", bad), 2)
}

// TestScaleEveryServesMetrics: with --every the command repeats, serving
// hlsfleet_backlog_per_instance, until SIGTERM (exit 0).
func TestScaleEveryServesMetrics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	send := func(n int) {
		for range n {
			if _, err := q.Send(context.Background(), []byte(`{"x":1}`), queue.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(30)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startHLSFleet(t, nil, "scale", "--queue", "local://"+dir, "--instances", "2", "--seconds-per-job", "60",
		"--latency", "5m", "--every", "200ms", "--metrics-addr", addr)
	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 20*time.Second, "backlog per instance 15 on /metrics", func() bool {
		return strings.Contains(scrape(), "\nhlsfleet_backlog_per_instance 15\n")
	})
	send(10)
	waitFor(t, 20*time.Second, "backlog per instance 20 after 10 more jobs", func() bool {
		m := scrape()
		return strings.Contains(m, "\nhlsfleet_backlog_per_instance 20\n") && strings.Contains(m, "\nhlsfleet_recommended_instances 8\n")
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.err:
		p.err <- err
		if err != nil {
			t.Fatalf("scale --every exited with %v on SIGTERM, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("scale --every did not stop on SIGTERM")
	}
}
