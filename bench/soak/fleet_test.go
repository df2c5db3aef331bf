package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakeWorker is a stand-in for `hlsfleet worker`: a shell with a child in
// its process group (as a worker with a job-exec child), which exits 0 on
// SIGTERM. The trap is set before the child starts, so a worker seen with
// its child (allBusy) exits 0 on SIGTERM; one signalled earlier dies by it.
const fakeWorker = `#!/bin/sh
trap 'kill $child; exit 0' TERM
sleep 30 &
child=$!
wait
`

// allBusy reports whether every slot's worker runs with its child.
func allBusy(f *fleet) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	groups := busyGroups()
	for _, s := range f.slots {
		if s.p == nil || !groups[s.p.cmd.Process.Pid] {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFleetFaultsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hlsfleet")
	if err := os.WriteFile(bin, []byte(fakeWorker), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFleet(bin, dir, nil, os.Environ(), time.Second, 2, t.Logf)
	f.start()
	var pids []int
	t.Cleanup(func() {
		f.stop()
		for _, pid := range pids {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the sleeps a SIGKILL orphaned
		}
	})
	waitFor(t, "two workers with their children", func() bool { return f.running() == 2 && f.busy() })

	slot, pid, busy, err := f.inject(FaultKill, 1, 0, time.Second)
	pids = append(pids, pid)
	if err != nil || slot != 1 || !busy {
		t.Fatalf("kill-9: slot %d, busy %v, %v; want slot 1, busy", slot, busy, err)
	}
	waitFor(t, "the killed worker's restart", func() bool { n, _ := f.report(); return len(n) == 1 && f.running() == 2 })
	waitFor(t, "both workers running their children", func() bool { return allBusy(f) }) // the SIGTERM below wants a drain

	_, pid, _, err = f.inject(FaultStop, 0, 300*time.Millisecond, 0)
	pids = append(pids, pid)
	if err != nil {
		t.Fatal(err)
	}
	// The stopped worker is not picked again while stopped.
	if _, other, _, err := f.inject(FaultTerm, 0, 0, 0); err != nil || other == pid {
		t.Fatalf("sigterm hit pid %d (%v) while %d is stopped", other, err, pid)
	} else {
		pids = append(pids, other)
	}
	waitFor(t, "the drained worker's restart", func() bool { n, _ := f.report(); return len(n) == 2 && f.running() == 2 })
	waitFor(t, "the SIGCONT", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return !f.slots[0].stopped && !f.slots[1].stopped
	})

	// The final stop must find both restarted workers past their trap (a
	// restart SIGTERMed 5 ms after it started died by the signal).
	waitFor(t, "both restarted workers running their children", func() bool { return allBusy(f) })
	f.stop()
	exits, logs := f.report()
	if len(exits) != 4 || len(logs) != 4 {
		t.Fatalf("%d exits, %d logs: want 4 processes (2 first, 2 restarts)", len(exits), len(logs))
	}
	if e := exits[0]; e.Cause != FaultKill || e.Code != -1 || e.Final {
		t.Errorf("first exit %+v: want the kill -9", e)
	}
	if e := exits[1]; e.Cause != FaultTerm || e.Code != 0 || e.Drain <= 0 || e.Drain > 5*time.Second {
		t.Errorf("second exit %+v: want a clean drain", e)
	}
	for _, e := range exits[2:] {
		if !e.Final || e.Cause != "" || e.Code != 0 {
			t.Errorf("exit %+v: want the final stop, exit 0", e)
		}
	}
	if _, _, _, err := f.inject(FaultKill, 0, 0, 0); err == nil {
		t.Error("a fault after stop hit something")
	}
}
