// Package fault is hlsfleet's one error model. Every error the fleet acts on
// belongs to a Class, and the Class alone decides what happens next: the
// exit code of a command, whether a worker retries, releases or
// dead-letters a message, and the reason recorded in job.json and the
// dead-letter queue.
//
// Packages declare their sentinels with New (a class and a message) or
// Under (a more specific sentinel below another one), so errors.Is keeps
// working on each sentinel while Of classifies any error that wraps one:
//
//	var ErrNotMedia = fault.New(fault.Input, "input is not a media file")
//	...
//	fault.Of(fmt.Errorf("job %s: %w", id, ErrNotMedia)) == fault.Input
//
// An error that carries no class is Transient: unknown failures are retried
// with backoff, and the queue's maximum receive count ends a retry storm.
//
// This package is a leaf: it imports nothing of hlsfleet, so every package,
// pure Go or cgo, can speak it.
package fault

import (
	"errors"
	"fmt"
)

// Class is what kind of failure an error is, and so what to do about it.
type Class uint8

// The classes. The zero value is Transient.
const (
	// Transient: anything else. Retrying may help; retry with backoff.
	Transient Class = iota
	// Input: the input or the request is at fault (unreadable, corrupt,
	// unsupported, over a limit, an invalid job or ladder). Retrying cannot
	// help: exit 2, dead-letter at once.
	Input
	// Crashed: a child process died by a signal or went over its memory
	// limit. Retried with backoff; the queue's receive count bounds it.
	Crashed
	// Shutdown: the work was stopped by this process's own shutdown. The
	// message is released at once for another worker.
	Shutdown
	// LeaseLost: the message was delivered to someone else meanwhile; it is
	// neither acknowledged nor released.
	LeaseLost
	// Infra: the infrastructure failed, not the job: storage or the queue
	// was unreachable, throttled the request or timed out (not a 4xx that
	// says the request itself is wrong). Retrying later will help, so it
	// costs time, never the job: the worker keeps the message and backs off
	// for up to minutes before it gives up on the receive.
	Infra
)

// String is the class's name as job.json's "reason" and the dead-letter
// reason carry it. Input is "permanent", its name since the first release;
// ParseClass reads it back.
func (c Class) String() string {
	switch c {
	case Input:
		return "permanent"
	case Crashed:
		return "crashed"
	case Shutdown:
		return "shutdown"
	case LeaseLost:
		return "lease-lost"
	case Infra:
		return "infrastructure"
	}
	return "transient"
}

// ParseClass returns the class whose String is name; an unknown name is
// Transient.
func ParseClass(name string) Class {
	for c := Transient; c <= Infra; c++ {
		if c.String() == name {
			return c
		}
	}
	return Transient
}

// classer is implemented by every error that carries a class.
type classer interface{ FaultClass() Class }

// Of returns the class of err: that of the outermost error in its chain
// that carries one, else Transient (also for nil).
func Of(err error) Class {
	var c classer
	if errors.As(err, &c) {
		return c.FaultClass()
	}
	return Transient
}

// Is reports whether err is non-nil and of class c.
func Is(err error, c Class) bool { return err != nil && Of(err) == c }

// sentinel is a declared error of a class, optionally below a parent
// sentinel (errors.Is(child, parent) holds).
type sentinel struct {
	class  Class
	msg    string
	parent error
}

func (e *sentinel) Error() string     { return e.msg }
func (e *sentinel) Unwrap() error     { return e.parent }
func (e *sentinel) FaultClass() Class { return e.class }

// New declares a sentinel error of class c.
func New(c Class, msg string) error { return &sentinel{class: c, msg: msg} }

// Under declares a sentinel below parent: it is errors.Is parent too, and
// has parent's class.
func Under(parent error, msg string) error {
	return &sentinel{class: Of(parent), msg: msg, parent: parent}
}

// classed gives an error a class without changing its text.
type classed struct {
	class Class
	err   error
}

func (e *classed) Error() string     { return e.err.Error() }
func (e *classed) Unwrap() error     { return e.err }
func (e *classed) FaultClass() Class { return e.class }

// As returns err with class c (nil stays nil). The text and the wrapped
// chain are unchanged, so errors.Is on err's sentinels keeps working.
func As(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &classed{class: c, err: err}
}

// Errorf is fmt.Errorf with class c.
func Errorf(c Class, format string, args ...any) error {
	return As(c, fmt.Errorf(format, args...))
}
