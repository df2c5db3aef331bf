package layout

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPurePackagesLinkNoLibav runs `go list -deps` on every pure package:
// none may depend on go-astiav (or on pipeline, which wraps it).
func TestPurePackagesLinkNoLibav(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH; cannot list dependencies")
	}
	for _, p := range Pure {
		out, err := exec.Command("go", "list", "-deps", Module+"/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", p, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "go-astiav") || dep == Module+"/pipeline" || dep == Module+"/jobexec" {
				t.Errorf("%s links libav through %s", p, dep)
			}
		}
	}
}

// The rule above could pass vacuously if go-astiav were no longer what
// links libav: the packages that do the libav work must link it.
func TestLibavPackagesDoLinkIt(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH; cannot list dependencies")
	}
	for _, p := range Libav {
		out, err := exec.Command("go", "list", "-deps", Module+"/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", p, err, out)
		}
		if !strings.Contains(string(out), "github.com/asticode/go-astiav") {
			t.Errorf("%s does not link go-astiav: the layout test would check nothing", p)
		}
	}
}

// TestNoConflictMarkers reads every tracked text file: a merge's conflict
// markers must never be committed (one reached docs/ARCHITECTURE.md once).
func TestNoConflictMarkers(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH; cannot list the tracked files")
	}
	out, err := exec.Command("git", "-C", "../..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v); nothing to read", err)
	}
	checked := 0
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile("../../" + name)
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			continue // a deleted-but-tracked file or a binary
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "<<<<<<< ") || strings.HasPrefix(line, ">>>>>>> ") || line == "=======" && conflictAround(b) {
				t.Errorf("%s:%d: merge conflict marker %q", name, i+1, line)
			}
		}
	}
	if checked < 50 {
		t.Errorf("read only %d tracked files; the listing looks wrong", checked)
	}
}

// conflictAround reports whether b also holds an opening marker, so that a
// lone "=======" (a Markdown heading underline) is not taken for one.
func conflictAround(b []byte) bool {
	return bytes.Contains(b, []byte("\n<<<<<<< "))
}
