package pipeline

import (
	"context"
	"errors"
)

// FinishChunks publishes a chunked presentation once every chunk is
// written: media playlists over the chunks' segments, bandwidths from all
// of them, the extras, the poster, and master.m3u8 last, as Transcode's
// publish does.
func FinishChunks(ctx context.Context, opt FinishOptions, sink Sink) (*Result, error) {
	return nil, errors.New("finishing a chunked presentation is not implemented yet")
}
