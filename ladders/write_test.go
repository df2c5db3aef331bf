package ladders

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Every preset gets one line: name, renditions, codec, segment seconds.
func TestWritePresets(t *testing.T) {
	var b bytes.Buffer
	if err := WritePresets(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(Names()) {
		t.Fatalf("%d lines for %d presets:\n%s", len(lines), len(Names()), b.String())
	}
	for i, n := range Names() {
		l, err := Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%-10s %d renditions, %s, %g s segments", n, len(l.Renditions), l.Video.Codec, l.SegmentSeconds)
		if lines[i] != want {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
}

// The table has a header and one row per output, in order.
func TestWriteOutputs(t *testing.T) {
	l, err := Lookup("default")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := l.Select(Source{Width: 640, Height: 360, FPS: Rational{30, 1}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteOutputs(&b, outs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(outs)+1 {
		t.Fatalf("want a header and %d rows:\n%s", len(outs), b.String())
	}
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME SIZE FPS CODEC PROFILE BITRATE MAXRATE BUFSIZE" {
		t.Errorf("header %q", lines[0])
	}
	for i, o := range outs {
		want := fmt.Sprintf("%s %dx%d %s %s %s %d %d %d", o.Name, o.Width, o.Height, o.FPS, o.Codec, o.Profile, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits)
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	if !strings.HasPrefix(lines[1], "360p ") || !strings.Contains(lines[1], "640x360") {
		t.Errorf("first row %q: want 360p at 640x360", lines[1])
	}
}
