//go:build unix

package storage

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// flock takes an exclusive advisory lock on f, released when f is closed.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// fileETag is "<inode>-<size>-<mtime ns>" in hex.
func fileETag(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%x-%x-%x", ino, fi.Size(), fi.ModTime().UnixNano())
}
