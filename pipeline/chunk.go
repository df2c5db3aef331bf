package pipeline

import (
	"context"
	"errors"
)

// TranscodeChunk transcodes chunk opt.Span of a long VOD input: the
// segments of every rendition whose start falls in the span, with the
// global segment numbers, timestamps and frame grid a single pass
// (Transcode) gives them. Errors wrapping ErrInput are the input's fault.
func TranscodeChunk(ctx context.Context, opt ChunkOptions, sink Sink) (*ChunkResult, error) {
	return nil, errors.New("chunked transcoding is not implemented yet")
}
