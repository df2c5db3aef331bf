//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package queue

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile takes a blocking flock(2) on path (created if missing), shared or
// exclusive, and returns the function that releases it. Each call opens its
// own file description, so two calls in one process exclude each other just
// as two processes do. The kernel drops the lock when the process dies, even
// by SIGKILL.
func lockFile(path string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: local: open lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: local: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
