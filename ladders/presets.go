package ladders

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed presets/*.json
var presetFS embed.FS

// Names returns the names of the embedded presets, sorted.
func Names() []string {
	entries, err := fs.ReadDir(presetFS, "presets")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Lookup returns a fresh copy of the embedded preset called name, with
// defaults applied and validated. An unknown name gives ErrUnknownLadder.
func Lookup(name string) (*Ladder, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("%w %q: presets are %s", ErrUnknownLadder, name, strings.Join(Names(), ", "))
	}
	data, err := presetFS.ReadFile(path.Join("presets", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("ladder preset %q: %w", name, err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("ladder preset %q: %w", name, err)
	}
	return l, nil
}

// Load returns the preset called nameOrPath if there is one (a preset wins
// over a file of the same name; write "./name" for the file), else reads and
// parses the file at that path (.json, .yaml or .yml; the content decides the
// format). A ladder file without a name is named after the file, less its
// extension. A path that does not exist gives ErrUnknownLadder with a message
// listing the presets; a file that does not parse gives ErrInvalid.
func Load(nameOrPath string) (*Ladder, error) {
	if slices.Contains(Names(), nameOrPath) {
		return Lookup(nameOrPath)
	}
	data, err := os.ReadFile(nameOrPath)
	if errors.Is(err, fs.ErrNotExist) || nameOrPath == "" {
		return nil, fmt.Errorf("%w %q: not a preset (%s) and no such file",
			ErrUnknownLadder, nameOrPath, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("ladder file: %w", err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("ladder file %s: %w", nameOrPath, err)
	}
	if l.Name == "" {
		base := filepath.Base(nameOrPath)
		l.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return l, nil
}

// ResolveJob is Resolve for the ladder a queued job names (issue N): a
// preset, or a file in dir, the folder the operator allows (the worker's
// --ladder-dir; "" allows none). A job never names a path of its own: a
// name with a '/' or starting with '.' is refused, and so is a name that is
// neither a preset nor a file in dir, without reading anything else.
func ResolveJob(name, dir string, segSeconds float64) (*Ladder, error) {
	if name == "" || slices.Contains(Names(), name) {
		return Resolve(cmp.Or(name, "default"), segSeconds)
	}
	if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("%w %q: a job names a preset (%s) or a file in the worker's --ladder-dir, not a path",
			ErrUnknownLadder, name, strings.Join(Names(), ", "))
	}
	if dir == "" {
		return nil, fmt.Errorf("%w %q: not a preset (%s), and the worker allows no ladder files (--ladder-dir)",
			ErrUnknownLadder, name, strings.Join(Names(), ", "))
	}
	return Resolve(filepath.Join(dir, name), segSeconds)
}

// Resolve loads a preset or ladder file (Load), applies a segment duration
// override when segSeconds > 0 (the GOP never longer than a segment) and
// validates the result: the ladder a job or command runs with.
func Resolve(nameOrPath string, segSeconds float64) (*Ladder, error) {
	l, err := Load(nameOrPath)
	if err != nil {
		return nil, err
	}
	if segSeconds > 0 {
		l.SegmentSeconds = segSeconds
		l.GOPSeconds = min(l.GOPSeconds, segSeconds)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}
