package isolate

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// LastLine passes a child's stderr through to W and remembers its last
// non-empty line: the "hlsfleet: ..." line that says why it failed.
type LastLine struct {
	W    io.Writer
	mu   sync.Mutex
	buf  []byte
	last string
}

func (l *LastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if s := strings.TrimSpace(string(l.buf[:i])); s != "" {
			l.last = s
		}
		l.buf = l.buf[i+1:]
	}
	return l.W.Write(p)
}

// String returns the last non-empty line written.
func (l *LastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := strings.TrimSpace(string(l.buf)); s != "" {
		return s
	}
	return l.last
}
