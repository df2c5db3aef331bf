package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

const ladderSynopsis = "ladder list | ladder show NAME|FILE [--source INPUT] [--json]"

func runLadder(args []string) error {
	if len(args) == 0 {
		return usageErr("%s", ladderSynopsis)
	}
	switch args[0] {
	case "list":
		return ladders.WritePresets(os.Stdout)
	case "show":
		return ladderShow(args[1:])
	case "-h", "--help", "help":
		fmt.Println("usage: hlsfleet " + ladderSynopsis)
		return nil
	}
	return usageErr("unknown ladder subcommand %q (%s)", args[0], ladderSynopsis)
}

func ladderShow(args []string) error {
	fs := flag.NewFlagSet("ladder show", flag.ContinueOnError)
	source := fs.String("source", "", "apply the ladder to this input and show the renditions it would get")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parseCommand(fs, args, "ladder show NAME|FILE [--source INPUT] [--json]", 1)
	if err != nil {
		return err
	}
	l, err := ladders.Load(pos[0])
	if err != nil {
		return err
	}
	if *source == "" {
		return printJSON(l)
	}
	in, err := localPath(*source)
	if err != nil {
		return err
	}
	if !isolate.InChild() {
		return runChild(isolate.Options{Args: append([]string{"ladder", "show"}, args...)}, "probing "+in)
	}
	info, err := pipeline.Probe(in, pipeline.Limits{})
	if err != nil {
		return fmt.Errorf("probing %s: %w", in, err)
	}
	if info.Video == nil {
		return fmt.Errorf("%w: %s has no video; it gets one audio rendition", pipeline.ErrNoStream, in)
	}
	outs, err := l.Select(pipeline.LadderSource(info.Video))
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(outs)
	}
	fmt.Printf("source: %dx%d displayed %dx%d, rotation %d, %s fps\n", info.Video.Width, info.Video.Height,
		info.Video.DisplayWidth, info.Video.DisplayHeight, info.Video.Rotation, info.Video.FrameRate)
	return ladders.WriteOutputs(os.Stdout, outs)
}
