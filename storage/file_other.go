//go:build !unix

package storage

import (
	"fmt"
	"io/fs"
	"os"
)

// flock is a no-op where flock(2) does not exist: writers in one process
// still exclude each other through lockStripes, but not across processes.
func flock(f *os.File) error { return nil }

// fileETag is "<size>-<mtime ns>" in hex.
func fileETag(fi fs.FileInfo) string {
	return fmt.Sprintf("%x-%x", fi.Size(), fi.ModTime().UnixNano())
}
