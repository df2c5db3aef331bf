package pipeline_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// failingReader serves the first n bytes of r, then fails like a broken
// network read would.
type failingReader struct {
	r   io.ReadSeeker
	n   int64
	pos int64
}

var errNetwork = errors.New("connection reset by peer")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.pos >= f.n {
		return 0, errNetwork
	}
	if int64(len(p)) > f.n-f.pos {
		p = p[:f.n-f.pos]
	}
	n, err := f.r.Read(p)
	f.pos += int64(n)
	return n, err
}

func (f *failingReader) Seek(off int64, whence int) (int64, error) {
	n, err := f.r.Seek(off, whence)
	f.pos = n
	return n, err
}

func TestTranscodeFromReader(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 3, Container: "mp4"})
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()

	t.Run("whole", func(t *testing.T) {
		dir, _, err := runTranscode(t, context.Background(), pipeline.Options{
			Input: "s3://bucket/clip.mp4", Reader: f, InputSize: st.Size(), Ladder: loadSmallLadder(t),
		})
		if err != nil {
			t.Fatalf("Transcode from a reader: %v", err)
		}
		if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 3, ExpectAudio: true, ExpectVideo: true}); err != nil {
			t.Fatalf("output from a reader is not correct HLS: %v", err)
		}
	})

	t.Run("read error is not the input's fault", func(t *testing.T) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		r := &failingReader{r: f, n: st.Size() / 2}
		_, _, err := runTranscode(t, context.Background(), pipeline.Options{
			Input: "s3://bucket/clip.mp4", Reader: r, InputSize: st.Size(), Ladder: loadSmallLadder(t),
		})
		if err == nil {
			t.Fatal("a reader failing half-way gave no error")
		}
		if errors.Is(err, pipeline.ErrInput) {
			t.Fatalf("a storage read failure was classed as an input fault (would be dead-lettered, not retried): %v", err)
		}
		if !errors.Is(err, errNetwork) {
			t.Fatalf("error does not carry the read failure: %v", err)
		}
	})
}
