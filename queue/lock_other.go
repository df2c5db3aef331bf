//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package queue

import "errors"

func lockFile(path string, exclusive bool) (func(), error) {
	return nil, errors.New("queue: the local driver needs flock(2) (Linux, macOS or a BSD)")
}
