package faultproxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers each line with the same line, until the client closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one line on c and reads the echo.
func roundTrip(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func dialEcho(t *testing.T, p *Proxy, msg string) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return nil, err
	}
	got, err := roundTrip(c, msg)
	if err != nil {
		c.Close()
		return nil, err
	}
	if got != msg {
		c.Close()
		t.Fatalf("echo of %q through the proxy: %q", msg, got)
	}
	return c, nil
}

func TestForwardCutRestore(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", p.URL())
	}

	held, err := dialEcho(t, p, "before")
	if err != nil {
		t.Fatalf("through the proxy while up: %v", err)
	}
	defer held.Close()

	p.SetDown(true)
	if !p.Down() {
		t.Fatal("Down() = false after SetDown(true)")
	}
	if _, err := roundTrip(held, "during"); err == nil {
		t.Error("a connection held across the outage still works; want it cut")
	}
	if c, err := dialEcho(t, p, "new during"); err == nil {
		c.Close()
		t.Error("a new connection during the outage works; want it refused")
	}

	p.SetDown(false)
	c, err := dialEcho(t, p, "after")
	if err != nil {
		t.Fatalf("a new connection after the outage: %v", err)
	}
	c.Close()

	st := p.Stats()
	if st.Accepted != 2 || st.Refused < 1 || st.Cut != 1 || st.Outages != 1 || st.Failed != 0 {
		t.Errorf("stats %+v: want 2 accepted, >= 1 refused, 1 cut, 1 outage", st)
	}
}

func TestCutEndsByItself(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Cut(200 * time.Millisecond)
	if c, err := dialEcho(t, p, "x"); err == nil {
		c.Close()
		t.Error("connection during Cut works")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Down() {
		if time.Now().After(deadline) {
			t.Fatal("still down 5 s after a 200 ms Cut")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := dialEcho(t, p, "y")
	if err != nil {
		t.Fatalf("after the Cut: %v", err)
	}
	c.Close()

	// SetDown(false) ends a Cut early; a later timer must not flip it back.
	p.Cut(time.Hour)
	p.SetDown(false)
	if p.Down() {
		t.Error("SetDown(false) did not end the Cut")
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := New("127.0.0.1:0", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if c, err := dialEcho(t, p, "x"); err == nil {
		c.Close()
		t.Error("echo through a proxy to nothing works")
	}
	if st := p.Stats(); st.Failed != 1 {
		t.Errorf("stats %+v: want 1 failed dial", st)
	}
}

func TestCloseResetsHeld(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialEcho(t, p, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := roundTrip(c, "y"); err == nil {
		t.Error("a held connection works after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
