// Package imdsmock starts amazon-ec2-metadata-mock (installed by
// scripts/peers/imds.sh) for tests, on 127.0.0.1 on a free port, and a
// recorder of Auto Scaling API calls.
package imdsmock

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary returns the mock's path: $HLSFLEET_IMDS_MOCK, else
// .cache/bin/ec2-metadata-mock at the repository root. When it is missing
// the test is skipped with the reason, or fails under
// HLSFLEET_REQUIRE_S3_PEER=1 (scripts/test.sh installs it).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HLSFLEET_IMDS_MOCK"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", ".cache", "bin", "ec2-metadata-mock")
	if _, err := os.Stat(p); err != nil {
		msg := "ec2-metadata-mock is not installed (run scripts/peers/imds.sh install): " + err.Error()
		if os.Getenv("HLSFLEET_REQUIRE_S3_PEER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Start runs the mock with args (e.g. "spot", "-d", "2") on a free port on
// 127.0.0.1 and returns its endpoint (http://127.0.0.1:PORT), for
// AWS_EC2_METADATA_SERVICE_ENDPOINT. The mock is stopped at the test's end.
func Start(t testing.TB, args ...string) string {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if endpoint, _, ok := start(t, port, args); ok {
			return endpoint
		}
	}
	t.Fatal("ec2-metadata-mock would not start")
	return ""
}

// StartAt runs the mock on 127.0.0.1:port (a port a previous mock of this
// test used, to change the scenario under a running watcher) and returns
// its endpoint and a function that stops it (also called at the test's end).
func StartAt(t testing.TB, port int, args ...string) (endpoint string, stop func()) {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		if endpoint, stop, ok := start(t, port, args); ok {
			return endpoint, stop
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ec2-metadata-mock would not start on port %d", port)
	return "", nil
}

func start(t testing.TB, port int, args []string) (endpoint string, stop func(), ok bool) {
	t.Helper()
	bin := Binary(t)
	home := t.TempDir() // the mock reads $HOME/aemm-config.json
	cmd := exec.Command(bin, append(args, "-n", "127.0.0.1", "-p", strconv.Itoa(port))...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Dir = home
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); <-exited }) }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Logf("ec2-metadata-mock on port %d exited while starting:\n%s", port, out.String())
			return "", nil, false
		default:
		}
		resp, err := http.Get(endpoint + "/latest/meta-data/instance-id")
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return endpoint, stop, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	t.Logf("ec2-metadata-mock on port %d did not answer in 10 s:\n%s", port, out.String())
	return "", nil, false
}

// InstanceID is the mock's instance id.
const InstanceID = "i-1234567890abcdef0"

// Call is one recorded Auto Scaling (AWS query protocol) call.
type Call struct {
	Action string
	Params url.Values
	At     time.Time
}

// AutoScaling records the Auto Scaling API calls sent to it and answers
// each with a minimal valid query-protocol response. DescribeGroups, when
// set, answers DescribeAutoScalingGroups with its XML (the
// <AutoScalingGroups> member list).
type AutoScaling struct {
	URL            string
	DescribeGroups string

	mu    sync.Mutex
	calls []Call
}

// NewAutoScaling starts a recorder, stopped at the test's end. Point the SDK
// at it with AWS_ENDPOINT_URL_AUTO_SCALING=rec.URL.
func NewAutoScaling(t testing.TB) *AutoScaling {
	a := &AutoScaling{}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Calls returns the calls so far.
func (a *AutoScaling) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// ServeHTTP implements http.Handler.
func (a *AutoScaling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	action := form.Get("Action")
	a.mu.Lock()
	a.calls = append(a.calls, Call{Action: action, Params: form, At: time.Now()})
	groups := a.DescribeGroups
	a.mu.Unlock()
	result := ""
	if action == "DescribeAutoScalingGroups" {
		result = "<DescribeAutoScalingGroupsResult><AutoScalingGroups>" + groups + "</AutoScalingGroups></DescribeAutoScalingGroupsResult>"
	} else if action == "CompleteLifecycleAction" || action == "SetInstanceProtection" || action == "RecordLifecycleActionHeartbeat" {
		result = "<" + action + "Result/>"
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">%s<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></%sResponse>`,
		action, result, action)
}
