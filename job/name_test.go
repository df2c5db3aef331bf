package job

import (
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"clip", "clip"},
		{"my clip", "my_clip"},
		{"a-b_c.d", "a-b_c.d"},
		{"été", "_t_"},
		{"../etc/passwd", "media.._etc_passwd"},
		{".hidden", "media.hidden"},
		{"", "media"},
		{"a/b\\c", "a_b_c"},
		{"日本", "__"},
	} {
		if got := SafeName(c.in); got != c.want {
			t.Errorf("SafeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// CheckStreamName accepts exactly the names a live-segment job validates
// with, and says why it refuses one.
func TestCheckStreamName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"cam1", true},
		{"a-b_c.d", true},
		{"A9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"../x", false},
		{"a/b", false},
		{"sp ace", false},
		{"été", false},
	} {
		why := CheckStreamName(c.name)
		if (why == "") != c.ok {
			t.Errorf("CheckStreamName(%q) = %q, want ok %v", c.name, why, c.ok)
		}
		valid := New("file:///x", "file:///y", WithLive(c.name, 0, false)).Validate() == nil
		if valid != c.ok {
			t.Errorf("a live job for stream %q validates: %v, want %v", c.name, valid, c.ok)
		}
	}
}
