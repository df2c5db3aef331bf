package job

import "testing"

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
