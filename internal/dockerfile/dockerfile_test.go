package dockerfile

import (
	"errors"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := `# a comment
ARG V=1.2
ARG BASE=debian:12-slim
FROM golang:${V}-bookworm AS Build
RUN apt-get update \
 # a comment inside
 && apt-get install -y x
COPY --from=build --chown=1:1 /a /b /dst/
FROM $BASE AS run
USER 10001
ENTRYPOINT ["/bin/x", "-y"]
FROM run
`
	f, err := Parse(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Stages) != 3 || f.Stages[0].Name != "build" || f.Stages[0].Base != "golang:1.2-bookworm" ||
		f.Stages[1].Base != "debian:12-slim" || f.Image(f.Stages[2]) != "debian:12-slim" {
		t.Fatalf("stages %+v %+v %+v", f.Stages[0], f.Stages[1], f.Stages[2])
	}
	run := f.Stages[0].All("RUN")
	if len(run) != 1 || run[0].Raw != "apt-get update && apt-get install -y x" || run[0].Line != 5 {
		t.Errorf("RUN %+v", run)
	}
	cp, _ := f.Stages[0].Last("COPY")
	if from, ok := cp.Flag("from"); !ok || from != "build" || !slices.Equal(cp.Args, []string{"/a", "/b", "/dst/"}) {
		t.Errorf("COPY %+v", cp)
	}
	ep, _ := f.Stages[1].Last("ENTRYPOINT")
	if !ep.JSON || !slices.Equal(ep.Args, []string{"/bin/x", "-y"}) {
		t.Errorf("ENTRYPOINT %+v", ep)
	}
	for _, bad := range []string{
		"RUN x\n",                     // before FROM
		"FROM a AS b c\n",             // bad FROM
		"FROM a\nRUN x \\\n",          // ends continued
		"FROM a\nCMD [\"x\"\n",        // bad JSON
		"FROM b AS a\nFROM x AS b\n",  // base defined later
		"FROM a AS x\nFROM a AS x\n",  // twice
		"FROM a\nRUN <<EOF\nx\nEOF\n", // heredoc
		"# only a comment\n",          // no FROM
	} {
		if _, err := Parse(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, want ErrSyntax", bad, err)
		}
	}
}

