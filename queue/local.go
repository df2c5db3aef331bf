package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The local driver keeps one queue in DIR/queue.db, a bbolt file. Several
// processes on one machine share it: every operation takes a flock(2) on
// DIR/queue.lock (shared to read, exclusive to write), opens the bbolt file,
// runs one transaction, and closes it again, so no process holds the file
// between operations. Committed transactions are fsync'd by bbolt, so a Send
// that returned survives a crash of its process (SIGKILL included), and a
// lease held by a process that died simply runs out.
//
// Buckets: msgs (seq → record, in send order), bodies (seq → body), ids
// (message id → seq), dedup (DedupID → first id and time), dead (seq →
// deadRecord).
var (
	bMsgs   = []byte("msgs")
	bBodies = []byte("bodies")
	bIDs    = []byte("ids")
	bDedup  = []byte("dedup")
	bDead   = []byte("dead")
)

// dedupWindow is how long a DedupID suppresses repeats (as SQS FIFO).
const dedupWindow = 5 * time.Minute

// record is a message's state, without its body.
type record struct {
	ID        string            `json:"id"`
	Group     string            `json:"g,omitempty"`
	Attrs     map[string]string `json:"a,omitempty"`
	SentAt    int64             `json:"s"`           // unix ns
	VisibleAt int64             `json:"v"`           // unix ns; deliverable when <= now
	Count     int               `json:"n"`           // deliveries so far
	Gen       uint64            `json:"gen"`         // lease generation; a receipt is ID.Gen
	Leased    bool              `json:"l,omitempty"` // invisible because of a lease (else: a delay)
}

type deadRecord struct {
	Rec    record `json:"r"`
	Body   []byte `json:"b"`
	Reason string `json:"why"`
	At     int64  `json:"at"`
}

type dedupEntry struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

// Local is the embedded queue driver. Open it with Open("local:///dir") or
// OpenLocal. It keeps its dead letters in its own file (DeadLetterStore).
type Local struct {
	dir, dbPath, lockPath string
	maxReceive            int
	poll                  time.Duration
	wake                  *notifier
	done                  chan struct{}
	closeOnce             sync.Once
}

var (
	_ Queue           = (*Local)(nil)
	_ DeadLetterStore = (*Local)(nil)
)

// notifier wakes the long polls of every Local on one directory in this
// process; other processes are noticed by polling.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

var notifiers sync.Map // abs dir → *notifier

// OpenLocal opens (creating if needed) the local queue in dir.
func OpenLocal(dir string, o Options) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: local: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("queue: local: %w", err)
	}
	q := &Local{
		dir:        abs,
		dbPath:     filepath.Join(abs, "queue.db"),
		lockPath:   filepath.Join(abs, "queue.lock"),
		maxReceive: o.MaxReceive,
		poll:       o.PollInterval,
		done:       make(chan struct{}),
	}
	if q.maxReceive == 0 {
		q.maxReceive = DefaultMaxReceive
	}
	if q.poll <= 0 {
		q.poll = 50 * time.Millisecond
	}
	n, _ := notifiers.LoadOrStore(abs, &notifier{ch: make(chan struct{})})
	q.wake = n.(*notifier)
	_, statErr := os.Stat(q.dbPath)
	err = q.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMsgs, bBodies, bIDs, bDedup, bDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if os.IsNotExist(statErr) {
		// Make the new file's directory entry durable too.
		if d, err := os.Open(abs); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return q, nil
}

// Dir is the queue's directory.
func (q *Local) Dir() string { return q.dir }

// MaxReceive implements ReceiveLimited: Options.MaxReceive (its default
// when 0; 0 when it is negative, which means no limit).
func (q *Local) MaxReceive(context.Context) (int, error) { return max(q.maxReceive, 0), nil }

func (q *Local) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// update runs fn in a write transaction under the exclusive lock.
func (q *Local) update(fn func(tx *bolt.Tx) error) error {
	return q.withDB(false, func(db *bolt.DB) error { return db.Update(fn) })
}

// view runs fn in a read transaction under the shared lock.
func (q *Local) view(fn func(tx *bolt.Tx) error) error {
	return q.withDB(true, func(db *bolt.DB) error { return db.View(fn) })
}

