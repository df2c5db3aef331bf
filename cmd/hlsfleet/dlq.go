package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hlsfleet/hlsfleet/queue"
)

func runDLQ(args []string) error {
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	qflag := fs.String("queue", "", "the jobs queue: an SQS queue URL or local:///dir")
	dlqFlag := fs.String("dlq", "", "SQS: the dead-letter queue URL (default: from the queue's RedrivePolicy)")
	asJSON := fs.Bool("json", false, "list: one JSON object a line")
	all := fs.Bool("all", false, "redrive: every dead letter")
	pos, err := parseCommand(fs, args, "dlq list|redrive --queue URL [--dlq URL] [--json] [--all | ID...]", -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("hlsfleet dlq list|redrive --queue URL [--dlq URL] [--json] [--all | ID...]")
	}
	sub, ids := pos[0], pos[1:]
	switch sub {
	case "list":
		if len(ids) > 0 || *all {
			return usageErr("dlq list takes no ids and no --all")
		}
	case "redrive":
		if *all == (len(ids) > 0) {
			return usageErr("dlq redrive needs --all or message ids (not both)")
		}
	default:
		return usageErr("unknown dlq command %q: want list or redrive", sub)
	}
	qurl, err := queueURL(*qflag)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: *dlqFlag})
	if err != nil {
		return fmt.Errorf("opening queue %s: %w", qurl, err)
	}
	defer q.Close()
	d, ok := q.(queue.DeadLetterStore)
	if !ok {
		return usageErr("%s keeps no dead letters", qurl)
	}
	if sub == "list" {
		dls, err := d.ListDeadLetters(ctx, 0)
		if err != nil {
			return dlqErr(qurl, err)
		}
		return queue.WriteDeadLetters(os.Stdout, dls, *asJSON)
	}
	var n int
	if *all {
		n, err = d.RedriveAll(ctx)
	} else {
		n, err = d.Redrive(ctx, ids...)
	}
	if errors.Is(err, queue.ErrNoDeadLetterQueue) {
		return dlqErr(qurl, err)
	}
	fmt.Printf("redriven: %d\n", n)
	return dlqErr(qurl, err)
}

// dlqErr says what a user can do about a dead-letter error: an id that
// names no dead letter, or a queue with no dead-letter queue, is a usage
// error.
func dlqErr(qurl string, err error) error {
	switch {
	case errors.Is(err, queue.ErrNoDeadLetterQueue):
		return usageErr("%s has no RedrivePolicy naming a dead-letter queue: pass --dlq URL", qurl)
	case errors.Is(err, queue.ErrNotFound):
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}
