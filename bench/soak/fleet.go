package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// fleet runs a fixed number of `hlsfleet worker` processes and starts a new
// one in a slot whose worker died, until stop. Each worker is the leader of
// a process group of its own, which its job-exec children join, so a
// SIGSTOP to the group freezes the worker with its transcode, like a host
// that stops being scheduled.
type fleet struct {
	bin   string
	args  []string // after "worker"
	env   []string
	dir   string // logs: w<slot>-<n>.log
	drain time.Duration
	logf  func(format string, args ...any)

	mu       sync.Mutex
	slots    []*slot
	stopping bool
	logs     []string
	exits    []exitRecord
	wg       sync.WaitGroup
}

type slot struct {
	n       int    // workers started in this slot so far
	p       *wproc // the running worker; nil between one and the next
	stopped bool   // SIGSTOPped now
}

// wproc is one worker process.
type wproc struct {
	cmd     *exec.Cmd
	slot    int
	started time.Time
	cause   FaultKind // the fault that ends it, if one did
	termAt  time.Time // when a fault sent SIGTERM
	done    chan struct{}
}

// exitRecord is how a worker process ended.
type exitRecord struct {
	Slot   int
	Pid    int
	Cause  FaultKind // "" when no fault of ours ended it (a crash, or the final stop)
	Status string    // as os.ProcessState says it
	Code   int       // exit code; -1 for a signal
	Lived  time.Duration
	Drain  time.Duration // SIGTERM → exit, for Cause == FaultTerm
	Final  bool          // ended by the fleet's stop
}

func newFleet(bin, dir string, args, env []string, drain time.Duration, n int, logf func(string, ...any)) *fleet {
	f := &fleet{bin: bin, args: args, env: env, dir: dir, drain: drain, logf: logf}
	for range n {
		f.slots = append(f.slots, &slot{})
	}
	return f
}

// start starts every slot's supervisor.
func (f *fleet) start() {
	for i := range f.slots {
		f.wg.Add(1)
		go f.supervise(i)
	}
}

// supervise keeps a worker running in slot i until the fleet stops.
func (f *fleet) supervise(i int) {
	defer f.wg.Done()
	for {
		p, err := f.spawn(i)
		if err != nil {
			f.logf("worker %d: %v", i, err)
		} else {
			<-p.done
			f.record(p)
		}
		if f.isStopping() {
			return
		}
		time.Sleep(time.Second) // a restart, as a supervisor (systemd, an ASG) would do
		if f.isStopping() {
			return
		}
	}
}

func (f *fleet) isStopping() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopping
}

// spawn starts a worker in slot i.
func (f *fleet) spawn(i int) (*wproc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return nil, errors.New("stopping")
	}
	s := f.slots[i]
	s.n++
	logPath := filepath.Join(f.dir, fmt.Sprintf("w%d-%d.log", i, s.n))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own copy
	cmd := exec.Command(f.bin, append([]string{"worker"}, f.args...)...)
	cmd.Env = f.env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting hlsfleet worker: %w", err)
	}
	p := &wproc{cmd: cmd, slot: i, started: time.Now(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.p, s.stopped = p, false
	f.logs = append(f.logs, logPath)
	return p, nil
}

// record notes how p ended and clears its slot.
func (f *fleet) record(p *wproc) {
	end := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := p.cmd.ProcessState
	r := exitRecord{Slot: p.slot, Pid: st.Pid(), Cause: p.cause, Status: st.String(), Code: st.ExitCode(),
		Lived: end.Sub(p.started), Final: f.stopping}
	if p.cause == FaultTerm {
		r.Drain = end.Sub(p.termAt)
	}
	f.exits = append(f.exits, r)
	if s := f.slots[p.slot]; s.p == p {
		s.p, s.stopped = nil, false
	}
	if p.cause == "" && !r.Final {
		f.logf("worker %d (pid %d) exited by itself: %s", p.slot, r.Pid, r.Status)
	}
}

// pick returns the running, not stopped worker in slot i or, when it has
// none, in the next slot that has one; nil when no worker runs.
func (f *fleet) pick(i int) *wproc {
	for k := range f.slots {
		s := f.slots[(i+k)%len(f.slots)]
		if s.p != nil && !s.stopped && s.p.cause == "" {
			return s.p
		}
	}
	return nil
}

// inject hits the worker of slot i (or the next one running) with fault k:
// SIGKILL, SIGTERM, or SIGSTOP of its process group with a SIGCONT after
// d. It returns the process's slot and pid, or an error when no worker can
// take it.
func (f *fleet) inject(k FaultKind, i int, d time.Duration) (slot, pid int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pick(i)
	if p == nil || f.stopping {
		return 0, 0, errors.New("no running worker to hit")
	}
	pid = p.cmd.Process.Pid
	switch k {
	case FaultKill:
		p.cause = FaultKill
		err = p.cmd.Process.Signal(syscall.SIGKILL)
	case FaultTerm:
		p.cause, p.termAt = FaultTerm, time.Now()
		err = p.cmd.Process.Signal(syscall.SIGTERM)
	case FaultStop:
		if err = syscall.Kill(-pid, syscall.SIGSTOP); err == nil {
			f.slots[p.slot].stopped = true
			time.AfterFunc(d, func() { f.resume(p) })
		}
	default:
		err = fmt.Errorf("fault %s is not a worker's", k)
	}
	return p.slot, pid, err
}

// resume sends SIGCONT to p's group if p is still stopped.
func (f *fleet) resume(p *wproc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.slots[p.slot]; s.p == p && s.stopped {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT)
		s.stopped = false
	}
}

// resumeAll sends SIGCONT to every stopped worker.
func (f *fleet) resumeAll() {
	f.mu.Lock()
	var ps []*wproc
	for _, s := range f.slots {
		if s.p != nil && s.stopped {
			ps = append(ps, s.p)
		}
	}
	f.mu.Unlock()
	for _, p := range ps {
		f.resume(p)
	}
}

// running counts the workers running now.
func (f *fleet) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.slots {
		if s.p != nil {
			n++
		}
	}
	return n
}

// stop stops restarting, SIGTERMs every worker (SIGCONT first, should one
// be stopped), and waits; a worker still running after its drain timeout
// and 15 s more is killed.
func (f *fleet) stop() {
	f.resumeAll()
	f.mu.Lock()
	f.stopping = true
	var ps []*wproc
	for _, s := range f.slots {
		if s.p != nil {
			ps = append(ps, s.p)
		}
	}
	f.mu.Unlock()
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(f.drain + 15*time.Second)
	defer timer.Stop()
	expired := false
	for _, p := range ps {
		if !expired {
			select {
			case <-p.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	f.wg.Wait()
}

// report returns the exit records and every log file, once stopped.
func (f *fleet) report() ([]exitRecord, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]exitRecord(nil), f.exits...), append([]string(nil), f.logs...)
}
