package layout

import (
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
