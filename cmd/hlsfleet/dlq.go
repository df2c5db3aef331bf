package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

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
		return printDeadLetters(os.Stdout, dls, *asJSON)
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

// printDeadLetters writes a table (or JSON lines) of dead letters.
func printDeadLetters(w io.Writer, dls []queue.DeadLetter, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range dls {
			var at *time.Time
			if !d.At.IsZero() {
				at = &d.At
			}
			if err := enc.Encode(struct {
				ID           string            `json:"id"`
				Reason       string            `json:"reason"`
				At           *time.Time        `json:"dead_lettered_at,omitempty"`
				ReceiveCount int               `json:"receive_count"`
				GroupID      string            `json:"group_id,omitempty"`
				Attributes   map[string]string `json:"attributes,omitempty"`
				Body         string            `json:"body"`
			}{d.ID, d.Reason, at, d.ReceiveCount, d.GroupID, d.Attributes, string(d.Body)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVES\tDEAD-LETTERED\tJOB\tREASON")
	for _, d := range dls {
		at := "-"
		if !d.At.IsZero() {
			at = d.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", d.ID, d.ReceiveCount, at, jobSummary(d.Body), oneLine(d.Reason, 200))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d dead letters\n", len(dls))
	return nil
}

// jobSummary names the job in a message body: "ID SOURCE" for a job, the
// first bytes otherwise.
func jobSummary(body []byte) string {
	var j struct {
		ID     string `json:"id"`
		Source string `json:"source"`
	}
	if json.Unmarshal(body, &j) == nil && j.ID != "" {
		return j.ID + " " + j.Source
	}
	return oneLine(string(body), 60)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
