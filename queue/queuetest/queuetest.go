// Package queuetest is the conformance suite every queue driver passes:
// queuetest.Run(t, harness) checks the contracts documented on queue.Queue
// against fresh queues from the harness.
//
// Timing checks are one-sided where they can be (a message must not come back
// before its timeout) and use generous bounds where they cannot (a long poll
// must wake within 500 ms of a send). Durations are multiples of
// Harness.Tick, the backend's time granularity.
package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
)

// Harness describes a driver to the suite. The queues it opens must also
// implement queue.DeadLetterStore.
type Harness struct {
	// Open returns a fresh, empty queue for one test; the suite closes it.
	// Tests run in parallel, each with its own queue.
	Open func(t *testing.T) queue.Queue
	// DeadLetters returns what q's DeadLetter calls and max-receive
	// redrives moved to its dead-letter queue or store, waiting up to a few
	// Ticks for it to arrive. It may consume them.
	DeadLetters func(t *testing.T, q queue.Queue) []queue.DeadLetter
	// Tick is the unit of the visibility timeouts and delays the tests use:
	// the backend's granularity (SQS: time.Second).
	Tick time.Duration
	// FIFO: the queues honour SendOptions.GroupID (FIFO test).
	FIFO bool
	// SendDelay: Send honours SendOptions.Delay (SQS FIFO queues don't).
	SendDelay bool
	// StrictAck: Ack with a stale receipt returns queue.ErrLeaseLost (SQS
	// may accept it silently; the suite then accepts nil too).
	StrictAck bool
	// MaxReceive is the queues' redrive threshold; 0 skips the test.
	MaxReceive int
}

// slack absorbs clock differences between the test and a broker process.
const slack = 150 * time.Millisecond

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Tick <= 0 {
		h.Tick = time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"SendReceiveAck", testSendReceiveAck},
		{"InvalidArguments", testInvalid},
		{"VisibilityExpiry", testVisibilityExpiry},
		{"Extend", testExtend},
		{"StaleReceipt", testStaleReceipt},
		{"Release", testRelease},
		{"LongPoll", testLongPoll},
		{"Batch", testBatch},
		{"DeadLetter", testDeadLetter},
		{"MaxReceive", testMaxReceive},
		{"DeadLetterStore", testDeadLetterStore},
		{"FIFO", testFIFO},
		{"Stats", testStats},
		{"Bodies", testBodies},
		{"ConcurrentReceivers", testConcurrent},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

func open(t *testing.T, h Harness) (queue.Queue, context.Context) {
	t.Helper()
	q := h.Open(t)
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return q, ctx
}

func send(t *testing.T, ctx context.Context, q queue.Queue, body string, o queue.SendOptions) string {
	t.Helper()
	id, err := q.Send(ctx, []byte(body), o)
	if err != nil {
		t.Fatalf("Send(%.20q): %v", body, err)
	}
	if id == "" {
		t.Fatalf("Send(%.20q) returned an empty id", body)
	}
	return id
}

func recv(t *testing.T, ctx context.Context, q queue.Queue, max int, wait, vis time.Duration) []queue.Message {
	t.Helper()
	msgs, err := q.Receive(ctx, max, wait, vis)
	if err != nil {
		t.Fatalf("Receive(%d, %v, %v): %v", max, wait, vis, err)
	}
	if len(msgs) > max {
		t.Fatalf("Receive(%d) returned %d messages", max, len(msgs))
	}
	return msgs
}

// recvOne waits up to wait for exactly one message.
func recvOne(t *testing.T, ctx context.Context, q queue.Queue, wait, vis time.Duration) queue.Message {
	t.Helper()
	msgs := recv(t, ctx, q, 1, wait, vis)
	if len(msgs) != 1 {
		t.Fatalf("Receive(1, wait %v): got %d messages, want 1", wait, len(msgs))
	}
	return msgs[0]
}

func expectEmpty(t *testing.T, ctx context.Context, q queue.Queue, wait time.Duration, why string) {
	t.Helper()
	if msgs := recv(t, ctx, q, queue.MaxBatch, wait, time.Minute); len(msgs) != 0 {
		t.Fatalf("%s: Receive got %d messages (first %s, count %d), want none", why, len(msgs), msgs[0].ID, msgs[0].ReceiveCount)
	}
}

