package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hlsfleet/hlsfleet/queue"
)

// dlqLease is how long a listing or redrive holds each dead letter it
// received from an SQS dead-letter queue (released at the end of a list).
const dlqLease = 2 * time.Minute

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
	var d deadLetters
	if strings.HasPrefix(qurl, "local://") {
		lq, err := queue.OpenLocal(strings.TrimPrefix(qurl, "local://"), queue.Options{})
		if err != nil {
			return fmt.Errorf("opening queue %s: %w", qurl, err)
		}
		defer lq.Close()
		d = localDLQ{lq}
	} else {
		c, err := queue.NewSQSClient(ctx)
		if err != nil {
			return err
		}
		dlqURL := *dlqFlag
		if dlqURL == "" {
			if dlqURL, err = dlqOf(ctx, c, qurl); err != nil {
				return err
			}
		}
		d = &sqsDLQ{src: queue.NewSQS(c, qurl, queue.Options{}), dlq: queue.NewSQS(c, dlqURL, queue.Options{})}
	}
	if sub == "list" {
		dls, err := d.list(ctx)
		if err != nil {
			return err
		}
		return printDeadLetters(os.Stdout, dls, *asJSON)
	}
	n, err := d.redrive(ctx, ids)
	fmt.Printf("redriven: %d\n", n)
	return err
}

// deadLetters is one driver's dead letters.
type deadLetters interface {
	list(ctx context.Context) ([]queue.DeadLetter, error)
	// redrive moves the dead letters with the given ids (all when ids is
	// empty) back to the queue and says how many it moved.
	redrive(ctx context.Context, ids []string) (int, error)
}

type localDLQ struct{ q *queue.Local }

func (l localDLQ) list(ctx context.Context) ([]queue.DeadLetter, error) { return l.q.DeadLetters(ctx) }

func (l localDLQ) redrive(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return l.q.RedriveAll(ctx)
	}
	n := 0
	for _, id := range ids {
		if err := l.q.Redrive(ctx, id); err != nil {
			if errors.Is(err, queue.ErrNotFound) {
				err = fmt.Errorf("%w: %v", errUsage, err)
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// dlqOf finds a queue's dead-letter queue from its RedrivePolicy.
func dlqOf(ctx context.Context, c *sqs.Client, qurl string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(qurl), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return "", fmt.Errorf("reading the RedrivePolicy of %s: %w", qurl, err)
	}
	var rp struct {
		Target string `json:"deadLetterTargetArn"`
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" || json.Unmarshal([]byte(raw), &rp) != nil || rp.Target == "" {
		return "", usageErr("%s has no RedrivePolicy naming a dead-letter queue: pass --dlq URL", qurl)
	}
	name := rp.Target[strings.LastIndex(rp.Target, ":")+1:]
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("finding the dead-letter queue %s: %w", name, err)
	}
	return aws.ToString(u.QueueUrl), nil
}

// sqsDLQ reads an SQS dead-letter queue by receiving from it. SQS has no
// peek: a listing leases each message and releases it at the end. A FIFO
// dead-letter queue shows only the first message of each group until that
// one is redriven.
type sqsDLQ struct{ src, dlq *queue.SQS }

// each receives every message of the DLQ once (a message seen twice, its
// lease having run out, is released at once) and calls fn, which says
// whether it consumed the message; the others are released at the end.
func (s *sqsDLQ) each(ctx context.Context, fn func(m queue.Message) (bool, error)) error {
	seen := map[string]bool{}
	var keep []queue.Message
	defer func() {
		for _, m := range keep {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_ = s.dlq.Release(rctx, m, 0)
			cancel()
		}
	}()
	for {
		msgs, err := s.dlq.Receive(ctx, queue.MaxBatch, time.Second, dlqLease)
		if err != nil {
			return fmt.Errorf("receiving from %s: %w", s.dlq.URL(), err)
		}
		if len(msgs) == 0 {
			return nil
		}
		fresh := 0
		for _, m := range msgs {
			if seen[m.ID] {
				keep = append(keep, m)
				continue
			}
			seen[m.ID] = true
			fresh++
			used, err := fn(m)
			if err != nil {
				keep = append(keep, m)
				return err
			}
			if !used {
				keep = append(keep, m)
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}

func (s *sqsDLQ) list(ctx context.Context) ([]queue.DeadLetter, error) {
	var out []queue.DeadLetter
	err := s.each(ctx, func(m queue.Message) (bool, error) {
		out = append(out, queue.DeadLetterOf(m))
		return false, nil
	})
	return out, err
}

// redrive sends each chosen dead letter back to the source queue (body,
// group and attributes as first sent, without the dead-letter reason), then
// deletes it from the DLQ: at least once, so a failure in between leaves a
// duplicate, which the workers' idempotency absorbs, never a loss. (SQS's
// StartMessageMoveTask moves all or nothing and is not on every emulator.)
func (s *sqsDLQ) redrive(ctx context.Context, ids []string) (int, error) {
	want := map[string]bool{} // ids asked for; none: all
	for _, id := range ids {
		want[id] = true
	}
	missing := maps.Clone(want)
	done := map[string]bool{} // original ids sent back in this run
	n := 0
	err := s.each(ctx, func(m queue.Message) (bool, error) {
		d := queue.DeadLetterOf(m)
		if len(ids) > 0 && !want[d.ID] && !want[m.ID] {
			return false, nil
		}
		if done[d.ID] {
			return false, nil // dead-lettered again since we sent it back: leave it
		}
		if err := queue.SendBack(ctx, s.src, s.dlq, m); err != nil {
			return true, err
		}
		done[d.ID] = true
		delete(missing, d.ID)
		delete(missing, m.ID)
		n++
		return true, nil
	})
	if err == nil && len(missing) > 0 {
		err = usageErr("no dead letter with id %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
	}
	return n, err
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
