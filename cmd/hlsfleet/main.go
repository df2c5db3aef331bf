// Command hlsfleet transcodes media into HLS ladders, alone or as a fleet.
//
// Exit codes, for every subcommand: 0 done; 2 the input (or the request) is
// at fault and retrying will not help; 1 anything else. On failure the last
// line on stderr is "hlsfleet: <what went wrong>".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
)

// Exit codes (jobexec/protocol maps error classes to them for every command
// and child process).
const (
	exitOK    = protocol.ExitOK
	exitOther = protocol.ExitOther
	exitInput = protocol.ExitInput
)

// errUsage marks a request that is malformed: a permanent fault like a bad input.
var errUsage = fault.New(fault.Input, "usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

type command struct {
	name, summary string
	run           func(args []string) error
}

func commands() []command {
	return []command{
		{"transcode", "transcode INPUT into an HLS ladder at OUTPUT", runTranscode},
		{"probe", "describe a media file as JSON", runProbe},
		{"ladder", "list ladders or show one, optionally applied to a source", runLadder},
		{"serve", "serve a directory of HLS outputs with a player page, or the fleet dashboard (--output), on 127.0.0.1", runServe},
		{"worker", "process jobs from a queue (SQS or local) into storage", runWorker},
		{"submit", "put a transcode job on a queue; --wait follows it", runSubmit},
		{"scale", "show the capacity the queue backlog needs; --apply, --publish, --simulate", runScale},
		{"dlq", "list dead letters with their reasons, or redrive them to the queue", runDLQ},
		{"local", "the whole fleet on this machine: local queue, file storage, inbox folder", runLocal},
		{"live", "live push: cut INPUT into live source segments at real-time pace (an ingest stand-in)", runLive},
		{"job-exec", "(internal) run one job read as JSON from stdin; used by workers", runJobExec},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) (code int) {
	defer func() {
		// A Go panic would exit 2, the code for a bad input; it is our bug.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "hlsfleet: internal error: %v\n", r)
			code = exitOther
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return exitInput
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:])
			return report(err, stderr)
		}
	}
	printUsage(stderr)
	return report(usageErr("unknown command %q", args[0]), stderr)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: hlsfleet <command> [flags] [args]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// exitError carries an exit code decided elsewhere (a child process).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// runChild runs this command again in a child process (internal/isolate),
// signals forwarded, so that libav may crash there and not here: a child
// that exits non-zero printed its own last line and its code becomes this
// process's; one that could not run or crashed is an error under what.
func runChild(opts isolate.Options, what string) error {
	opts.ForwardSignals = true
	res, err := isolate.Run(context.Background(), opts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if res.ExitCode != 0 {
		return &exitError{code: res.ExitCode}
	}
	return nil
}

// printJSON writes v to stdout as indented JSON.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints the one-line error and returns the exit code for err.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code // the child already printed its line
	}
	fmt.Fprintf(stderr, "hlsfleet: %v\n", err)
	return protocol.ExitCode(err)
}
