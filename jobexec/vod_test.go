package jobexec

import (
	"context"
	"io"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/attempt"
	"github.com/hlsfleet/hlsfleet/storage"
)

// TestSettle: a run that did not publish deletes what it wrote only when
// nothing can reach it, and reports an output that is published after all.
func TestSettle(t *testing.T) {
	const mine, other = "mmmmmmmmmm", "oooooooooo"
	master := func(id string) []byte {
		return []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/" + id + "/index.m3u8\n")
	}
	for _, tc := range []struct {
		name      string
		tryMaster bool   // the run tried the master's create
		stored    string // the attempt whose master is stored; "" none
		ok        bool   // settle reports a done event
		published bool
		kept      bool // the run's objects are still there
	}{
		{name: "failed before the master", kept: false},
		{name: "lost the master's create", tryMaster: true, stored: other, ok: true},
		{name: "create failed, master is ours", tryMaster: true, stored: mine, ok: true, published: true, kept: true},
		{name: "create failed, no master", tryMaster: true, kept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := storage.Open(ctx, "file://"+t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			sink := &StorageSink{Ctx: ctx, Bucket: b}
			name := attempt.ObjectName(mine)
			for _, n := range []string{"360p/seg_00000.ts", "360p/index.m3u8", "poster.jpg"} {
				w, err := sink.Create(name(n))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.WriteString(w, n)
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.stored != "" {
				if err := b.WriteAll(ctx, job.MasterName, master(tc.stored), storage.WriterOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tryMaster {
				if w, err := sink.Create(job.MasterName); err == nil {
					_ = w.Close() // fails with ErrExists when a master is stored
				}
				if tc.stored == "" {
					_ = b.Delete(ctx, job.MasterName) // as if the create had failed
				}
			}
			ev, ok := settle(ctx, b, sink, mine, zaptest.NewLogger(t))
			if ok != tc.ok || ev.Published != tc.published || (tc.stored != "" && ev.AttemptID != tc.stored) {
				t.Errorf("settle = %+v, %v; want ok %v, published %v, attempt %q", ev, ok, tc.ok, tc.published, tc.stored)
			}
			for _, n := range []string{"360p/" + mine + "/seg_00000.ts", mine + "/poster.jpg"} {
				if got, _ := b.Exists(ctx, n); got != tc.kept {
					t.Errorf("%s exists: %v, want %v", n, got, tc.kept)
				}
			}
		})
	}
}