func ack(t *testing.T, ctx context.Context, q queue.Queue, m queue.Message) {
	t.Helper()
	if err := q.Ack(ctx, m); err != nil {
		t.Fatalf("Ack(%s): %v", m.ID, err)
	}
}

func testSendReceiveAck(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	attrs := map[string]string{"kind": "vod", "trace": "abc-123"}
	before := time.Now()
	id := send(t, ctx, q, `{"v":1,"source":"s3://in/a.mp4"}`, queue.SendOptions{Attributes: attrs})
	after := time.Now()
	m := recvOne(t, ctx, q, 5*h.Tick, time.Minute)
	if m.ID != id {
		t.Errorf("ID = %q, want %q", m.ID, id)
	}
	if string(m.Body) != `{"v":1,"source":"s3://in/a.mp4"}` {
		t.Errorf("Body = %q", m.Body)
	}
	if m.ReceiveCount != 1 {
		t.Errorf("ReceiveCount = %d, want 1", m.ReceiveCount)
	}
	if m.Receipt == "" {
		t.Error("empty Receipt")
	}
	if m.GroupID != "" {
		t.Errorf("GroupID = %q, want none", m.GroupID)
	}
	if m.SentAt.Before(before.Add(-2*time.Second)) || m.SentAt.After(after.Add(2*time.Second)) {
		t.Errorf("SentAt = %v, want between %v and %v", m.SentAt, before, after)
	}
	for k, v := range attrs {
		if m.Attributes[k] != v {
			t.Errorf("Attributes[%q] = %q, want %q (all: %v)", k, m.Attributes[k], v, m.Attributes)
		}
	}
	ack(t, ctx, q, m)
	expectEmpty(t, ctx, q, h.Tick, "after Ack")
}

func testInvalid(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	for _, max := range []int{0, -1, queue.MaxBatch + 1} {
		if _, err := q.Receive(ctx, max, 0, time.Minute); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("Receive(max %d) = %v, want ErrInvalid", max, err)
		}
	}
	if _, err := q.Send(ctx, nil, queue.SendOptions{}); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Send(empty) = %v, want ErrInvalid", err)
	}
	if _, err := q.Send(ctx, bytes.Repeat([]byte("x"), queue.MaxBodySize+1), queue.SendOptions{}); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Send(MaxBodySize+1 bytes) = %v, want ErrInvalid", err)
	}
}

func testVisibilityExpiry(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	id := send(t, ctx, q, "expire me", queue.SendOptions{})
	m1 := recvOne(t, ctx, q, 5*h.Tick, h.Tick)
	leased := time.Now()
	m2 := recvOne(t, ctx, q, 20*h.Tick, time.Minute)
	if el := time.Since(leased); el < h.Tick-slack {
		t.Errorf("redelivered after %v, before the %v visibility timeout", el, h.Tick)
	}
	if m2.ID != id || m1.ID != id {
		t.Fatalf("ids %q, %q, want %q", m1.ID, m2.ID, id)
	}
	if m2.ReceiveCount != m1.ReceiveCount+1 {
		t.Errorf("ReceiveCount %d after %d, want +1", m2.ReceiveCount, m1.ReceiveCount)
	}
	if m2.Receipt == m1.Receipt {
		t.Error("redelivery kept the old receipt")
	}
	ack(t, ctx, q, m2)
}

func testExtend(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	send(t, ctx, q, "extend me", queue.SendOptions{})
	m := recvOne(t, ctx, q, 5*h.Tick, 2*h.Tick)
	if err := q.Extend(ctx, m, 8*h.Tick); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	time.Sleep(2 * h.Tick) // the original lease ends now; watch for another tick
	expectEmpty(t, ctx, q, h.Tick, "extended lease")
	if err := q.Extend(ctx, m, 8*h.Tick); err != nil {
		t.Fatalf("second Extend: %v", err)
	}
	ack(t, ctx, q, m)
}

