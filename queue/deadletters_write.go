package queue

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteDeadLetters writes a listing of dead letters (`hlsfleet dlq list`):
// a table (ID, receives, when dead-lettered, the job, the reason) and a
// count line, or with asJSON one JSON object a line (id, reason,
// dead_lettered_at, receive_count, group_id, attributes, body).
func WriteDeadLetters(w io.Writer, dls []DeadLetter, asJSON bool) error {
	if asJSON {
		return writeDeadLettersJSON(w, dls)
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

// writeDeadLettersJSON writes one JSON object a line.
func writeDeadLettersJSON(w io.Writer, dls []DeadLetter) error {
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

// oneLine folds s's whitespace runs into single spaces and cuts it after n
// bytes (adding "...").
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
