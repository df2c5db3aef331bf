// Package rie runs a Lambda bootstrap under aws-lambda-rie (the AWS Lambda
// Runtime Interface Emulator) on 127.0.0.1 and invokes it over HTTP, for
// the Lambda tests and benchmark. scripts/peers/rie.sh installs the pinned
// emulator into .cache/bin.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled says the emulator binary was not found.
var ErrNotInstalled = errors.New("rie: aws-lambda-rie not installed (scripts/peers/rie.sh install)")

// FunctionError is an invocation whose handler returned an error.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return "function error " + e.Type + ": " + e.Message }

// Find returns the emulator's path: $HLSFLEET_RIE, else .cache/bin in the
// repository root above dir, else PATH.
func Find(dir string) (string, error) {
	if p := os.Getenv("HLSFLEET_RIE"); p != "" {
		return p, nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".cache", "bin", "aws-lambda-rie")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// Options of Start.
type Options struct {
	RIE       string   // the emulator binary
	Bootstrap string   // the function's bootstrap
	Env       []string // extra environment (KEY=VALUE) for the emulator and the function
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT); 0: 300 s.
	Timeout time.Duration
	// Log receives the emulator's and the function's output; nil: kept
	// only in memory (Emulator.Logs).
	Log io.Writer
}

// Emulator is a running aws-lambda-rie.
type Emulator struct {
	URL   string // the invoke URL
	cmd   *exec.Cmd
	mu    sync.Mutex
	logs  bytes.Buffer
	extra io.Writer
	done  chan struct{}
}

func (e *Emulator) Write(p []byte) (int, error) {
	e.mu.Lock()
	e.logs.Write(p)
	e.mu.Unlock()
	if e.extra != nil {
		_, _ = e.extra.Write(p)
	}
	return len(p), nil
}

// Logs returns everything the emulator and the function wrote so far.
func (e *Emulator) Logs() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the emulator with both its invoke endpoint and the Runtime
// API on free 127.0.0.1 ports and waits until it answers. The emulator
// starts the bootstrap on the first invocation (the cold start).
func Start(ctx context.Context, o Options) (*Emulator, error) {
	if o.RIE == "" {
		return nil, ErrNotInstalled
	}
	invokePort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 300 * time.Second
	}
	e := &Emulator{URL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", invokePort),
		extra: o.Log, done: make(chan struct{})}
	e.cmd = exec.Command(o.RIE,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(invokePort),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		o.Bootstrap)
	e.cmd.Dir = filepath.Dir(o.Bootstrap)
	e.cmd.Env = append(append(os.Environ(), o.Env...),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(timeout.Seconds())))
	e.cmd.Stdout, e.cmd.Stderr = e, e
	// Its own process group, so Stop ends the bootstrap and its children too.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: starting %s: %w", o.RIE, err)
	}
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", invokePort), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("rie: the emulator exited while starting:\n%s", e.Logs())
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("rie: the emulator did not answer within 15 s:\n%s", e.Logs())
		}
	}
}

// Invoke sends payload as one invocation and returns the function's
// response. A handler error is a *FunctionError.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("rie: invoke: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var fe FunctionError
	if resp.Header.Get("X-Amz-Function-Error") != "" ||
		(json.Unmarshal(body, &fe) == nil && fe.Type != "" && bytes.Contains(body, []byte(`"errorType"`))) {
		if fe.Type == "" {
			fe.Type = resp.Header.Get("X-Amz-Function-Error")
		}
		return body, &fe
	}
	return body, nil
}

// Stop ends the emulator and the function.
func (e *Emulator) Stop() {
	if e.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
}