func testStaleReceipt(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	send(t, ctx, q, "stale", queue.SendOptions{})
	a := recvOne(t, ctx, q, 5*h.Tick, h.Tick)
	b := recvOne(t, ctx, q, 20*h.Tick, time.Minute) // redelivered to "someone else"
	if b.ReceiveCount != 2 {
		t.Errorf("ReceiveCount = %d, want 2", b.ReceiveCount)
	}
	if err := q.Extend(ctx, a, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Extend(stale) = %v, want ErrLeaseLost", err)
	}
	if err := q.Release(ctx, a, 0); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Release(stale) = %v, want ErrLeaseLost", err)
	}
	if err := q.DeadLetter(ctx, a, "stale"); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("DeadLetter(stale) = %v, want ErrLeaseLost", err)
	}
	err := q.Ack(ctx, a)
	if !errors.Is(err, queue.ErrLeaseLost) && (h.StrictAck || err != nil) {
		t.Errorf("Ack(stale) = %v, want ErrLeaseLost", err)
	}
	// The current holder still holds it.
	if err := q.Extend(ctx, b, time.Minute); err != nil {
		t.Fatalf("Extend(current) after stale calls: %v", err)
	}
	ack(t, ctx, q, b)
	expectEmpty(t, ctx, q, h.Tick, "after Ack")
	if dl := h.DeadLetters(t, q); len(dl) != 0 {
		t.Errorf("a stale DeadLetter moved %d messages", len(dl))
	}
	if err := q.Ack(ctx, b); !errors.Is(err, queue.ErrLeaseLost) && (h.StrictAck || err != nil) {
		t.Errorf("second Ack = %v, want ErrLeaseLost", err)
	}
}

func testRelease(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	id := send(t, ctx, q, "release me", queue.SendOptions{})
	m := recvOne(t, ctx, q, 5*h.Tick, time.Minute)
	if err := q.Release(ctx, m, 0); err != nil {
		t.Fatalf("Release(0): %v", err)
	}
	start := time.Now()
	m2 := recvOne(t, ctx, q, 20*h.Tick, time.Minute)
	if el := time.Since(start); el > max(h.Tick, 500*time.Millisecond) {
		t.Errorf("Release(0): visible again only after %v", el)
	}
	if m2.ID != id || m2.ReceiveCount != 2 {
		t.Errorf("after Release(0): id %q count %d, want %q 2", m2.ID, m2.ReceiveCount, id)
	}
	start = time.Now()
	if err := q.Release(ctx, m2, 2*h.Tick); err != nil {
		t.Fatalf("Release(%v): %v", 2*h.Tick, err)
	}
	m3 := recvOne(t, ctx, q, 20*h.Tick, time.Minute)
	if el := time.Since(start); el < 2*h.Tick-slack {
		t.Errorf("Release(%v): visible again after %v", 2*h.Tick, el)
	}
	if m3.ReceiveCount != 3 {
		t.Errorf("ReceiveCount = %d, want 3", m3.ReceiveCount)
	}
	ack(t, ctx, q, m3)
}