func (q *Local) withDB(readOnly bool, fn func(db *bolt.DB) error) (err error) {
	if q.closed() {
		return ErrClosed
	}
	unlock, err := lockFile(q.lockPath, !readOnly)
	if err != nil {
		return err
	}
	defer unlock()
	// Our lock already excludes other writers, so bbolt's own flock on the
	// file is free; the timeout only guards against foreign tools.
	db, err := bolt.Open(q.dbPath, 0o600, &bolt.Options{Timeout: 10 * time.Second, ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("queue: local: open %s: %w", q.dbPath, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("queue: local: close: %w", cerr)
		}
	}()
	return fn(db)
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func receiptOf(r record) string { return r.ID + "." + strconv.FormatUint(r.Gen, 10) }

func parseReceipt(s string) (id string, gen uint64, err error) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 {
		return "", 0, fmt.Errorf("%w: malformed receipt %q", ErrInvalid, s)
	}
	gen, err = strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: malformed receipt %q", ErrInvalid, s)
	}
	return s[:i], gen, nil
}

func getRecord(b *bolt.Bucket, key []byte) (record, error) {
	var r record
	v := b.Get(key)
	if v == nil {
		return r, ErrNotFound
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("queue: local: corrupt record: %w", err)
	}
	return r, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func (r record) message(body []byte) Message {
	m := Message{
		ID:           r.ID,
		Body:         append([]byte(nil), body...),
		ReceiveCount: r.Count,
		GroupID:      r.Group,
		SentAt:       time.Unix(0, r.SentAt),
	}
	if len(r.Attrs) > 0 {
		m.Attributes = make(map[string]string, len(r.Attrs))
		for k, v := range r.Attrs {
			m.Attributes[k] = v
		}
	}
	return m
}

type keyed struct {
	key []byte
	rec record
}

// pick chooses, in send order, up to max deliverable messages and the
// messages to dead-letter for too many receives. Only the oldest message of
// a group is ever considered, so a group with a message in flight or delayed
// delivers nothing, and one Receive takes at most one message per group.
// next is how long until the earliest invisible candidate becomes visible
// (0 when none).
func (q *Local) pick(tx *bolt.Tx, now int64, max int) (deliver, dead []keyed, next time.Duration, err error) {
	heads := map[string]bool{}
	c := tx.Bucket(bMsgs).Cursor()
	for k, v := c.First(); k != nil && len(deliver) < max; k, v = c.Next() {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, nil, 0, fmt.Errorf("queue: local: corrupt record: %w", err)
		}
		if r.Group != "" {
			if heads[r.Group] {
				continue
			}
			heads[r.Group] = true
		}
		if r.VisibleAt > now {
			if d := time.Duration(r.VisibleAt - now); next == 0 || d < next {
				next = d
			}
			continue
		}
		kr := keyed{append([]byte(nil), k...), r}
		if q.maxReceive > 0 && r.Count >= q.maxReceive {
			dead = append(dead, kr)
			delete(heads, r.Group) // the group's next message is its head now
			continue
		}
		deliver = append(deliver, kr)
	}
	return deliver, dead, next, nil
}

// Receive implements Queue. A long poll wakes at once on a Send, Release,
// Ack or Redrive through any Local on the same directory in this process,
// and re-reads the file every PollInterval for other processes' changes.
func (q *Local) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error) {
	if err := checkMax(max); err != nil {
		return nil, err
	}
	if visibility <= 0 {
		visibility = DefaultVisibility
	}
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		woken := q.wake.wait() // before looking, so no wake-up is missed
		msgs, next, err := q.tryReceive(max, visibility)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		sleep := min(q.poll, left)
		if next > 0 && next < sleep {
			sleep = next
		}
		t := time.NewTimer(sleep)
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
		case <-q.done:
		}
		t.Stop()
	}
}

