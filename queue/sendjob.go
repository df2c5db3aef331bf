package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/hlsfleet/hlsfleet/job"
)

// maxDedupID is the longest deduplication id SQS takes.
const maxDedupID = 128

// SendJob sends j (validated by j.Marshal) to q and returns the message id
// (for a deduplicated send, the first message's id). It is the one way a
// job goes onto a queue, so every sender gives a FIFO queue the same ids:
//
//   - a live-segment job goes in its stream's group (job.LiveGroup), with
//     the stream and sequence as its deduplication id (job.LiveDedupID),
//     so a segment that reaches the queue twice (the Lambda and a worker's
//     forwarding, or a retried send) runs once and in order;
//   - any other job is unordered (no group: on an SQS FIFO queue the driver
//     gives it a group of its own) and is deduplicated by its job id
//     ("job:" + ID, which no live id can equal), so a retried send of the
//     same job adds nothing within the 5-minute window while a new job for
//     the same source and output always goes through.
func SendJob(ctx context.Context, q Queue, j *job.Job) (string, error) {
	body, err := j.Marshal()
	if err != nil {
		return "", err
	}
	return q.Send(ctx, body, jobSendOptions(j))
}

// jobSendOptions are the group and deduplication ids SendJob gives j.
func jobSendOptions(j *job.Job) SendOptions {
	if g := j.LiveGroup(); g != "" {
		return SendOptions{GroupID: g, DedupID: j.LiveDedupID()}
	}
	id := "job:" + j.ID
	if len(id) > maxDedupID {
		sum := sha256.Sum256([]byte(j.ID))
		id = "job:" + hex.EncodeToString(sum[:])
	}
	return SendOptions{DedupID: id}
}
