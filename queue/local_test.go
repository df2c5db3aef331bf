package queue_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/queue/queuetest"
)

// Child processes: the test binary re-executed with these variables set.
const (
	envChild = "HLSFLEET_QUEUE_TEST_CHILD"
	envDir   = "HLSFLEET_QUEUE_TEST_DIR"
	envN     = "HLSFLEET_QUEUE_TEST_N"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		if err := child(mode, os.Getenv(envDir)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The conformance tests mostly wait on timeouts, so run more of them at
	// once than -parallel's default (GOMAXPROCS) unless the flag was given.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}

// child runs one role in its own process and reports on stdout, one line per
// event, flushed before the next step.
func child(mode, dir string) error {
	ctx := context.Background()
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		return err
	}
	defer q.Close()
	switch mode {
	case "receive-and-hang": // receive one message with a 2 s lease, then wait to be killed
		msgs, err := q.Receive(ctx, 1, 10*time.Second, 2*time.Second)
		if err != nil || len(msgs) != 1 {
			return fmt.Errorf("receive: %d messages, %v", len(msgs), err)
		}
		fmt.Printf("got %s %d\n", msgs[0].ID, msgs[0].ReceiveCount)
		select {}
	case "send-forever": // send until killed, reporting each id once Send returned
		for i := 0; ; i++ {
			id, err := q.Send(ctx, []byte(fmt.Sprintf("message %d", i)), queue.SendOptions{})
			if err != nil {
				return err
			}
			fmt.Printf("sent %s\n", id)
		}
	case "submit": // send N messages and report the time
		n, _ := strconv.Atoi(os.Getenv(envN))
		start := time.Now()
		for i := range n {
			if _, err := q.Send(ctx, []byte(fmt.Sprintf(`{"job":%d}`, i)), queue.SendOptions{}); err != nil {
				return err
			}
		}
		fmt.Printf("submitted %d %d\n", n, time.Since(start).Microseconds())
	case "worker": // receive and ack until stdin closes
		wctx, cancel := context.WithCancel(ctx)
		go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
		for wctx.Err() == nil {
			msgs, err := q.Receive(wctx, queue.MaxBatch, time.Second, time.Minute)
			if err != nil {
				if wctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, m := range msgs {
				if err := q.Ack(ctx, m); err != nil {
					return err
				}
				fmt.Printf("acked %s\n", m.ID)
			}
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

type proc struct {
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser
}

func startChild(t *testing.T, mode, dir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{envChild + "=" + mode, envDir + "=" + dir}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), stdin: in}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

func (p *proc) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("child exited early: %v", p.cmd.Wait())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no line from child in %v", timeout)
	}
	return ""
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
}

const localTick = 200 * time.Millisecond

func localHarness() queuetest.Harness {
	return queuetest.Harness{
		Open: func(t *testing.T) queue.Queue {
			q, err := queue.Open(context.Background(), "local://"+t.TempDir(), queue.Options{MaxReceive: 3})
			if err != nil {
				t.Fatal(err)
			}
			return q
		},
		DeadLetters: func(t *testing.T, q queue.Queue) []queue.DeadLetter {
			dl, err := q.(*queue.Local).DeadLetters(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return dl
		},
		Tick:       localTick,
		FIFO:       true,
		SendDelay:  true,
		StrictAck:  true,
		MaxReceive: 3,
	}
}

func TestLocalConformance(t *testing.T) {
	queuetest.Run(t, localHarness())
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"local://relative/dir", "local://host/dir", "file:///tmp/x", "nats://x", "::"} {
		if q, err := queue.Open(ctx, bad, queue.Options{}); err == nil {
			q.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	dir := filepath.Join(t.TempDir(), "made", "here")
	q, err := queue.Open(ctx, "local://"+dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := os.Stat(filepath.Join(dir, "queue.db")); err != nil {
		t.Errorf("no queue.db: %v", err)
	}
}

// TestLocalKill9 proves durability: a process that received a message and
// dies by SIGKILL loses only its lease, and sends that returned survive a
// SIGKILL in the middle of a stream of sends.
func TestLocalKill9(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, b := range []string{"first", "second", "third"} {
		id, err := q.Send(ctx, []byte(b), queue.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	q.Close()

	p := startChild(t, "receive-and-hang", dir)
	var leasedID string
	var count int
	if _, err := fmt.Sscanf(p.line(t, 30*time.Second), "got %s %d", &leasedID, &count); err != nil || count != 1 || !want[leasedID] {
		t.Fatalf("child reported %q %d (%v)", leasedID, count, err)
	}
	leasedAt := time.Now()
	p.kill(t)

	q2, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	got := map[string]queue.Message{}
	for len(got) < 3 {
		msgs, err := q2.Receive(ctx, queue.MaxBatch, 10*time.Second, time.Minute)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("after SIGKILL: got %d of 3 messages (%v)", len(got), err)
		}
		for _, m := range msgs {
			if _, dup := got[m.ID]; dup {
				t.Fatalf("message %s delivered twice", m.ID)
			}
			got[m.ID] = m
			if m.ID == leasedID && time.Since(leasedAt) < 2*time.Second-100*time.Millisecond {
				t.Errorf("the killed child's message came back %v after its lease began, before its 2s visibility", time.Since(leasedAt))
			}
		}
	}
	for id := range want {
		m, ok := got[id]
		switch {
		case !ok:
			t.Errorf("message %s lost", id)
		case id == leasedID && m.ReceiveCount != 2:
			t.Errorf("redelivered message has ReceiveCount %d, want 2", m.ReceiveCount)
		case id != leasedID && m.ReceiveCount != 1:
			t.Errorf("never-received message has ReceiveCount %d, want 1", m.ReceiveCount)
		}
		if ok {
			if err := q2.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}

	// SIGKILL in the middle of a stream of sends.
	p = startChild(t, "send-forever", dir)
	sent := map[string]bool{}
	for len(sent) < 50 {
		var id string
		if _, err := fmt.Sscanf(p.line(t, 30*time.Second), "sent %s", &id); err != nil {
			t.Fatal(err)
		}
		sent[id] = true
	}
	p.kill(t)
	q3, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL during sends: %v", err)
	}
	defer q3.Close()
	s, err := q3.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for {
		msgs, err := q3.Receive(ctx, queue.MaxBatch, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if sent[m.ID] {
				found++
			}
			if !strings.HasPrefix(string(m.Body), "message ") {
				t.Errorf("corrupt body %q", m.Body)
			}
		}
	}
	if found != len(sent) {
		t.Errorf("%d of %d confirmed sends survived SIGKILL", found, len(sent))
	}
	t.Logf("SIGKILL during sends: %d confirmed, %d in the file (%+v)", len(sent), s.Visible, s)
}

func TestLocalDeadLettersAndRedrive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	q, err := queue.OpenLocal(dir, queue.Options{MaxReceive: 2})
	if err != nil {
		t.Fatal(err)
	}
	idA, _ := q.Send(ctx, []byte("a"), queue.SendOptions{Attributes: map[string]string{"k": "v"}})
	idB, _ := q.Send(ctx, []byte("b"), queue.SendOptions{})
	// a: dead-lettered by hand; b: by too many receives.
	for i := 0; i < 3; i++ {
		msgs, err := q.Receive(ctx, queue.MaxBatch, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID == idA {
				if err := q.DeadLetter(ctx, m, "bad input"); err != nil {
					t.Fatal(err)
				}
			} else if err := q.Release(ctx, m, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	q.Close()
	// Dead letters survive reopening.
	q, err = queue.OpenLocal(dir, queue.Options{MaxReceive: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	dl, err := q.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || dl[0].ID != idA || dl[0].Reason != "bad input" || dl[1].ID != idB || dl[1].Reason != queue.ReasonMaxReceives {
		t.Fatalf("dead letters = %+v", dl)
	}
	if dl[0].Attributes["k"] != "v" || string(dl[0].Body) != "a" || dl[1].ReceiveCount != 2 || dl[0].At.IsZero() {
		t.Errorf("dead letter details lost: %+v", dl)
	}
	if n, err := q.Redrive(ctx, "no-such-id"); n != 0 || !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Redrive(unknown) = %d, %v, want 0, ErrNotFound", n, err)
	}
	if n, err := q.Redrive(ctx, idB); n != 1 || err != nil {
		t.Fatalf("Redrive(%s) = %d, %v", idB, n, err)
	}
	m, err := q.Receive(ctx, queue.MaxBatch, time.Second, time.Minute)
	if err != nil || len(m) != 1 || m[0].ID != idB || m[0].ReceiveCount != 1 || string(m[0].Body) != "b" {
		t.Fatalf("after Redrive: %+v, %v", m, err)
	}
	if n, err := q.RedriveAll(ctx); err != nil || n != 1 {
		t.Fatalf("RedriveAll = %d, %v", n, err)
	}
	if dl, _ := q.DeadLetters(ctx); len(dl) != 0 {
		t.Errorf("%d dead letters left", len(dl))
	}
}

func TestLocalMaxReceiveDisabled(t *testing.T) {
	ctx := context.Background()
	q, err := queue.OpenLocal(t.TempDir(), queue.Options{MaxReceive: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Send(ctx, []byte("x"), queue.SendOptions{})
	for i := 1; i <= queue.DefaultMaxReceive+3; i++ {
		msgs, err := q.Receive(ctx, 1, time.Second, time.Minute)
		if err != nil || len(msgs) != 1 || msgs[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v %v", i, msgs, err)
		}
		q.Release(ctx, msgs[0], 0)
	}
}

// TestLocalWakeAcrossInstances: two Opens of one directory in one process
// wake each other's long polls at once; the long poll also sees a send by
// another process within the poll interval.
func TestLocalWakeAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := queue.OpenLocal(dir, queue.Options{PollInterval: time.Hour}) // only the in-process wake-up can help
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan time.Time, 1)
	go func() {
		msgs, err := a.Receive(ctx, 1, 10*time.Second, time.Minute)
		if err != nil || len(msgs) != 1 {
			t.Errorf("Receive: %d, %v", len(msgs), err)
		}
		done <- time.Now()
	}()
	time.Sleep(200 * time.Millisecond)
	b.Send(ctx, []byte("x"), queue.SendOptions{})
	sent := time.Now()
	if lat := (<-done).Sub(sent); lat > 500*time.Millisecond {
		t.Errorf("woke %v after the send", lat)
	}

	// Another process's send is seen by polling.
	go func() {
		msgs, err := b.Receive(ctx, 1, 20*time.Second, time.Minute)
		if err != nil || len(msgs) != 1 {
			t.Errorf("Receive: %d, %v", len(msgs), err)
		}
		done <- time.Now()
	}()
	p := startChild(t, "submit", dir, envN+"=1")
	p.line(t, 30*time.Second)
	sent = time.Now()
	if lat := (<-done).Sub(sent); lat > time.Second {
		t.Errorf("cross-process send seen %v after it returned", lat)
	}
}

// TestLocalMultiProcess: 3 worker processes and a submitter process share one
// directory; every message is acked exactly once.
func TestLocalMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n, workers = 300, 3
	dir := t.TempDir()
	q, err := queue.OpenLocal(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ws []*proc
	for range workers {
		ws = append(ws, startChild(t, "worker", dir))
	}
	start := time.Now()
	sub := startChild(t, "submit", dir, envN+"="+strconv.Itoa(n))
	var mu sync.Mutex
	acked := map[string]int{}
	per := make([]int, workers)
	all := make(chan struct{})
	var once sync.Once
	for i, w := range ws {
		go func() {
			for l := range w.lines {
				id, ok := strings.CutPrefix(l, "acked ")
				if !ok {
					continue
				}
				mu.Lock()
				acked[id]++
				per[i]++
				if len(acked) == n {
					once.Do(func() { close(all) })
				}
				mu.Unlock()
			}
		}()
	}
	var subN int
	var subUS int64
	if _, err := fmt.Sscanf(sub.line(t, 60*time.Second), "submitted %d %d", &subN, &subUS); err != nil || subN != n {
		t.Fatalf("submitter: %v", err)
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Fatalf("only %d of %d messages acked", len(acked), n)
	}
	elapsed := time.Since(start)
	for _, w := range ws {
		w.stdin.Close()
	}
	for _, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("worker: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, c := range acked {
		if c != 1 {
			t.Errorf("message %s acked %d times", id, c)
		}
	}
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Visible+s.InFlight+s.Delayed != 0 {
		t.Errorf("left in queue: %+v", s)
	}
	t.Logf("%d messages, %d worker processes + 1 submitter: submitted in %v (%.0f sends/s while workers polled), all acked after %v (%.0f msgs/s end to end); per worker %v",
		n, workers, time.Duration(subUS)*time.Microsecond, float64(n)/(float64(subUS)/1e6), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), per)
}

// BenchmarkLocalSend measures one fsync'd Send (lock, open, commit, close).
func BenchmarkLocalSend(b *testing.B) {
	ctx := context.Background()
	q, err := queue.OpenLocal(b.TempDir(), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	body := []byte(`{"v":1,"source":"s3://in/a.mp4","output":"s3://out/a/"}`)
	for b.Loop() {
		if _, err := q.Send(ctx, body, queue.SendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalEmptyPoll measures one idle poll (shared lock, read-only open).
func BenchmarkLocalEmptyPoll(b *testing.B) {
	ctx := context.Background()
	q, err := queue.OpenLocal(b.TempDir(), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	for b.Loop() {
		if _, err := q.Receive(ctx, queue.MaxBatch, 0, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
