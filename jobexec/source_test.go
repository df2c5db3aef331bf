package jobexec

import (
	"context"
	"errors"
	"testing"

	"github.com/hlsfleet/hlsfleet/fault"
	"github.com/hlsfleet/hlsfleet/job"
)

// One opener for every job kind and the transcode command: local paths and
// file:// URLs are read by path, a malformed URL is the request's fault.
func TestOpenSourceLocal(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ in, path string }{
		{"/data/in.mp4", "/data/in.mp4"},
		{"rel/in.mp4", "rel/in.mp4"},
		{"file:///data/in.mp4", "/data/in.mp4"},
	} {
		src, err := OpenSource(ctx, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if src.Path != tc.path || src.Reader != nil {
			t.Errorf("%s: path %q reader %v, want %q", tc.in, src.Path, src.Reader, tc.path)
		}
		src.Close()
	}
	_, err := OpenSource(ctx, "ftp://host/x.mp4")
	if !errors.Is(err, job.ErrInvalid) || fault.Of(err) != fault.Input {
		t.Errorf("ftp URL: %v (class %v), want job.ErrInvalid of class input", err, fault.Of(err))
	}
}
