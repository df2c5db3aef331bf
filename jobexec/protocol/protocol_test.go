package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
)

// envRole makes the test binary, started as a child, play one child's part.
const envRole = "PROTOCOL_TEST_CHILD"

var errBadInput = fault.New(fault.Input, "input is not a media file")

// TestMain runs the child's end when started as one: it reads its request,
// writes events with protocol.Writer and exits with protocol.ExitCode, as
// `hlsfleet job-exec` does.
func TestMain(m *testing.M) {
	role := os.Getenv(envRole)
	if role == "" {
		os.Exit(m.Run())
	}
	body, _ := io.ReadAll(os.Stdin)
	w := protocol.NewWriter(os.Stdout)
	var err error
	switch role {
	case "done":
		w.Progress(1, 4)
		w.Progress(2, 4) // throttled: within 500 ms of the first
		err = w.Write(protocol.Event{Event: protocol.EventDone, Published: true, BytesOut: int64(len(body)),
			Extras: job.Extras{Poster: job.PosterName}})
	case "input":
		err = fmt.Errorf("job x: %w: at byte 9", errBadInput)
	case "transient":
		err = errors.New("storage unreachable")
	case "infra":
		err = fmt.Errorf("writing 720p/seg_00001.ts: %w", errDown)
	case "silent":
	case "crash":
		_ = syscall.Kill(os.Getpid(), syscall.SIGSEGV)
		time.Sleep(time.Second)
	}
	if err != nil {
		if role != "transient" { // a child without the failed event is an older one
			_ = w.Fail(err)
		}
		fmt.Fprintf(os.Stderr, "some log line\nhlsfleet: %v\n", err)
	}
	os.Exit(protocol.ExitCode(err))
}

var errDown = fault.New(fault.Infra, "storage unavailable")

var errChildCrashed = fault.New(fault.Crashed, "test child crashed")

func child(role string) protocol.Child {
	return protocol.Child{Name: "test process", Crashed: errChildCrashed, Options: isolate.Options{
		Exe: os.Args[0], Env: []string{envRole + "=" + role}, Stderr: io.Discard,
	}}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, protocol.ExitOK},
		{errBadInput, protocol.ExitInput},
		{fmt.Errorf("job: %w", job.ErrPermanent), protocol.ExitInput},
		{errChildCrashed, protocol.ExitOther},
		{errors.New("x"), protocol.ExitOther},
	} {
		if got := protocol.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Both ends together: what the child meant is what the parent gets.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	var progress []protocol.Event
	done, err := child("done").RunJob(ctx, []byte("12345"), func(ev protocol.Event) { progress = append(progress, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if !done.Published || done.BytesOut != 5 || done.Poster != job.PosterName {
		t.Errorf("done event %+v", done)
	}
	if len(progress) != 1 || progress[0].Percent != 25 || progress[0].MediaSeconds != 1 {
		t.Errorf("progress %+v, want one event at 25%% (the second throttled)", progress)
	}

	_, err = child("input").RunJob(ctx, nil, nil)
	if fault.Of(err) != fault.Input || !errors.Is(err, job.ErrPermanent) {
		t.Fatalf("input fault came back as %v (class %v)", err, fault.Of(err))
	}
	if !strings.HasSuffix(err.Error(), "job x: input is not a media file: at byte 9") {
		t.Errorf("the reason is the child's last line: %q", err)
	}

	_, err = child("transient").RunJob(ctx, nil, nil)
	if fault.Of(err) != fault.Transient || !strings.Contains(err.Error(), "test process failed (exit 1): storage unreachable") {
		t.Errorf("transient came back as %v (class %v)", err, fault.Of(err))
	}

	// An infrastructure fault exits 1 like any other; the failed event
	// carries its class across.
	_, err = child("infra").RunJob(ctx, nil, nil)
	if fault.Of(err) != fault.Infra || !strings.Contains(err.Error(), "(exit 1): writing 720p/seg_00001.ts: storage unavailable") {
		t.Errorf("infrastructure fault came back as %v (class %v)", err, fault.Of(err))
	}
	if code := protocol.ExitCode(errDown); code != protocol.ExitOther {
		t.Errorf("ExitCode(infrastructure) = %d, want %d", code, protocol.ExitOther)
	}

	_, err = child("crash").RunJob(ctx, nil, nil)
	if fault.Of(err) != fault.Crashed || !errors.Is(err, errChildCrashed) {
		t.Errorf("crash came back as %v (class %v)", err, fault.Of(err))
	}

	if _, err = child("silent").RunJob(ctx, nil, nil); err == nil || !strings.Contains(err.Error(), "without reporting a result") {
		t.Errorf("exit 0 without a done event: %v", err)
	}
	if err := child("silent").Wait(ctx); err != nil {
		t.Errorf("Wait on exit 0: %v", err)
	}
}
