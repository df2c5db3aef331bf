package rungroup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observed returns a logger whose entries the test can read.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// actorLog lists the actors named by the entries with message msg, in order.
func actorLog(logs *observer.ObservedLogs, msg string) []string {
	var names []string
	for _, e := range logs.FilterMessage(msg).All() {
		names = append(names, e.ContextMap()["actor"].(string))
	}
	return names
}

// runWithin runs g and fails the test if it does not return within d.
func runWithin(t *testing.T, g *Group, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("the run group did not return within %v", d)
		return nil
	}
}

// An HTTP listener that fails while the group runs is the group's error: it
// stops every actor, stage by stage, and the stop order is logged.
func TestRunGroupListenerFailureStopsEveryActor(t *testing.T) {
	log, logs := observed()
	g := New(log)
	var drained sync.WaitGroup
	drained.Add(1)
	g.AddContext("inbox watcher", func(ctx context.Context) error { <-ctx.Done(); return nil })
	g.AddContext("worker", func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // draining
		drained.Done()
		return nil
	})
	g.NextStage()
	lifecycleStopped := false
	g.AddContext("lifecycle controller", func(ctx context.Context) error {
		<-ctx.Done()
		drained.Wait() // interrupted only once the worker has drained
		lifecycleStopped = true
		return nil
	})
	g.NextStage()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the listener breaks: Serve fails at its first Accept
	g.AddHTTP(HTTPActor{Name: "metrics", Listener: ln, Server: &http.Server{}})

	err = runWithin(t, g, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "metrics on 127.0.0.1:") {
		t.Fatalf("run returned %v, want the metrics listener's failure", err)
	}
	if !lifecycleStopped {
		t.Error("the lifecycle controller did not stop")
	}
	started, stopped := actorLog(logs, "actor started"), actorLog(logs, "actor stopped")
	slices.Sort(started)
	want := []string{"inbox watcher", "lifecycle controller", "metrics", "worker"}
	if !slices.Equal(started, want) {
		t.Errorf("actors started %v, want %v", started, want)
	}
	// metrics failed first; the first stage stops together, then the
	// lifecycle controller.
	if len(stopped) != 4 || stopped[0] != "metrics" || stopped[3] != "lifecycle controller" ||
		!slices.Contains(stopped[1:3], "worker") || !slices.Contains(stopped[1:3], "inbox watcher") {
		t.Errorf("stop order %v: want metrics (the cause), the first stage, then the lifecycle controller", stopped)
	}
	if e := logs.FilterMessage("stopping every actor").All(); len(e) != 1 || e[0].ContextMap()["cause"] != "metrics" {
		t.Errorf("the cause of the stop is not logged as metrics: %v", e)
	}
	e := logs.FilterMessage("every actor stopped").All()
	if len(e) != 1 {
		t.Fatalf("%d 'every actor stopped' entries, want 1", len(e))
	}
	if order, _ := e[0].ContextMap()["stop_order"].([]any); len(order) != 4 || order[0] != "metrics" {
		t.Errorf("stop_order %v, want the four actors with metrics first", e[0].ContextMap()["stop_order"])
	}
	for _, e := range logs.FilterMessage("actor stopped").All() {
		m := e.ContextMap()
		if _, failed := m["error"]; failed != (m["actor"] == "metrics") || failed && e.Level != zapcore.ErrorLevel {
			t.Errorf("actor stopped: %v at %v; want an error (at level error) for metrics only", m, e.Level)
		}
	}
}

