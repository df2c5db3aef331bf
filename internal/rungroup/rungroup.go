// Package rungroup runs the long-lived parts of a command (worker, local,
// serve, scale) as github.com/oklog/run actors, stopped in stages, each
// logging its start and its stop.
//
// Each actor is an execute function and an interrupt function that makes
// execute return. The first actor to return stops the others, and Run
// returns only once every actor has returned: no part of the command
// outlives it.
//
// Actors stop in stages: the actors of a stage are interrupted together, and
// a stage only once every actor of the stages before it has stopped (the
// metrics keep serving while the worker drains). Every actor logs its start
// and its stop; the group logs which actor stopped it and, at the end, the
// order the actors stopped in.
package rungroup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	oklog "github.com/oklog/run"
	"go.uber.org/zap"
)

// Group is a staged group of actors. Make one with New, add its actors, and
// either Run it or, if the command fails before it runs, Release it (defer
// Release right after New: it does nothing once Run was called).
type Group struct {
	log   *zap.Logger
	g     oklog.Group
	names []string
	// stages[i] is done once every actor of stage i has returned; the last
	// one is the stage actors are added to now.
	stages []*sync.WaitGroup

	// unrun releases what the actors hold before they run (listeners,
	// signal channels); Release calls it if the group never runs (the
	// command failed while starting).
	unrun []func()
	ran   bool

	mu      sync.Mutex
	stopped []string // actors in the order they returned
	errs    []error  // what they returned, in that order
}

// New returns an empty group that logs to log.
func New(log *zap.Logger) *Group {
	return &Group{log: log, stages: []*sync.WaitGroup{{}}}
}

// NextStage begins a new stop stage: the actors added from now on are
// interrupted only once every actor added before has stopped.
func (g *Group) NextStage() {
	g.stages = append(g.stages, &sync.WaitGroup{})
}

// Add adds the actor name. execute runs it and returns when it is done or
// interrupt was called; interrupt must be safe to call after execute
// returned. An error from execute is an error of the command (Run returns
// it); an actor that stops as it was asked returns nil.
func (g *Group) Add(name string, execute func() error, interrupt func()) {
	earlier := g.stages[:len(g.stages)-1]
	mine := g.stages[len(g.stages)-1]
	mine.Add(1)
	g.names = append(g.names, name)
	g.g.Add(func() error {
		defer mine.Done()
		g.log.Info("actor started", zap.String("actor", name))
		err := execute()
		// Logged under the lock, so the stops are logged in the order
		// stop_order lists them.
		g.mu.Lock()
		defer g.mu.Unlock()
		first := len(g.stopped) == 0
		g.stopped = append(g.stopped, name)
		if err != nil {
			g.errs = append(g.errs, err)
			g.log.Error("actor stopped", zap.String("actor", name), zap.Error(err))
		} else {
			g.log.Info("actor stopped", zap.String("actor", name))
		}
		if first {
			g.log.Info("stopping every actor", zap.String("cause", name))
		}
		return err
	}, func(error) {
		for _, s := range earlier {
			s.Wait()
		}
		interrupt()
	})
}

// AddContext adds an actor that runs until its context is canceled (the
// interrupt).
func (g *Group) AddContext(name string, execute func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(name, func() error { return execute(ctx) }, cancel)
}

// AddSignals adds the actor "signals", which returns on SIGINT or SIGTERM:
// that is how a command is stopped from outside. setup is the command's
// signal.NotifyContext, which keeps the signals caught until the command
// returns: a signal that came while the command started (setup is done)
// stops the group as soon as it runs.
func (g *Group) AddSignals(setup context.Context) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM) // from now on, no signal is missed
	g.unrun = append(g.unrun, func() { signal.Stop(sigc) })
	g.AddContext("signals", func(ctx context.Context) error {
		defer signal.Stop(sigc)
		if setup.Err() != nil {
			g.log.Info("signal received while starting: stopping")
			return nil
		}
		select {
		case sig := <-sigc:
			g.log.Info("signal received: stopping", zap.Stringer("signal", sig))
		case <-ctx.Done():
		}
		return nil
	})
}

