package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

func runProbe(args []string) error {
	for _, a := range args {
		if a == "--accel" || a == "-accel" || strings.HasPrefix(a, "--accel=") {
			return runProbeAccel(args)
		}
	}
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	maxDur := fs.Float64("max-duration", pipeline.DefaultMaxDuration, "refuse inputs longer than this many seconds")
	noIsolate := fs.Bool("no-isolate", false, "run libav in this process instead of a child (debugging)")
	pos, err := parseCommand(fs, args, "probe INPUT", 1)
	if err != nil {
		return err
	}
	in, err := localPath(pos[0])
	if err != nil {
		return err
	}
	if !isolate.InChild() && !*noIsolate {
		return runChild(isolate.Options{Args: append([]string{"probe"}, args...)}, "probing "+in)
	}
	info, err := pipeline.Probe(in, pipeline.Limits{MaxDuration: *maxDur})
	if err != nil {
		return fmt.Errorf("probing %s: %w", in, err)
	}
	return printJSON(info)
}
