package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// parseInterspersed parses flags that may come before, between or after the
// positional arguments, and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// errHelpShown says usage was printed on request; the command ends with 0.
var errHelpShown = errors.New("help shown")

// parseCommand parses flags and checks the number of positional arguments
// (want < 0: any). -h/--help prints the usage and returns errHelpShown.
func parseCommand(fs *flag.FlagSet, args []string, synopsis string, want int) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) || containsHelp(args) {
		fmt.Print(flagUsage(fs, synopsis))
		return nil, errHelpShown
	}
	if err != nil {
		return nil, err
	}
	if want >= 0 && len(pos) != want {
		return nil, usageErr("hlsfleet %s", synopsis)
	}
	return pos, nil
}

func containsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// localPath resolves a command-line location to a local path. Plain paths
// and file:// URLs are local; other schemes are refused here.
func localPath(loc string) (string, error) {
	if !strings.Contains(loc, "://") {
		return filepath.Clean(loc), nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", usageErr("bad location %q: %v", loc, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", usageErr("file URL %q names a host; use file:///path", loc)
		}
		return filepath.Clean(u.Path), nil
	default:
		return "", usageErr("%s:// locations are not supported by this command yet (use a local path or file://)", u.Scheme)
	}
}

func flagUsage(fs *flag.FlagSet, synopsis string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: hlsfleet %s\n", synopsis)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set adds one value.
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