func testLongPoll(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	// An empty long poll waits.
	start := time.Now()
	expectEmpty(t, ctx, q, h.Tick, "empty queue")
	if el := time.Since(start); el < h.Tick-slack {
		t.Errorf("empty Receive(wait %v) returned after %v", h.Tick, el)
	}
	// A waiting long poll wakes on a send.
	type result struct {
		msgs []queue.Message
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := q.Receive(ctx, 1, 5*time.Second, time.Minute)
		done <- result{msgs, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond) // let the poll start waiting
	sent := time.Now()
	id := send(t, ctx, q, "wake up", queue.SendOptions{})
	r := <-done
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != id {
		t.Fatalf("Receive got %d messages, want the one sent", len(r.msgs))
	}
	if lat := r.at.Sub(sent); lat > 500*time.Millisecond {
		t.Errorf("long poll returned %v after the send began, want < 500ms", lat)
	} else {
		t.Logf("long poll woke %v after the send began", lat)
	}
	ack(t, ctx, q, r.msgs[0])
	// A cancelled context ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start = time.Now()
	if _, err := q.Receive(cctx, 1, 20*time.Second, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancelled Receive returned after %v", el)
	}
}

func testBatch(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	const n = 15
	want := map[string]bool{}
	for i := range n {
		want[send(t, ctx, q, fmt.Sprintf("batch %d", i), queue.SendOptions{})] = true
	}
	seen := map[string]bool{}
	most := 0
	for tries := 0; len(seen) < n && tries < 50; tries++ {
		msgs := recv(t, ctx, q, queue.MaxBatch, 5*h.Tick, time.Minute)
		most = max(most, len(msgs))
		for _, m := range msgs {
			if seen[m.ID] {
				t.Fatalf("message %s delivered twice while leased", m.ID)
			}
			if !want[m.ID] {
				t.Fatalf("unknown message %s", m.ID)
			}
			seen[m.ID] = true
			ack(t, ctx, q, m)
		}
	}
	if len(seen) != n {
		t.Fatalf("received %d of %d messages", len(seen), n)
	}
	if most < 2 {
		t.Errorf("no Receive returned more than %d message(s) with %d visible", most, n)
	}
}

func testDeadLetter(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	body := `{"v":1,"source":"s3://in/broken.mp4"}`
	id := send(t, ctx, q, body, queue.SendOptions{Attributes: map[string]string{"kind": "vod"}})
	m := recvOne(t, ctx, q, 5*h.Tick, time.Minute)
	reason := "input is corrupt: moov atom not found (exit 2)"
	if err := q.DeadLetter(ctx, m, reason); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	expectEmpty(t, ctx, q, h.Tick, "after DeadLetter")
	if err := q.Extend(ctx, m, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Extend after DeadLetter = %v, want ErrLeaseLost", err)
	}
	dl := h.DeadLetters(t, q)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	d := dl[0]
	if d.ID != id || string(d.Body) != body || d.Reason != reason {
		t.Errorf("dead letter = id %q body %q reason %q, want %q %q %q", d.ID, d.Body, d.Reason, id, body, reason)
	}
	if d.Attributes["kind"] != "vod" {
		t.Errorf("dead letter attributes %v lost kind=vod", d.Attributes)
	}
}

func testMaxReceive(t *testing.T, h Harness) {
	if h.MaxReceive <= 0 {
		t.Skip("harness has no redrive threshold")
	}
	q, ctx := open(t, h)
	id := send(t, ctx, q, "poison", queue.SendOptions{})
	for i := 1; i <= h.MaxReceive; i++ {
		m := recvOne(t, ctx, q, 10*h.Tick, time.Minute)
		if m.ID != id || m.ReceiveCount != i {
			t.Fatalf("receive %d: id %q count %d", i, m.ID, m.ReceiveCount)
		}
		if err := q.Release(ctx, m, 0); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	expectEmpty(t, ctx, q, h.Tick, fmt.Sprintf("after %d receives", h.MaxReceive))
	dl := h.DeadLetters(t, q)
	if len(dl) != 1 || dl[0].ID != id || dl[0].Reason != queue.ReasonMaxReceives {
		t.Fatalf("dead letters = %+v, want %s with reason %q", dl, id, queue.ReasonMaxReceives)
	}
}

// testDeadLetterStore: listing shows the dead letters with their reasons and
// consumes none; Redrive moves exactly the ones named, whole, and reports the
// ids it did not find; RedriveAll moves the rest.
func testDeadLetterStore(t *testing.T, h Harness) {
	s := openDeadLetters(t, h)
	s.deadLetterTwo()
	s.checkListing()
	s.redriveOne()
	s.redriveRest()
}

// deadLetterSteps are the steps of testDeadLetterStore on one queue: a and
// b are dead-lettered (b in group, on a FIFO queue), a third message not.
type deadLetterSteps struct {
	t        *testing.T
	h        Harness
	ctx      context.Context
	q        queue.Queue
	st       queue.DeadLetterStore
	group    string
	idA, idB string
}

// openDeadLetters opens a queue, which must be a DeadLetterStore with no
// dead letters yet.
func openDeadLetters(t *testing.T, h Harness) *deadLetterSteps {
	q, ctx := open(t, h)
	st, ok := q.(queue.DeadLetterStore)
	if !ok {
		t.Fatalf("%T does not implement queue.DeadLetterStore", q)
	}
	if dl, err := st.ListDeadLetters(ctx, 0); err != nil || len(dl) != 0 {
		t.Fatalf("ListDeadLetters on a fresh queue = %+v, %v; want none", dl, err)
	}
	s := &deadLetterSteps{t: t, h: h, ctx: ctx, q: q, st: st}
	if h.FIFO {
		s.group = "g1"
	}
	return s
}

// deadLetterTwo sends a, b and c, dead-letters a and b with their reasons
// and releases c.
func (s *deadLetterSteps) deadLetterTwo() {
	t, ctx, q := s.t, s.ctx, s.q
	s.idA = send(t, ctx, q, "dl-a", queue.SendOptions{Attributes: map[string]string{"kind": "vod"}})
	s.idB = send(t, ctx, q, "dl-b", queue.SendOptions{GroupID: s.group, DedupID: "dl-b"})
	send(t, ctx, q, "dl-c", queue.SendOptions{})
	reasons := map[string]string{s.idA: "reason a", s.idB: "reason b"}
	for got := 0; got < 3; {
		msgs := recv(t, ctx, q, queue.MaxBatch, 5*s.h.Tick, time.Minute)
		if len(msgs) == 0 {
			t.Fatalf("received %d of 3 messages", got)
		}
		for _, m := range msgs {
			got++
			if r, ok := reasons[m.ID]; ok {
				if err := q.DeadLetter(ctx, m, r); err != nil {
					t.Fatalf("DeadLetter: %v", err)
				}
			} else if err := q.Release(ctx, m, 0); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
	}
}

// list lists up to max dead letters by id (each listed once).
func (s *deadLetterSteps) list(max int) map[string]queue.DeadLetter {
	s.t.Helper()
	dl, err := s.st.ListDeadLetters(s.ctx, max)
	if err != nil {
		s.t.Fatalf("ListDeadLetters(%d): %v", max, err)
	}
	out := map[string]queue.DeadLetter{}
	for _, d := range dl {
		if _, dup := out[d.ID]; dup {
			s.t.Fatalf("ListDeadLetters(%d) lists %s twice", max, d.ID)
		}
		out[d.ID] = d
	}
	return out
}

// checkListing: a and b are listed whole with their reasons, twice (a
// listing consumes nothing); a max of 1 lists one; Redrive of no ids moves
// nothing.
func (s *deadLetterSteps) checkListing() {
	t := s.t
	var dl map[string]queue.DeadLetter
	for tries := 0; tries < 5 && len(dl) < 2; tries++ { // a broker may take a moment
		dl = s.list(0)
	}
	for pass := range 2 { // listing twice shows the same two: nothing consumed
		if pass > 0 {
			dl = s.list(0)
		}
		a, b := dl[s.idA], dl[s.idB]
		if len(dl) != 2 || a.Reason != "reason a" || b.Reason != "reason b" {
			t.Fatalf("pass %d: dead letters %+v, want %s and %s with their reasons", pass, dl, s.idA, s.idB)
		}
		if string(a.Body) != "dl-a" || string(b.Body) != "dl-b" || a.Attributes["kind"] != "vod" || b.GroupID != s.group {
			t.Errorf("pass %d: dead letters lost body, attributes or group: %+v", pass, dl)
		}
	}
	if got := s.list(1); len(got) != 1 {
		t.Errorf("ListDeadLetters(1) gave %d", len(got))
	}
	if n, err := s.st.Redrive(s.ctx); n != 0 || err != nil {
		t.Errorf("Redrive() = %d, %v; want 0, nil", n, err)
	}
}

// back receives the message body from the queue (releasing others) and
// acknowledges it.
func (s *deadLetterSteps) back(body string) queue.Message {
	s.t.Helper()
	for tries := 0; tries < 10; tries++ {
		for _, m := range recv(s.t, s.ctx, s.q, queue.MaxBatch, 2*s.h.Tick, time.Minute) {
			if string(m.Body) == body {
				ack(s.t, s.ctx, s.q, m)
				return m
			}
			if err := s.q.Release(s.ctx, m, 0); err != nil {
				s.t.Fatalf("Release: %v", err)
			}
		}
	}
	s.t.Fatalf("%s did not come back to the queue", body)
	return queue.Message{}
}

// redriveOne redrives a (and an id that names nothing): a comes back whole,
// b stays, and a second redrive of a finds nothing.
func (s *deadLetterSteps) redriveOne() {
	t, ctx, st := s.t, s.ctx, s.st
	n, err := st.Redrive(ctx, s.idA, "no-such-id")
	if n != 1 || !errors.Is(err, queue.ErrNotFound) || !strings.Contains(fmt.Sprint(err), "no-such-id") {
		t.Fatalf("Redrive(a, no-such-id) = %d, %v; want 1 and ErrNotFound naming no-such-id", n, err)
	}
	m := s.back("dl-a")
	if m.Attributes["kind"] != "vod" || m.Attributes[queue.AttrReason] != "" || m.Attributes[queue.AttrOriginalID] != "" || m.ReceiveCount != 1 {
		t.Errorf("redriven a: attributes %v, receive count %d; want kind=vod, no dead-letter attributes, count 1", m.Attributes, m.ReceiveCount)
	}
	if dl := s.list(0); len(dl) != 1 || dl[s.idB].Reason != "reason b" {
		t.Fatalf("after redriving a: %+v, want only %s", dl, s.idB)
	}
	if n, err := st.Redrive(ctx, s.idA); n != 0 || !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("redriving a again = %d, %v; want 0, ErrNotFound", n, err)
	}
}

// redriveRest: RedriveAll moves b back, in its group, and leaves no dead
// letter.
func (s *deadLetterSteps) redriveRest() {
	t := s.t
	if n, err := s.st.RedriveAll(s.ctx); n != 1 || err != nil {
		t.Fatalf("RedriveAll = %d, %v; want 1", n, err)
	}
	if m := s.back("dl-b"); m.GroupID != s.group {
		t.Errorf("redriven b in group %q, want %q", m.GroupID, s.group)
	}
	if dl := s.list(0); len(dl) != 0 {
		t.Errorf("after RedriveAll: %+v", dl)
	}
}

func testFIFO(t *testing.T, h Harness) {
	if !h.FIFO {
		t.Skip("queue does not honour GroupID")
	}
	q, ctx := open(t, h)
	order := []string{"A1", "B1", "A2", "B2", "A3", "B3"}
	for _, b := range order {
		send(t, ctx, q, b, queue.SendOptions{GroupID: b[:1], DedupID: "d-" + b})
	}
	// Dedup: a repeat within the window adds nothing.
	send(t, ctx, q, "A1", queue.SendOptions{GroupID: "A", DedupID: "d-A1"})

	f := &fifoGroups{t: t, ctx: ctx, q: q, inflight: map[string][]queue.Message{}, next: map[string]int{"A": 1, "B": 1}}
	for tries := 0; (len(f.inflight["A"]) == 0 || len(f.inflight["B"]) == 0) && tries < 20; tries++ {
		f.receive(2 * h.Tick)
	}
	if len(f.inflight["A"]) == 0 || len(f.inflight["B"]) == 0 {
		t.Fatal("did not get both groups' first messages")
	}
	if got := f.receive(h.Tick); len(got) != 0 {
		t.Fatalf("both groups in flight, yet Receive returned %q", got[0].Body)
	}
	// Acking A frees A only.
	f.ackGroup("A")
	if got := f.receiveSome(2*h.Tick, 10); len(got) == 0 || got[0].GroupID != "A" {
		t.Fatalf("after acking group A: got %d messages", len(got))
	}
	// Releasing B redelivers B's first message before the rest.
	for _, m := range f.inflight["B"] {
		if err := q.Release(ctx, m, 0); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	f.inflight["B"] = nil
	if got := f.receiveSome(2*h.Tick, 10); len(got) == 0 || string(got[0].Body) != "B1" || got[0].ReceiveCount != 2 {
		t.Fatalf("after releasing B: got %d messages, want B1 again", len(got))
	}
	for tries := 0; (f.next["A"] <= 3 || f.next["B"] <= 3) && tries < 30; tries++ {
		f.ackGroup("A")
		f.ackGroup("B")
		if f.next["A"] > 3 && f.next["B"] > 3 {
			break
		}
		f.receive(2 * h.Tick)
	}
	if f.next["A"] != 4 || f.next["B"] != 4 {
		t.Fatalf("acked A up to %d and B up to %d, want 3 each", f.next["A"]-1, f.next["B"]-1)
	}
	expectEmpty(t, ctx, q, h.Tick, "all acked (the deduplicated A1 must not come back)")
}

// fifoGroups tracks testFIFO's messages in flight per group (the group is
// the body's first letter, the body the group and a sequence number) and
// checks FIFO order as they are received and acked.
type fifoGroups struct {
	t        *testing.T
	ctx      context.Context
	q        queue.Queue
	inflight map[string][]queue.Message // group → leased, in delivery order
	next     map[string]int             // next sequence number to ack per group
}

// receive receives a batch, waiting up to wait, and fails the test if it
// holds a message of a group that already had one in flight.
func (f *fifoGroups) receive(wait time.Duration) []queue.Message {
	f.t.Helper()
	msgs := recv(f.t, f.ctx, f.q, queue.MaxBatch, wait, time.Minute)
	batch := map[string]bool{}
	for _, m := range msgs {
		g := m.GroupID
		if g != string(m.Body[:1]) {
			f.t.Fatalf("message %q has GroupID %q", m.Body, g)
		}
		if len(f.inflight[g]) > 0 && !batch[g] {
			f.t.Fatalf("group %s delivered %q while %q is in flight", g, m.Body, f.inflight[g][0].Body)
		}
		batch[g] = true
		f.inflight[g] = append(f.inflight[g], m)
	}
	return msgs
}

// receiveSome receives until a batch is not empty, at most tries times.
func (f *fifoGroups) receiveSome(wait time.Duration, tries int) []queue.Message {
	f.t.Helper()
	var got []queue.Message
	for i := 0; len(got) == 0 && i < tries; i++ {
		got = f.receive(wait)
	}
	return got
}

// ackGroup acks group g's messages in flight, failing the test if they are
// not the next in the group's send order.
func (f *fifoGroups) ackGroup(g string) {
	f.t.Helper()
	for _, m := range f.inflight[g] {
		if want := fmt.Sprintf("%s%d", g, f.next[g]); string(m.Body) != want {
			f.t.Fatalf("group %s: acking %q, want %q (per-group send order)", g, m.Body, want)
		}
		f.next[g]++
		ack(f.t, f.ctx, f.q, m)
	}
	f.inflight[g] = nil
}

func testStats(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	for i := range 3 {
		send(t, ctx, q, fmt.Sprintf("stats %d", i), queue.SendOptions{})
	}
	var wantDelayed int64
	if h.SendDelay {
		start := time.Now()
		send(t, ctx, q, "later", queue.SendOptions{Delay: 60 * h.Tick})
		wantDelayed = 1
		// A delayed message stays hidden.
		defer func() {
			if time.Since(start) < 60*h.Tick-slack {
				for _, m := range recv(t, ctx, q, queue.MaxBatch, 0, time.Minute) {
					if string(m.Body) == "later" {
						t.Error("delayed message delivered early")
					}
				}
			}
		}()
	}
	recvOne(t, ctx, q, 5*h.Tick, time.Minute)
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if s.Visible != 2 || s.InFlight != 1 || s.Delayed != wantDelayed {
		t.Errorf("Stats = %+v, want Visible 2, InFlight 1, Delayed %d", s, wantDelayed)
	}
	if s.OldestAge < 0 {
		t.Errorf("OldestAge = %v", s.OldestAge)
	}
}

// textBody returns n bytes of SQS-safe text: ASCII with tabs and newlines,
// and multi-byte UTF-8 when n allows.
func textBody(r *rand.Rand, n int, emoji bool) []byte {
	var b bytes.Buffer
	multi := []string{"é", "ß", "→", "日本", "\uFFFD"}
	if emoji {
		multi = append(multi, "🎬") // beyond U+FFFF: drivers may have to encode it
	}
	for b.Len() < n {
		left := n - b.Len()
		switch c := r.IntN(40); {
		case c == 0 && left >= 4:
			s := multi[r.IntN(len(multi))]
			if len(s) <= left {
				b.WriteString(s)
			}
		case c == 1:
			b.WriteByte('\n')
		case c == 2:
			b.WriteByte('\t')
		default:
			b.WriteByte(byte(0x20 + r.IntN(0x7f-0x20)))
		}
	}
	return b.Bytes()
}

func testBodies(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	r := rand.New(rand.NewPCG(1, 2))
	bodies := map[string][]byte{}
	add := func(name string, body []byte) {
		id, err := q.Send(ctx, body, queue.SendOptions{})
		if err != nil {
			t.Fatalf("Send(%s, %d bytes): %v", name, len(body), err)
		}
		bodies[id] = body
	}
	for _, n := range []int{1, 1000, 64 << 10, queue.MaxBodySize} {
		add(fmt.Sprintf("text %d", n), textBody(r, n, false))
	}
	add("text with emoji", textBody(r, 4000, true))
	bin := make([]byte, 64<<10)
	for i := range bin {
		bin[i] = byte(r.UintN(256))
	}
	add("NUL", []byte{0})
	add("invalid UTF-8", []byte{'a', 0xff, 0xfe, 'b'})
	add("binary 64 KiB", bin)
	for seen := 0; seen < len(bodies); {
		msgs := recv(t, ctx, q, queue.MaxBatch, 10*h.Tick, time.Minute)
		if len(msgs) == 0 {
			t.Fatalf("got %d of %d bodies", seen, len(bodies))
		}
		for _, m := range msgs {
			want, ok := bodies[m.ID]
			if !ok {
				t.Fatalf("unknown message %s", m.ID)
			}
			if !bytes.Equal(m.Body, want) {
				t.Errorf("body of %d bytes came back as %d bytes, different", len(want), len(m.Body))
			}
			seen++
			ack(t, ctx, q, m)
		}
	}
}

func testConcurrent(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	const n, receivers = 50, 4
	want := map[string]string{}
	for i := range n {
		body := fmt.Sprintf("job %02d", i)
		want[send(t, ctx, q, body, queue.SendOptions{})] = body
	}
	var mu sync.Mutex
	got := map[string][]int{} // id → receivers that got it
	total := 0
	var wg sync.WaitGroup
	errs := make(chan error, receivers)
	for r := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				finished := total >= n
				mu.Unlock()
				if finished || ctx.Err() != nil {
					return
				}
				msgs, err := q.Receive(ctx, 1+r*3, h.Tick, 5*time.Minute)
				if err != nil {
					errs <- err
					return
				}
				for _, m := range msgs {
					mu.Lock()
					got[m.ID] = append(got[m.ID], r)
					total++
					mu.Unlock()
					if want[m.ID] != string(m.Body) {
						errs <- fmt.Errorf("message %s: body %q, want %q", m.ID, m.Body, want[m.ID])
						return
					}
					if err := q.Ack(ctx, m); err != nil {
						errs <- fmt.Errorf("Ack: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var dup []string
	per := make([]int, receivers)
	for id, rs := range got {
		if len(rs) != 1 {
			dup = append(dup, fmt.Sprintf("%s→%v", want[id], rs))
		}
		for _, r := range rs {
			per[r]++
		}
	}
	sort.Strings(dup)
	if len(dup) > 0 {
		t.Errorf("delivered more than once while leased: %s", strings.Join(dup, ", "))
	}
	if len(got) != n {
		t.Errorf("delivered %d distinct messages, want %d", len(got), n)
	}
	t.Logf("messages per receiver: %v", per)
}

func testClose(t *testing.T, h Harness) {
	q, ctx := open(t, h)
	done := make(chan error, 1)
	go func() {
		_, err := q.Receive(ctx, 1, 20*time.Second, time.Minute)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Receive pending at Close = %v, want ErrClosed", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("pending Receive ended %v after Close", el)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := q.Send(ctx, []byte("x"), queue.SendOptions{}); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := q.Receive(ctx, 1, 0, time.Minute); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Receive after Close = %v, want ErrClosed", err)
	}
	if _, err := q.Stats(ctx); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Stats after Close = %v, want ErrClosed", err)
	}
}
