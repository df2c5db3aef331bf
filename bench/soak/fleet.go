package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
// none, in the next slot that has one (with busy, only one running a job);
// nil when there is none.
func (f *fleet) pick(i int, busy bool) *wproc {
	var groups map[int]bool
	if busy {
		groups = busyGroups()
	}
	for k := range f.slots {
		s := f.slots[(i+k)%len(f.slots)]
		if s.p != nil && !s.stopped && s.p.cause == "" && (!busy || groups[s.p.cmd.Process.Pid]) {
			return s.p
		}
	}
	return nil
}

// busyGroups returns the process groups that hold a process other than
// their leader: a worker's group holds its job-exec child while it runs a
// job.
func busyGroups() map[int]bool {
	groups := map[int]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return groups
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 {
			continue
		}
		if pgrp, err := strconv.Atoi(f[2]); err == nil && pgrp != pid {
			groups[pgrp] = true
		}
	}
	return groups
}

// busy reports whether any worker runs a job now.
func (f *fleet) busy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pick(0, true) != nil
}

// inject hits a worker with fault k: SIGKILL, SIGTERM, or SIGSTOP of its
// process group with a SIGCONT after d. It waits up to wait for a worker
// that runs a job (from slot i on), then takes any running worker. It
// returns the process's slot and pid and whether it ran a job, or an error
// when no worker can take the fault.
func (f *fleet) inject(k FaultKind, i int, d, wait time.Duration) (slot, pid int, busy bool, err error) {
	deadline := time.Now().Add(wait)
	for {
		f.mu.Lock()
		p := f.pick(i, true)
		busy = p != nil
		if p == nil && !time.Now().Before(deadline) {
			p = f.pick(i, false)
		}
		if p != nil || f.stopping || !time.Now().Before(deadline) {
			defer f.mu.Unlock()
			if p == nil || f.stopping {
				return 0, 0, false, errors.New("no running worker to hit")
			}
			return p.slot, p.cmd.Process.Pid, busy, f.hit(p, k, d)
		}
		f.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

// hit signals p with fault k; f.mu is held.
func (f *fleet) hit(p *wproc, k FaultKind, d time.Duration) error {
	switch k {
	case FaultKill:
		p.cause = FaultKill
		return p.cmd.Process.Signal(syscall.SIGKILL)
	case FaultTerm:
		p.cause, p.termAt = FaultTerm, time.Now()
		return p.cmd.Process.Signal(syscall.SIGTERM)
	case FaultStop:
		if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			return err
		}
		f.slots[p.slot].stopped = true
		time.AfterFunc(d, func() { f.resume(p) })
		return nil
	}
	return fmt.Errorf("fault %s is not a worker's", k)
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
