package lambda

import (
	"context"
	"encoding/json"
	"runtime"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/worker"
)

// Outputs is the worker's StorageOutputs (master.m3u8 is the publish
// point, job.json the status document) that can also read the status back,
// so that a duplicate event for a job already queued sends nothing.
type Outputs struct{ worker.StorageOutputs }

// ReadStatus reads <output>/job.json; false when absent or unreadable.
func (Outputs) ReadStatus(ctx context.Context, j *job.Job) (job.Status, bool) {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return job.Status{}, false
	}
	defer b.Close()
	data, err := b.ReadAll(ctx, job.StatusName)
	if err != nil {
		return job.Status{}, false
	}
	var st job.Status
	if json.Unmarshal(data, &st) != nil {
		return job.Status{}, false
	}
	return st, true
}

func numCPU() int { return runtime.NumCPU() }
