package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// observe lists the output at url and reads its master.m3u8, job.json and
// every media playlist (the bytes the checks need), straight from the
// bucket.
func observe(ctx context.Context, url string) Observed {
	o := Observed{Objects: map[string]storage.Attrs{}, Files: map[string][]byte{}}
	b, err := storage.Open(ctx, url)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	defer b.Close()
	objs, err := b.List(ctx, "")
	if err != nil {
		o.Err = err.Error()
		return o
	}
	for _, a := range objs {
		o.Objects[a.Key] = a
		if a.Key != job.StatusName && !strings.HasSuffix(a.Key, ".m3u8") {
			continue
		}
		data, err := b.ReadAll(ctx, a.Key)
		if err != nil {
			o.Err = fmt.Sprintf("reading %s: %v", a.Key, err)
			return o
		}
		o.Files[a.Key] = data
	}
	return o
}

// observeAll observes every output the submissions name, with the watcher's
// listing at publish.
func observeAll(ctx context.Context, subs []Submission, w *watcher) map[string]Observed {
	obs := map[string]Observed{}
	for _, s := range subs {
		if s.Sent && s.Output != "" {
			if _, ok := obs[s.Output]; !ok {
				o := observe(ctx, s.Output)
				o.AtPublish = w.atPublish(s.Output)
				obs[s.Output] = o
			}
		}
	}
	return obs
}

// hlsCheck downloads up to limit published good outputs (all: limit < 0)
// under dir and validates each with internal/hlscheck, recording what it
// finds in the observation's Invalid. It returns how many it checked.
func hlsCheck(ctx context.Context, dir string, subs []Submission, clips []clip, obs map[string]Observed, limit int) (int, error) {
	checked := 0
	done := map[string]bool{}
	for _, s := range subs {
		o, ok := obs[s.Output]
		if checked == limit || !s.Sent || !s.Kind.Good() || done[s.Output] || !ok || o.Err != "" {
			continue
		}
		if _, pub := o.Objects[job.MasterName]; !pub {
			continue
		}
		done[s.Output] = true
		local := filepath.Join(dir, fmt.Sprintf("out-%03d", s.N))
		if err := download(ctx, s.Output, local, o); err != nil {
			return checked, err
		}
		c := clips[s.Clip]
		if _, err := hlscheck.Check(local, hlscheck.Options{SourceWidth: c.Width, SourceHeight: c.Height,
			SourceDuration: c.Seconds, ExpectAudio: true, ExpectVideo: true}); err != nil {
			o.Invalid = oneLine(err.Error())
			obs[s.Output] = o
		}
		checked++
		_ = os.RemoveAll(local)
	}
	return checked, nil
}

// download copies every object of the output at url to dir.
func download(ctx context.Context, url, dir string, o Observed) error {
	b, err := storage.Open(ctx, url)
	if err != nil {
		return err
	}
	defer b.Close()
	for key := range o.Objects {
		dst := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := b.Download(ctx, key, dst); err != nil {
			return err
		}
	}
	return nil
}

// deadLetters lists the whole dead-letter queue.
func deadLetters(ctx context.Context, q queue.Queue) ([]queue.DeadLetter, error) {
	ds, ok := q.(queue.DeadLetterStore)
	if !ok {
		return nil, fmt.Errorf("queue %T keeps no dead letters", q)
	}
	return ds.ListDeadLetters(ctx, 0)
}

// MessageLog is what the workers' logs tell of one message.
type MessageLog struct {
	// Receives is the highest receive count a line about it carries: how
	// often it was received (a receive a worker died before logging is
	// missed).
	Receives int
	// LastError is the latest warning or error about it: what went wrong
	// ("checking for a published output failed; releasing: storage: ...").
	LastError string
	lastAt    string // the LastError line's ts (ISO 8601, so it sorts)
}

// messageLogs reads the workers' JSON log lines: every line about a message
// carries its id and receive count ("message_id", "attempt").
func messageLogs(logs []string) (map[string]MessageLog, error) {
	msgs := map[string]MessageLog{}
	for _, path := range logs {
		if err := scanLog(path, msgs); err != nil {
			return msgs, err
		}
	}
	return msgs, nil
}

func scanLog(path string, msgs map[string]MessageLog) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"message_id"`) {
			continue
		}
		var l struct {
			ID      string  `json:"message_id"`
			Attempt float64 `json:"attempt"`
			Level   string  `json:"level"`
			TS      string  `json:"ts"`
			Msg     string  `json:"msg"`
			Error   string  `json:"error"`
		}
		if json.Unmarshal(line, &l) != nil || l.ID == "" {
			continue
		}
		m := msgs[l.ID]
		m.Receives = max(m.Receives, int(l.Attempt))
		if (l.Level == "warn" || l.Level == "error") && l.Error != "" && l.TS >= m.lastAt {
			m.LastError, m.lastAt = oneLine(l.Msg+": "+l.Error), l.TS
		}
		msgs[l.ID] = m
	}
	return sc.Err()
}

// watcher looks at every output of good work every few seconds until its
// master appears, and then keeps the output's listing as it was at that
// moment: the end compares the objects the master reaches with it by ETag,
// which catches a rewrite that modification times (whole seconds on the S3
// peer) cannot.
type watcher struct {
	mu    sync.Mutex
	first map[string]map[string]storage.Attrs // output → its listing when the master was first seen
}

func newWatcher() *watcher { return &watcher{first: map[string]map[string]storage.Attrs{}} }

// run looks every `every` until ctx ends; outputs returns the outputs to
// watch.
func (w *watcher) run(ctx context.Context, every time.Duration, outputs func() []string) {
	for {
		for _, out := range outputs() {
			if ctx.Err() != nil {
				return
			}
			if w.seen(out) {
				continue
			}
			if l, ok := publishedListing(ctx, out); ok {
				w.mu.Lock()
				w.first[out] = l
				w.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (w *watcher) seen(out string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[out] != nil
}

// atPublish returns out's listing when its master was first seen, or nil.
func (w *watcher) atPublish(out string) map[string]storage.Attrs {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[out]
}

// publishedListing lists out when it has a master.
func publishedListing(ctx context.Context, out string) (map[string]storage.Attrs, bool) {
	b, err := storage.Open(ctx, out)
	if err != nil {
		return nil, false
	}
	defer b.Close()
	if ok, err := b.Exists(ctx, job.MasterName); err != nil || !ok {
		return nil, false
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		return nil, false
	}
	l := make(map[string]storage.Attrs, len(objs))
	for _, a := range objs {
		l[a.Key] = a
	}
	_, ok := l[job.MasterName]
	return l, ok
}