func (q *Local) tryReceive(max int, visibility time.Duration) ([]Message, time.Duration, error) {
	// Look under the shared lock first: an idle poll never writes.
	var next time.Duration
	found := false
	err := q.view(func(tx *bolt.Tx) error {
		deliver, dead, n, err := q.pick(tx, time.Now().UnixNano(), max)
		next, found = n, len(deliver)+len(dead) > 0
		return err
	})
	if err != nil || !found {
		return nil, next, err
	}
	var out []Message
	err = q.update(func(tx *bolt.Tx) error {
		out = nil
		now := time.Now().UnixNano()
		deliver, dead, _, err := q.pick(tx, now, max)
		if err != nil {
			return err
		}
		for _, d := range dead {
			if err := moveToDead(tx, d, ReasonMaxReceives, now); err != nil {
				return err
			}
		}
		msgs, bodies := tx.Bucket(bMsgs), tx.Bucket(bBodies)
		for _, d := range deliver {
			r := d.rec
			r.Count++
			r.Gen++
			r.VisibleAt = now + int64(visibility)
			r.Leased = true
			if err := putJSON(msgs, d.key, r); err != nil {
				return err
			}
			m := r.message(bodies.Get(d.key))
			m.Receipt = receiptOf(r)
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

func moveToDead(tx *bolt.Tx, d keyed, reason string, now int64) error {
	dead := tx.Bucket(bDead)
	seq, err := dead.NextSequence()
	if err != nil {
		return err
	}
	d.rec.Leased = false
	dr := deadRecord{Rec: d.rec, Body: tx.Bucket(bBodies).Get(d.key), Reason: reason, At: now}
	if err := putJSON(dead, seqKey(seq), dr); err != nil {
		return err
	}
	return deleteMsg(tx, d)
}

func deleteMsg(tx *bolt.Tx, d keyed) error {
	if err := tx.Bucket(bMsgs).Delete(d.key); err != nil {
		return err
	}
	if err := tx.Bucket(bBodies).Delete(d.key); err != nil {
		return err
	}
	return tx.Bucket(bIDs).Delete([]byte(d.rec.ID))
}

// leased runs fn on the message that receipt still holds, in a write
// transaction; ErrLeaseLost when it holds nothing any more.
func (q *Local) leased(ctx context.Context, receipt string, fn func(tx *bolt.Tx, d keyed, now int64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, gen, err := parseReceipt(receipt)
	if err != nil {
		return err
	}
	err = q.update(func(tx *bolt.Tx) error {
		key := tx.Bucket(bIDs).Get([]byte(id))
		if key == nil {
			return ErrLeaseLost
		}
		key = append([]byte(nil), key...)
		r, err := getRecord(tx.Bucket(bMsgs), key)
		if errors.Is(err, ErrNotFound) || (err == nil && (r.Gen != gen || !r.Leased)) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		return fn(tx, keyed{key, r}, time.Now().UnixNano())
	})
	if err == nil {
		q.wake.broadcast()
	}
	return err
}

// Extend implements Queue.
func (q *Local) Extend(ctx context.Context, m Message, visibility time.Duration) error {
	if visibility <= 0 {
		return fmt.Errorf("%w: extend by %v", ErrInvalid, visibility)
	}
	return q.leased(ctx, m.Receipt, func(tx *bolt.Tx, d keyed, now int64) error {
		d.rec.VisibleAt = now + int64(visibility)
		return putJSON(tx.Bucket(bMsgs), d.key, d.rec)
	})
}

// Ack implements Queue.
func (q *Local) Ack(ctx context.Context, m Message) error {
	return q.leased(ctx, m.Receipt, func(tx *bolt.Tx, d keyed, now int64) error {
		return deleteMsg(tx, d)
	})
}

// Release implements Queue.
func (q *Local) Release(ctx context.Context, m Message, delay time.Duration) error {
	delay = max(delay, 0)
	return q.leased(ctx, m.Receipt, func(tx *bolt.Tx, d keyed, now int64) error {
		d.rec.Gen++ // spends the receipt
		d.rec.Leased = false
		d.rec.VisibleAt = now + int64(delay)
		return putJSON(tx.Bucket(bMsgs), d.key, d.rec)
	})
}

// DeadLetter implements Queue: the message moves to this file's dead letters.
func (q *Local) DeadLetter(ctx context.Context, m Message, reason string) error {
	return q.leased(ctx, m.Receipt, func(tx *bolt.Tx, d keyed, now int64) error {
		return moveToDead(tx, d, reason, now)
	})
}

// Send implements Queue.
func (q *Local) Send(ctx context.Context, body []byte, o SendOptions) (string, error) {
	if err := checkBody(body); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := newID()
	err := q.update(func(tx *bolt.Tx) error {
		now := time.Now().UnixNano()
		if o.DedupID != "" {
			dd := tx.Bucket(bDedup)
			var stale [][]byte
			var prev *dedupEntry
			err := dd.ForEach(func(k, v []byte) error {
				var e dedupEntry
				if json.Unmarshal(v, &e) != nil || now-e.At >= int64(dedupWindow) {
					stale = append(stale, append([]byte(nil), k...))
				} else if bytes.Equal(k, []byte(o.DedupID)) {
					prev = &e
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range stale {
				if err := dd.Delete(k); err != nil {
					return err
				}
			}
			if prev != nil {
				id = prev.ID
				return nil
			}
			if err := putJSON(dd, []byte(o.DedupID), dedupEntry{ID: id, At: now}); err != nil {
				return err
			}
		}
		msgs := tx.Bucket(bMsgs)
		seq, err := msgs.NextSequence()
		if err != nil {
			return err
		}
		r := record{ID: id, Group: o.GroupID, Attrs: o.Attributes, SentAt: now, VisibleAt: now + int64(max(o.Delay, 0))}
		return insert(tx, seqKey(seq), r, body)
	})
	if err != nil {
		return "", err
	}
	q.wake.broadcast()
	return id, nil
}

func insert(tx *bolt.Tx, key []byte, r record, body []byte) error {
	if err := putJSON(tx.Bucket(bMsgs), key, r); err != nil {
		return err
	}
	if err := tx.Bucket(bBodies).Put(key, body); err != nil {
		return err
	}
	return tx.Bucket(bIDs).Put([]byte(r.ID), key)
}

// Stats implements Queue. Visible counts every message visible now, FIFO
// messages waiting behind their group included; OldestAge is the age of the
// oldest message in the queue, in flight or not.
func (q *Local) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	if err := ctx.Err(); err != nil {
		return s, err
	}
	err := q.view(func(tx *bolt.Tx) error {
		now := time.Now().UnixNano()
		oldest := now
		return tx.Bucket(bMsgs).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("queue: local: corrupt record: %w", err)
			}
			switch {
			case r.VisibleAt <= now:
				s.Visible++
			case r.Leased:
				s.InFlight++
			default:
				s.Delayed++
			}
			if r.SentAt < oldest {
				oldest = r.SentAt
				s.OldestAge = time.Duration(now - oldest)
			}
			return nil
		})
	})
	return s, err
}

// ListDeadLetters implements DeadLetterStore: the dead letters in this
// file, in the order they were moved.
func (q *Local) ListDeadLetters(ctx context.Context, max int) ([]DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []DeadLetter{}
	err := q.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bDead).Cursor()
		for k, v := c.First(); k != nil && (max <= 0 || len(out) < max); k, v = c.Next() {
			var d deadRecord
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("queue: local: corrupt dead letter: %w", err)
			}
			out = append(out, DeadLetter{Message: d.Rec.message(d.Body), Reason: d.Reason, At: time.Unix(0, d.At)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeadLetters lists all the dead letters, oldest first (ListDeadLetters
// with no limit).
func (q *Local) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	return q.ListDeadLetters(ctx, 0)
}

// Redrive implements DeadLetterStore: the dead letters with the given
// message ids go back to the end of the queue in one transaction, visible
// at once, with their receive count reset to 0 and their ids kept.
func (q *Local) Redrive(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, ctx.Err()
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]bool{}
	n, err := q.redrive(ctx, func(r record) bool {
		if want[r.ID] {
			found[r.ID] = true
			return true
		}
		return false
	})
	if err != nil {
		return n, err
	}
	var missing []string
	for _, id := range ids {
		if !found[id] && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return n, notFound(missing)
	}
	return n, nil
}

// RedriveAll implements DeadLetterStore.
func (q *Local) RedriveAll(ctx context.Context) (int, error) {
	return q.redrive(ctx, func(record) bool { return true })
}

// redrive moves the dead letters match chooses back to the queue.
func (q *Local) redrive(ctx context.Context, match func(record) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := q.update(func(tx *bolt.Tx) error {
		n = 0
		dead := tx.Bucket(bDead)
		var keys [][]byte
		var recs []deadRecord
		err := dead.ForEach(func(k, v []byte) error {
			var d deadRecord
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("queue: local: corrupt dead letter: %w", err)
			}
			if match(d.Rec) {
				keys = append(keys, append([]byte(nil), k...))
				recs = append(recs, d)
			}
			return nil
		})
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for i, d := range recs {
			if err := dead.Delete(keys[i]); err != nil {
				return err
			}
			if tx.Bucket(bIDs).Get([]byte(d.Rec.ID)) != nil {
				continue // already back (a redrive raced with a send of the same id)
			}
			seq, err := tx.Bucket(bMsgs).NextSequence()
			if err != nil {
				return err
			}
			r := d.Rec
			r.Count, r.VisibleAt, r.Leased = 0, now, false
			if err := insert(tx, seqKey(seq), r, d.Body); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		q.wake.broadcast()
	}
	return n, nil
}

// Close implements Queue.
func (q *Local) Close() error {
	q.closeOnce.Do(func() { close(q.done) })
	return nil
}