// makefileBinaries returns name → package of every `go build -o $(BIN)/NAME
// PKG` in the Makefile.
func makefileBinaries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\(GO\) build -o \$\(BIN\)/(\S+) (\S+)`).FindAllStringSubmatch(string(data), -1) {
		bins[m[1]] = m[2]
	}
	if len(bins) == 0 {
		t.Fatal("no `$(GO) build -o $(BIN)/...` in the Makefile")
	}
	return bins
}

// TestRepoDockerfile checks the repository's Dockerfile: the three targets,
// Debian 12 bases, a non-root user in every target, the GPU target's NVIDIA
// settings, runtime stages free of -dev packages, and that every binary
// copied out of the build stage is one the Makefile builds (from the same
// package), or the emulator at the version scripts/peers/rie.sh pins.
func TestRepoDockerfile(t *testing.T) {
	f, err := ParseFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	build := f.Stage("build")
	if build == nil {
		t.Fatal("no build stage")
	}
	if !regexp.MustCompile(`^golang:[0-9.]+-bookworm$`).MatchString(build.Base) {
		t.Errorf("build stage on %q, want golang:<version>-bookworm (Debian 12)", build.Base)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod); m == nil || f.Args["GO_VERSION"] != string(m[1]) {
		t.Errorf("ARG GO_VERSION=%s, go.mod says %s", f.Args["GO_VERSION"], m[1])
	}

	// What the build stage builds: /out/NAME from PKG.
	built := map[string]string{}
	for _, in := range build.All("RUN") {
		for _, m := range regexp.MustCompile(`go build (?:-\S+ )*-o /out/(\S+) (\S+)`).FindAllStringSubmatch(in.Raw, -1) {
			built[m[1]] = m[2]
		}
		if strings.Contains(in.Raw, "aws-lambda-rie@") {
			built["aws-lambda-rie"] = "rie"
			if !strings.Contains(in.Raw, "@${RIE_VERSION}") {
				t.Errorf("line %d: the emulator is not installed at ${RIE_VERSION}", in.Line)
			}
		}
	}
	make := makefileBinaries(t)
	rie, err := os.ReadFile("../../scripts/peers/rie.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rie), "version="+f.Args["RIE_VERSION"]+"\n") {
		t.Errorf("ARG RIE_VERSION=%s is not the version scripts/peers/rie.sh pins", f.Args["RIE_VERSION"])
	}

	targets := map[string][]string{ // target → binaries it must carry
		"worker":     {"hlsfleet"},
		"worker-gpu": {"hlsfleet"},
		"lambda":     {"hlsfleet-lambda", "hlsfleet", "aws-lambda-rie"},
	}
	for name, want := range targets {
		s := f.Stage(name)
		if s == nil {
			t.Errorf("no %s target", name)
			continue
		}
		if img := f.Image(s); img != "debian:12-slim" {
			t.Errorf("%s is built on %s, want debian:12-slim", name, img)
		}
		user, ok := s.Last("USER")
		if !ok || len(user.Args) != 1 || strings.Split(user.Args[0], ":")[0] == "root" || strings.Split(user.Args[0], ":")[0] == "0" {
			t.Errorf("%s: USER %v, want a non-root user", name, user.Args)
		}
		if _, ok := s.Last("ENTRYPOINT"); !ok {
			t.Errorf("%s has no ENTRYPOINT", name)
		}
		var copied []string
		for _, in := range s.All("COPY") {
			from, ok := in.Flag("from")
			if !ok {
				continue
			}
			if from != "build" {
				t.Errorf("%s line %d: copies from %q, not the build stage", name, in.Line, from)
			}
			for _, src := range in.Args[:len(in.Args)-1] {
				bin := path.Base(src)
				copied = append(copied, bin)
				pkg, ok := built[bin]
				switch {
				case !ok:
					t.Errorf("%s line %d: copies %s, which the build stage does not build", name, in.Line, src)
				case bin == "aws-lambda-rie":
				case make[bin] == "":
					t.Errorf("%s line %d: copies %s, which the Makefile does not build", name, in.Line, bin)
				case strings.TrimPrefix(make[bin], "./") != strings.TrimPrefix(pkg, "./"):
					t.Errorf("%s: %s is built from %s here but from %s by the Makefile", name, bin, pkg, make[bin])
				}
			}
		}
		for _, b := range want {
			if !slices.Contains(copied, b) {
				t.Errorf("%s does not carry %s", name, b)
			}
		}
	}
	// Every binary the Makefile builds is in some image.
	for bin := range make {
		if _, ok := built[bin]; !ok {
			t.Errorf("the Makefile builds %s but the image build does not", bin)
		}
	}

	// Runtime stages install no development packages.
	for _, s := range f.Stages {
		if s == build || f.Image(s) != "debian:12-slim" {
			continue
		}
		for _, in := range s.All("RUN") {
			if regexp.MustCompile(`\S+-dev\b`).MatchString(in.Raw) {
				t.Errorf("stage %s line %d installs development packages", s.Name, in.Line)
			}
		}
	}
	// The GPU worker asks the NVIDIA runtime for the video engines.
	gpu := f.Stage("worker-gpu")
	env := ""
	for _, in := range gpu.All("ENV") {
		env += " " + in.Raw
	}
	for _, kv := range []string{"NVIDIA_DRIVER_CAPABILITIES=video,compute,utility", "NVIDIA_VISIBLE_DEVICES=all"} {
		if !strings.Contains(env, kv) {
			t.Errorf("worker-gpu does not set %s", kv)
		}
	}
	// The lambda image runs under the emulator only outside Lambda.
	ep, _ := f.Stage("lambda").Last("ENTRYPOINT")
	script := ""
	for _, in := range f.Stage("lambda").All("COPY") {
		if _, ok := in.Flag("from"); !ok && len(ep.Args) > 0 && in.Args[len(in.Args)-1] == ep.Args[0] {
			script = in.Args[0]
		}
	}
	if script == "" {
		t.Fatalf("the lambda ENTRYPOINT %v is not a script copied from the repository", ep.Args)
	}
	data, err := os.ReadFile("../../" + script)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]`, "exec /usr/local/bin/aws-lambda-rie", "exec /usr/local/bin/hlsfleet-lambda"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s does not contain %q", script, want)
		}
	}
	if ig, err := os.ReadFile("../../.dockerignore"); err != nil || !strings.Contains(string(ig), ".git") || !strings.Contains(string(ig), ".cache") {
		t.Errorf(".dockerignore missing or without .git and .cache: %v", err)
	}
}
