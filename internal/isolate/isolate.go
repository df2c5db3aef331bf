// Package isolate runs work in a child copy of the current executable, so
// that a crash or a memory blow-up inside C libraries costs that one piece of
// work and never the caller.
package isolate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
)

// EnvChild is set in the environment of a child started by Run.
const EnvChild = "HLSFLEET_ISOLATED"

// InChild reports whether this process is such a child.
func InChild() bool { return os.Getenv(EnvChild) == "1" }

// ErrCrashed says the child died by a signal it did not ask for.
var ErrCrashed = fault.New(fault.Crashed, "child process crashed")

// ErrMemoryLimit says the child was stopped for using too much memory.
var ErrMemoryLimit = fault.New(fault.Crashed, "child process went over its memory limit")

// Options for one child.
type Options struct {
	// Exe is the program to run; empty means this executable (a child
	// copy of itself).
	Exe         string
	Args        []string  // arguments after the executable name
	Env         []string  // extra environment, KEY=VALUE
	Stdin       io.Reader // nil = no input
	Stdout      io.Writer // nil = os.Stdout
	Stderr      io.Writer // nil = os.Stderr
	MemoryLimit int64     // bytes of resident memory; 0 = none
	// ForwardSignals passes SIGINT and SIGTERM received by this process to
	// the child instead of letting them end this process.
	ForwardSignals bool
}

// mallocArenas caps glibc's malloc arenas in the child (unless the caller's
// environment sets MALLOC_ARENA_MAX). With one arena per busy thread, the
// buffers libav frees in one thread's arena stay resident while another
// thread allocates afresh: on the 20 s 1080p bench4 job with the quality
// report, peak RSS fell from 593-604 MB to 538 MB with 2 arenas (1 gave
// 532 MB), the plain ladder's by 5-9 MB, with no CPU change beyond this
// machine's run-to-run noise (three alternating pairs: 1.01, 0.90, 1.03).
const mallocArenas = "MALLOC_ARENA_MAX=2"

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); ok && k == key {
			return true
		}
	}
	return false
}

// Result of a child that ran to an exit.
type Result struct {
	ExitCode int
	PeakRSS  int64 // bytes
}

// Run starts the child and waits. A child that exits (any code) gives a
// Result and nil error; one killed by a signal gives ErrCrashed, one killed
// for memory ErrMemoryLimit, both wrapped with the detail.
func Run(ctx context.Context, o Options) (Result, error) {
	exe := o.Exe
	if exe == "" {
		self, err := os.Executable()
		if err != nil {
			return Result{}, fmt.Errorf("finding own executable: %w", err)
		}
		exe = self
	}
	cmd := exec.Command(exe, o.Args...)
	// GOTRACEBACK=crash: a fatal signal in C code (libav) makes the Go
	// runtime print its traceback and then die by SIGABRT, instead of exiting
	// with status 2 — the code that means "the input is at fault".
	cmd.Env = append(append(os.Environ(), o.Env...), EnvChild+"=1", "GOTRACEBACK=crash")
	if !hasEnv(cmd.Env, "MALLOC_ARENA_MAX") {
		cmd.Env = append(cmd.Env, mallocArenas)
	}
	cmd.Stdin = o.Stdin
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	// The child dies with us: a worker killed by SIGKILL leaves no orphan
	// transcode behind to publish a job the queue already gave to another.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("starting child: %w", err)
	}
	var sigs chan os.Signal
	if o.ForwardSignals {
		sigs = make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	overMemory := false
	for {
		select {
		case err := <-done:
			res := Result{PeakRSS: peakRSS(cmd.ProcessState)}
			if overMemory {
				return res, fmt.Errorf("%w (%d MiB)", ErrMemoryLimit, o.MemoryLimit>>20)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return res, fmt.Errorf("%w: %v", ErrCrashed, ws.Signal())
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				return res, fmt.Errorf("waiting for child: %w", err)
			}
			res.ExitCode = cmd.ProcessState.ExitCode()
			return res, nil
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			ctx = context.Background() // signal once; the child drains and exits
		case <-tick.C:
			if o.MemoryLimit > 0 && !overMemory {
				if rss := currentRSS(cmd.Process.Pid); rss > o.MemoryLimit {
					overMemory = true
					_ = cmd.Process.Kill()
				}
			}
		}
	}
}

func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// currentRSS reads VmRSS of a process from /proc (0 when unknown).
func currentRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
