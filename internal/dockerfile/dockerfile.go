// Package dockerfile is a small parser of the Dockerfile subset this
// repository uses (comments, line continuations, global ARGs, multi-stage
// FROM ... AS, instruction flags such as COPY --from, JSON and shell
// forms), enough for tests to check the images' structure without Docker.
// Heredocs and parser directives other than comments are not supported.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("dockerfile: syntax")

// Instruction is one instruction, continuation lines joined.
type Instruction struct {
	Cmd   string   // upper case: FROM, RUN, COPY, ...
	Flags []string // leading --flag[=value] arguments
	Args  []string // the rest: the JSON array's elements, or whitespace-separated words
	JSON  bool     // exec (JSON) form
	Raw   string   // the joined text after the command
	Line  int      // line of the instruction's start
}

// Flag returns the value of --name=value, and whether it is present.
func (in Instruction) Flag(name string) (string, bool) {
	for _, f := range in.Flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// Stage is one FROM and what follows it.
type Stage struct {
	Name         string // the AS name, lower case; "" when unnamed
	Base         string // the FROM image or stage, global ARGs expanded
	Instructions []Instruction
	Line         int
}

// Last returns the stage's last instruction cmd, if any.
func (s *Stage) Last(cmd string) (Instruction, bool) {
	for i := len(s.Instructions) - 1; i >= 0; i-- {
		if s.Instructions[i].Cmd == cmd {
			return s.Instructions[i], true
		}
	}
	return Instruction{}, false
}

// All returns the stage's instructions cmd.
func (s *Stage) All(cmd string) []Instruction {
	var out []Instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// File is a parsed Dockerfile.
type File struct {
	Args   map[string]string // global ARG defaults (before the first FROM)
	Stages []*Stage
}

// Stage returns the stage named name (case-insensitive), or nil.
func (f *File) Stage(name string) *Stage {
	for _, s := range f.Stages {
		if s.Name == strings.ToLower(name) {
			return s
		}
	}
	return nil
}

// Image follows stage bases to the image a stage is finally built on.
func (f *File) Image(s *Stage) string {
	for range len(f.Stages) {
		next := f.Stage(s.Base)
		if next == nil {
			return s.Base
		}
		s = next
	}
	return s.Base // a cycle; Parse rejects those
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// Expand replaces $NAME and ${NAME} with global ARG defaults.
func (f *File) Expand(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := f.Args[name]; ok {
			return v
		}
		return m
	})
}

// ParseFile parses the Dockerfile at path.
func ParseFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Parse(fh)
}

// Parse reads a Dockerfile.
func Parse(r io.Reader) (*File, error) {
	f := &File{Args: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		buf   []string
		start int
		n     int
	)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		text := strings.Join(buf, " ")
		buf = nil
		return f.add(text, start)
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments may sit inside a continued instruction too
		}
		if len(buf) == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			buf = append(buf, strings.TrimSpace(strings.TrimSuffix(line, `\`)))
			continue
		}
		buf = append(buf, line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(buf) > 0 {
		return nil, fmt.Errorf("%w: line %d: the file ends inside a continued instruction", ErrSyntax, start)
	}
	if len(f.Stages) == 0 {
		return nil, fmt.Errorf("%w: no FROM", ErrSyntax)
	}
	return f, f.checkBases()
}

func (f *File) add(text string, line int) error {
	cmd, rest, _ := strings.Cut(text, " ")
	in := Instruction{Cmd: strings.ToUpper(cmd), Raw: strings.TrimSpace(rest), Line: line}
	if strings.Contains(in.Raw, "<<") && (in.Cmd == "RUN" || in.Cmd == "COPY") {
		return fmt.Errorf("%w: line %d: heredocs are not supported", ErrSyntax, line)
	}
	words := strings.Fields(in.Raw)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		in.Flags = append(in.Flags, words[0])
		words = words[1:]
	}
	body := strings.TrimSpace(strings.Join(words, " "))
	if strings.HasPrefix(body, "[") {
		if err := json.Unmarshal([]byte(body), &in.Args); err != nil {
			return fmt.Errorf("%w: line %d: %s: bad JSON form: %v", ErrSyntax, line, in.Cmd, err)
		}
		in.JSON = true
	} else {
		in.Args = words
	}
	switch {
	case in.Cmd == "FROM":
		s := &Stage{Line: line}
		switch {
		case len(in.Args) == 1:
		case len(in.Args) == 3 && strings.EqualFold(in.Args[1], "AS"):
			s.Name = strings.ToLower(in.Args[2])
			if f.Stage(s.Name) != nil {
				return fmt.Errorf("%w: line %d: stage %q defined twice", ErrSyntax, line, s.Name)
			}
		default:
			return fmt.Errorf("%w: line %d: FROM wants IMAGE [AS NAME], got %q", ErrSyntax, line, in.Raw)
		}
		s.Base = f.Expand(in.Args[0])
		f.Stages = append(f.Stages, s)
		return nil
	case len(f.Stages) == 0:
		if in.Cmd != "ARG" {
			return fmt.Errorf("%w: line %d: %s before the first FROM", ErrSyntax, line, in.Cmd)
		}
		for _, a := range in.Args {
			k, v, _ := strings.Cut(a, "=")
			f.Args[k] = v
		}
		return nil
	}
	s := f.Stages[len(f.Stages)-1]
	s.Instructions = append(s.Instructions, in)
	return nil
}

// checkBases rejects a stage whose base is a later stage or itself.
func (f *File) checkBases() error {
	for i, s := range f.Stages {
		for j := i; j < len(f.Stages); j++ {
			if f.Stages[j].Name != "" && f.Stages[j].Name == strings.ToLower(s.Base) {
				return fmt.Errorf("%w: line %d: stage %q is built on stage %q, which is not defined before it", ErrSyntax, s.Line, s.Name, s.Base)
			}
		}
	}
	return nil
}
