// Package peers starts the S3 and SQS test peers for the benchmarks, which
// run from the repository root: the shared ones of scripts/peers/*.sh
// (Ensure), or a private pair on free ports (Start).
package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Ensure makes sure the SQS and S3 peers run and their variables are set
// (SQS first, then S3, so that S3's credentials win). It returns a function
// that stops the peers it started itself.
func Ensure() (stop func(), err error) {
	var started []string
	stop = func() {
		for _, s := range started {
			if out, err := exec.Command(s, "stop").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: stopping %s: %v: %s\n", s, err, out)
			}
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	for _, s := range []string{"scripts/peers/sqs.sh", "scripts/peers/s3.sh"} {
		if _, err := os.Stat(s); err != nil {
			return stop, fmt.Errorf("%s not found: run the bench from the repository root: %w", s, err)
		}
		if exec.Command(s, "status").Run() != nil {
			fmt.Fprintf(os.Stderr, "bench: starting %s\n", s)
			cmd := exec.Command(s, "start")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return stop, fmt.Errorf("%s start: %w", s, err)
			}
			started = append(started, s)
		}
		out, err := exec.Command(s, "env").Output()
		if err != nil {
			return stop, fmt.Errorf("%s env: %w", s, err)
		}
		if err := SetEnv(string(out)); err != nil {
			return stop, fmt.Errorf("%s env: %w", s, err)
		}
	}
	return stop, nil
}

// SetEnv applies an `export A=1 B=2` line as the peer scripts print it.
func SetEnv(line string) error {
	fields := strings.Fields(strings.TrimSpace(line))
	if len(fields) == 0 || fields[0] != "export" {
		return errors.New("unexpected output " + strconv.Quote(line))
	}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("unexpected assignment " + strconv.Quote(kv))
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Private is an S3 peer (versitygw) and an SQS peer (fauxqs) started for one
// caller on free 127.0.0.1 ports, apart from the shared ones that
// scripts/peers/*.sh start and stop, so that a long run (bench/soak) neither
// reuses nor stops peers a test run is using. Its data and logs live in the
// folder given to Start.
type Private struct {
	// S3 and SQS are the peers' endpoints, "http://127.0.0.1:PORT".
	S3, SQS string
	// Env is what a process needs to reach both: the endpoints, versitygw's
	// credentials (fauxqs takes any), the region and path-style S3.
	Env   []string
	procs []*exec.Cmd
}

// Credentials of the S3 peer (scripts/peers/s3.sh uses the same).
const (
	s3Access = "hlsfleet-test"
	s3Secret = "hlsfleet-test-secret"
	region   = "us-east-1"
)

// Start installs the pinned peers where they are missing (the scripts'
// install commands), starts both with their data and logs under dir, waits
// until they answer and returns them. Run it from the repository root.
func Start(dir string) (p *Private, err error) {
	for _, s := range []string{"scripts/peers/s3.sh", "scripts/peers/sqs.sh"} {
		cmd := exec.Command(s, "install")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s install (run from the repository root): %w", s, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "s3"), 0o755); err != nil {
		return nil, err
	}
	p = &Private{}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	if p.S3, err = p.startS3(dir); err != nil {
		return nil, err
	}
	if p.SQS, err = p.startSQS(dir); err != nil {
		return nil, err
	}
	p.Env = []string{"AWS_ENDPOINT_URL_S3=" + p.S3, "AWS_ENDPOINT_URL_SQS=" + p.SQS,
		"AWS_ACCESS_KEY_ID=" + s3Access, "AWS_SECRET_ACCESS_KEY=" + s3Secret, "AWS_REGION=" + region,
		"HLSFLEET_S3_PATH_STYLE=true"}
	return p, nil
}

// SetEnv sets p.Env in this process's environment.
func (p *Private) SetEnv() error {
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops both peers (SIGTERM, then SIGKILL after 5 s).
func (p *Private) Stop() {
	for _, c := range p.procs {
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	p.procs = nil
}

// spawn starts a peer in a process group of its own (a Ctrl-C to the caller
// does not stop it before the caller is done with it), logging to logPath.
func (p *Private) spawn(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.procs = append(p.procs, cmd)
	return nil
}

func (p *Private) startS3(dir string) (string, error) {
	bin, err := filepath.Abs(".cache/bin/versitygw")
	if err != nil {
		return "", err
	}
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		cmd := exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--access", s3Access, "--secret", s3Secret,
			"--region", region, "--quiet", "posix", filepath.Join(dir, "s3"))
		if err := p.spawn(cmd, filepath.Join(dir, "s3.log")); err != nil {
			return "", fmt.Errorf("starting versitygw: %w", err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		if waitHTTP(cmd, url, nil) {
			return url, nil
		}
		p.drop(cmd) // most likely the port was taken meanwhile
	}
	return "", fmt.Errorf("versitygw would not start; see %s", filepath.Join(dir, "s3.log"))
}

func (p *Private) startSQS(dir string) (string, error) {
	portFile := filepath.Join(dir, "sqs.port")
	cmd := exec.Command("node", "launch.mjs", portFile, "0")
	cmd.Dir = "scripts/peers/fauxqs"
	cmd.Env = append(os.Environ(), "AWS_REGION="+region)
	if err := p.spawn(cmd, filepath.Join(dir, "sqs.log")); err != nil {
		return "", fmt.Errorf("starting fauxqs: %w", err)
	}
	var url string
	ready := func() bool {
		b, err := os.ReadFile(portFile)
		if err != nil {
			return false
		}
		url = "http://127.0.0.1:" + strings.TrimSpace(string(b))
		return true
	}
	if !waitHTTP(cmd, "", ready) || !waitHTTP(cmd, url, nil) {
		return "", fmt.Errorf("fauxqs would not start; see %s", filepath.Join(dir, "sqs.log"))
	}
	return url, nil
}

// drop stops a peer that did not come up.
func (p *Private) drop(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	p.procs = p.procs[:len(p.procs)-1]
}

// waitHTTP waits up to 15 s until url answers any HTTP request (or, with
// ready set, until ready returns true), giving up early when cmd exits.
func waitHTTP(cmd *exec.Cmd, url string, ready func() bool) bool {
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// Not cmd.Wait: that would reap the peer and break a later Stop.
		if pid := cmd.Process.Pid; syscall.Kill(pid, 0) != nil || zombie(pid) {
			return false
		}
		if ready != nil {
			if ready() {
				return true
			}
		} else if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return true
		}
	}
	return false
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
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

// FreeAddr returns a 127.0.0.1 address nothing listens on now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WaitReady waits up to 30 s until an hlsfleet process's /readyz on addr
// answers 200; exited reports whether the process is gone (then it stops
// at once), log names its log for the error.
func WaitReady(ctx context.Context, addr string, exited func() bool, log string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if exited() {
			return fmt.Errorf("hlsfleet exited before it was ready; its log: %s", log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hlsfleet not ready on %s: %w (log: %s)", addr, ctx.Err(), log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