// AddTwoStage adds the actor name with a two-stage stop (river's Stop,
// then StopAndCancel): the interrupt cancels the context execute runs
// under, which begins a graceful stop (a worker stops receiving and lets its
// running jobs finish), and a SIGINT or SIGTERM that comes while execute is
// still stopping calls force, the second stage (a worker releases its
// running jobs at once). execute returns once it has stopped either way.
func (g *Group) AddTwoStage(name string, execute func(ctx context.Context) error, force func()) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(name, func() error {
		done := make(chan struct{})
		var second sync.WaitGroup
		second.Add(1)
		go func() {
			defer second.Done()
			onSecondSignal(ctx, done, force)
		}()
		err := execute(ctx)
		close(done)
		second.Wait()
		return err
	}, cancel)
}

// onSecondSignal calls force if SIGINT or SIGTERM comes once stopping
// (stopping is done) and before done is closed: the second stage of a
// two-stage shutdown. It returns once it called force or done is closed.
func onSecondSignal(stopping context.Context, done <-chan struct{}, force func()) {
	select {
	case <-stopping.Done():
	case <-done:
		return
	}
	second := make(chan os.Signal, 1)
	signal.Notify(second, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(second)
	select {
	case <-second:
		force()
	case <-done:
	}
}

// HTTPActor is an HTTP server run as an actor. Its listener is opened before
// the group runs, so an address in use fails the command before anything
// starts; a listener that fails later is reported by the actor.
type HTTPActor struct {
	Name     string
	Listener net.Listener
	Server   *http.Server
	// Grace is how long a stop waits for requests in flight (Shutdown)
	// before it closes what is left; 0 closes at once.
	Grace time.Duration
	// BeforeStop, when set, runs first on a stop (ending event streams,
	// which Shutdown would otherwise wait for).
	BeforeStop func()
	// Optional: a failure to serve is logged, and the command runs on
	// without this server; otherwise it is the command's error.
	Optional bool
}

// AddHTTP adds a as an actor. Release closes its listener if the group
// never runs.
func (g *Group) AddHTTP(a HTTPActor) {
	addr := a.Listener.Addr().String()
	g.unrun = append(g.unrun, func() { a.Listener.Close() })
	stopped := make(chan struct{})
	var once sync.Once
	g.Add(a.Name, func() error {
		g.log.Info(a.Name+" listening", zap.String("addr", addr))
		err := a.Server.Serve(a.Listener)
		if errors.Is(err, http.ErrServerClosed) {
			<-stopped // Shutdown has finished
			return nil
		}
		err = fmt.Errorf("%s on %s: %w", a.Name, addr, err)
		if a.Optional {
			g.log.Error(a.Name+" failed; running on without it", zap.Error(err))
			<-stopped
			return nil
		}
		return err
	}, func() {
		once.Do(func() {
			defer close(stopped)
			if a.BeforeStop != nil {
				a.BeforeStop()
			}
			if a.Grace > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), a.Grace)
				defer cancel()
				_ = a.Server.Shutdown(ctx)
			}
			a.Server.Close()
		})
	})
}

// Run runs every actor until the first returns, stops them all stage by
// stage, and returns what the actors returned (nil when every actor stopped
// as asked). One actor's error is returned as it is, so its class and text
// reach the command's exit code and last line; several are joined.
func (g *Group) Run() error {
	g.ran = true
	g.log.Info("starting actors", zap.Strings("actors", g.names))
	_ = g.g.Run() // the errors are collected in Add
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log.Info("every actor stopped", zap.Strings("stop_order", g.stopped))
	if len(g.errs) == 1 {
		return g.errs[0]
	}
	return errors.Join(g.errs...)
}

// Release lets go of what the actors of a group that never ran hold (the
// command failed before it started them); after Run it does nothing.
func (g *Group) Release() {
	if g.ran {
		return
	}
	for _, f := range g.unrun {
		f()
	}
}
