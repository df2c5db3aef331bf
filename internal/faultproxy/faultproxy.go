// Package faultproxy is a TCP proxy that can be cut: put it between a client
// and a service (the workers and the S3 peer in bench/soak) and take the
// service away for a while, as when storage becomes unreachable.
//
// While the proxy is down it resets every connection it holds and answers
// each new one with a reset (it accepts and closes with SO_LINGER 0, so the
// client sees ECONNRESET at once rather than waiting for a timeout). Once it
// is up again new connections are forwarded as before; connections cut
// during the outage stay cut.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a proxy's counters since New.
type Stats struct {
	Accepted int64 // connections forwarded to the upstream
	Refused  int64 // connections reset on arrival because the proxy was down
	Cut      int64 // forwarded connections reset by an outage
	Failed   int64 // connections whose upstream could not be dialled
	Outages  int64 // times the proxy went down
}

// Proxy forwards TCP connections from its listener to one upstream address.
// Its methods are safe for concurrent use.
type Proxy struct {
	ln       net.Listener
	upstream string
	dial     func(network, addr string) (net.Conn, error)

	mu    sync.Mutex
	down  bool
	conns map[*pair]struct{}
	timer *time.Timer // ends the outage Cut started

	accepted, refused, cut, failed, outages atomic.Int64
	done                                    chan struct{}
	wg                                      sync.WaitGroup
}

// pair is one forwarded connection: the client's side and the upstream's.
type pair struct{ client, upstream net.Conn }

// reset closes c with SO_LINGER 0 where it is TCP, so the peer sees a reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *pair) reset() {
	reset(p.client)
	reset(p.upstream)
}

// New listens on listen ("127.0.0.1:0" for a free port) and forwards every
// connection to upstream. The proxy starts up; Close stops it.
func New(listen, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	p := &Proxy{ln: ln, upstream: upstream, dial: d.Dial, conns: map[*pair]struct{}{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the address clients connect to, e.g. "127.0.0.1:41233".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr(): what an endpoint variable takes.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetDown takes the upstream away (true: every held connection is reset and
// new ones are refused) or gives it back (false). It also ends an outage
// that Cut started.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.setDownLocked(down)
}

func (p *Proxy) setDownLocked(down bool) {
	if down && !p.down {
		p.outages.Add(1)
		for c := range p.conns {
			c.reset()
			p.cut.Add(1)
		}
		clear(p.conns)
	}
	p.down = down
}

// Cut takes the upstream away for d, then gives it back. A Cut during an
// outage extends it to d from now.
func (p *Proxy) Cut(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
	p.setDownLocked(true)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.timer == t {
			p.timer = nil
			p.down = false
		}
	})
	p.timer = t
}

// Down reports whether the proxy is down now.
func (p *Proxy) Down() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Cut: p.cut.Load(),
		Failed: p.failed.Load(), Outages: p.outages.Load()}
}

// Close stops listening, resets every held connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	close(p.done)
	err := p.ln.Close()
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	for c := range p.conns {
		c.reset()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		if p.Down() {
			p.refused.Add(1)
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward dials the upstream for client c and copies both ways until either
// side ends or an outage cuts the pair.
func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := p.dial("tcp", p.upstream)
	if err != nil {
		p.failed.Add(1)
		reset(c)
		return
	}
	pr := &pair{client: c, upstream: up}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		p.refused.Add(1)
		pr.reset()
		return
	}
	select {
	case <-p.done:
		p.mu.Unlock()
		pr.reset()
		return
	default:
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)

	var once sync.Once
	finish := func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.conns, pr)
			p.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
		})
	}
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// One side finished: let the other side finish sending, then close.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			finish()
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyHalf(up, c) }()
	go func() { defer wg.Done(); copyHalf(c, up) }()
	wg.Wait()
	finish()
}