// An optional server's failure is logged and the others run on; the group's
// stop then stops it too, and the run is not failed.
func TestRunGroupOptionalListener(t *testing.T) {
	log, logs := observed()
	g := New(log)
	stop := make(chan struct{})
	g.Add("worker", func() error { <-stop; return nil }, func() {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	g.AddHTTP(HTTPActor{Name: "metrics", Listener: ln, Server: &http.Server{}, Optional: true})
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for logs.FilterMessage("metrics failed; running on without it").Len() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
	}()
	if err := runWithin(t, g, 10*time.Second); err != nil {
		t.Fatalf("run returned %v, want nil (the metrics are optional)", err)
	}
	if got := actorLog(logs, "actor stopped"); !slices.Equal(got, []string{"worker", "metrics"}) {
		t.Errorf("stop order %v, want the worker (the cause) then metrics", got)
	}
}

// A server stopped by the group shuts down gracefully: a stop waits for the
// request in flight, and beforeStop runs first.
func TestRunGroupHTTPGracefulStop(t *testing.T) {
	log, _ := observed()
	g := New(log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inFlight, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		_, _ = w.Write([]byte("done"))
	})}
	ended := false
	g.AddHTTP(HTTPActor{Name: "dashboard", Listener: ln, Server: srv, Grace: 5 * time.Second,
		BeforeStop: func() { ended = true; close(release) }})
	g.Add("stopper", func() error { <-inFlight; return nil }, func() {})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b := make([]byte, 4)
		n, _ := resp.Body.Read(b)
		got <- string(b[:n])
	}()
	if err := runWithin(t, g, 10*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !ended {
		t.Error("beforeStop did not run")
	}
	if body := <-got; body != "done" {
		t.Errorf("the request in flight got %q, want its answer", body)
	}
}

// A group that never runs closes the listeners of its HTTP actors.
func TestRunGroupReleaseClosesListeners(t *testing.T) {
	log, _ := observed()
	g := New(log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.AddHTTP(HTTPActor{Name: "metrics", Listener: ln, Server: &http.Server{}})
	g.Release()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after release: %v, want net.ErrClosed", err)
	}
}

// Actors that stop at the same moment are logged in the order stop_order
// lists them (the subprocess tests compare the two).
func TestRunGroupStopOrderMatchesLog(t *testing.T) {
	for range 20 {
		log, logs := observed()
		g := New(log)
		for i := range 16 {
			g.AddContext(fmt.Sprint("actor ", i), func(ctx context.Context) error { <-ctx.Done(); return nil })
		}
		g.Add("cause", func() error { return nil }, func() {})
		if err := runWithin(t, g, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		e := logs.FilterMessage("every actor stopped").All()
		if len(e) != 1 {
			t.Fatalf("%d 'every actor stopped' entries, want 1", len(e))
		}
		logged := actorLog(logs, "actor stopped")
		if got := fmt.Sprint(e[0].ContextMap()["stop_order"]); got != fmt.Sprint(logged) {
			t.Fatalf("stop_order %v, but the stops were logged as %v", got, logged)
		}
	}
}

// A two-stage actor stopped by another actor gets its context canceled and
// returns; force is not called without a second signal.
func TestRunGroupTwoStageGracefulStop(t *testing.T) {
	log, _ := observed()
	g := New(log)
	forced := false
	g.AddTwoStage("worker", func(ctx context.Context) error { <-ctx.Done(); return nil }, func() { forced = true })
	g.Add("cause", func() error { return nil }, func() {})
	if err := runWithin(t, g, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if forced {
		t.Error("force was called with no second signal")
	}
}

// A signal stops the group; a second one while the two-stage actor is still
// stopping calls its force, after which it returns.
func TestRunGroupTwoStageSecondSignal(t *testing.T) {
	setup, stop := signal.NotifyContext(context.Background(), syscall.SIGINT) // keeps SIGINT caught throughout
	defer stop()
	log, _ := observed()
	g := New(log)
	g.AddSignals(setup)
	forced := make(chan struct{})
	var once sync.Once
	g.AddTwoStage("worker", func(ctx context.Context) error {
		<-ctx.Done()
		select {
		case <-forced:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("no second stage")
		}
	}, func() { once.Do(func() { close(forced) }) })
	// Signal until force is called: a signal that comes before the actor is
	// stopping is the first stage's (or lost to the setup context). The
	// sender ends before stop lets SIGINT kill the process again.
	quit := make(chan struct{})
	var sender sync.WaitGroup
	sender.Add(1)
	defer func() { close(quit); sender.Wait() }()
	go func() {
		defer sender.Done()
		for {
			_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
			select {
			case <-forced:
				return
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	if err := runWithin(t, g, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}
